"""A CPU STAND-IN for an inference engine (vLLM), for the node tests only: the node has no GPU, so
this replaces the engine and nothing else. It is not vLLM and says so on every endpoint.

What it keeps of the engine it stands in for:
- the command line: `vllm serve MODEL [--flag value ...]`; any flag the pinned engine's own parser
  does not define (flags.json, read from the pinned wheel by engine_flags.py) is refused with the
  engine's argparse error and exit status 2;
- the weights: every *.safetensors shard of MODEL (a directory) is loaded with the safetensors
  library, every tensor checked against its file's header (dtype, shape, byte range), and the shards'
  digests against the mirror's manifest.sha256 when the directory has one; any mismatch exits 1;
- the port opens only once the weights are loaded (as vLLM's does), then: GET /health, GET
  /v1/models (with `root`, the model argument, as vLLM reports it), POST /v1/completions and /v1/chat/completions (tokens computed from the loaded
  embedding matrix), GET /metrics with the vllm:* metric names the program's PodMonitor and KEDA
  rules read; the API key (VLLM_API_KEY or --api-key) guards /v1/* with 401, /health and /metrics stay open.

Usage (as the image's `vllm` launcher runs it): engine_standin.py vllm serve MODEL [flags...]
"""

import hashlib
import http.server
import json
import os
import pathlib
import signal
import struct
import sys
import threading
import time

STANDIN = "llm-serving CPU stand-in for vLLM (not vLLM)"
FLAGS_FILE = pathlib.Path(os.environ.get("STANDIN_FLAGS", pathlib.Path(__file__).with_name("flags.json")))
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


class Refused(Exception):
    """A command line the pinned engine's parser would reject (argparse exits 2)."""


def parse_command_line(argv, accepted):
    """(model, {flag: value}) of `serve MODEL --flag value ...`; flags are normalised as vLLM's
    FlexibleArgumentParser does (underscores to dashes, `--flag=value`)."""
    if not argv or argv[0] != "serve":
        raise Refused(f"invalid choice: {argv[0] if argv else ''!r} (this stand-in serves only `vllm serve`)")
    model, options, unknown = None, {}, []
    rest = list(argv[1:])
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            if model is not None:
                unknown.append(token)
            model = token
            continue
        name, has_value, value = token.partition("=")
        if name.startswith("--"):
            name = "--" + name[2:].replace("_", "-")
        if name not in accepted:
            unknown.append(token)
            continue
        if not has_value:
            value = rest.pop(0) if rest and not rest[0].startswith("--") else True
        options[name] = value
    if unknown:
        raise Refused(f"unrecognized arguments: {' '.join(unknown)}")
    if model is None:
        raise Refused("the following arguments are required: model_tag")
    return model, options


def read_header(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return 8 + length, header


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_weights(model_dir):
    """{tensor name: numpy array} of every shard, each checked against its file; raises on a mismatch."""
    from safetensors.numpy import load_file

    model_dir = pathlib.Path(model_dir)
    shards = sorted(model_dir.glob("*.safetensors"))
    if not shards:
        raise ValueError(f"{model_dir}: no *.safetensors files")
    manifest = {}
    if (model_dir / "manifest.sha256").exists():
        for line in (model_dir / "manifest.sha256").read_text().splitlines():
            digest, _, name = line.partition("  ")
            manifest[name] = digest
    tensors = {}
    for shard in shards:
        name = shard.relative_to(model_dir).as_posix()
        if name in manifest and file_digest(shard) != manifest[name]:
            raise ValueError(f"{shard}: sha256 differs from manifest.sha256")
        offset, header = read_header(shard)
        loaded = load_file(shard)
        size = shard.stat().st_size
        for tensor, meta in header.items():
            if tensor == "__metadata__":
                continue
            start, end = meta["data_offsets"]
            array = loaded.get(tensor)
            if array is None or list(array.shape) != meta["shape"] or offset + end > size:
                raise ValueError(f"{shard}: tensor {tensor} does not match its header")
            if array.nbytes != end - start or array.nbytes != DTYPE_BYTES.get(meta["dtype"], array.itemsize) * array.size:
                raise ValueError(f"{shard}: tensor {tensor} has {array.nbytes} bytes, its header says {end - start}")
            tensors[tensor] = array
    return tensors


class Model:
    def __init__(self, tensors):
        import numpy

        self.numpy = numpy
        embeddings = [t for n, t in sorted(tensors.items()) if n.endswith(("embed_tokens.weight", "wte.weight"))]
        self.embedding = (embeddings[0] if embeddings else max(tensors.values(), key=lambda t: t.size)).astype("float32")
        if self.embedding.ndim != 2:
            self.embedding = self.embedding.reshape(self.embedding.shape[0], -1)

    def complete(self, prompt, max_tokens):
        """Greedy tokens from the embedding matrix: each next id is the row most similar to the last."""
        vocab = self.embedding.shape[0]
        token = sum(prompt.encode()) % vocab
        out = []
        for _ in range(max(1, int(max_tokens))):
            scores = self.embedding @ self.embedding[token]
            scores[token] = -self.numpy.inf
            token = int(scores.argmax())
            out.append(token)
        return out


class Metrics:
    def __init__(self):
        self.lock = threading.Lock()
        self.running = 0
        self.generated = 0
        self.prompts = 0
        self.first_token = []

    def text(self, name):
        with self.lock:
            total = sum(self.first_token)
            buckets = "".join(
                f'vllm:time_to_first_token_seconds_bucket{{model_name="{name}",le="{le}"}} {sum(1 for t in self.first_token if t <= le)}\n'
                for le in (0.01, 0.1, 1.0, 10.0)
            )
            return (
                f"# {STANDIN}\n"
                f'vllm:num_requests_running{{model_name="{name}"}} {self.running}\n'
                f'vllm:num_requests_waiting{{model_name="{name}"}} 0\n'
                f'vllm:kv_cache_usage_perc{{model_name="{name}"}} 0.0\n'
                f'vllm:generation_tokens_total{{model_name="{name}"}} {self.generated}\n'
                f'vllm:prompt_tokens_total{{model_name="{name}"}} {self.prompts}\n'
                f"{buckets}"
                f'vllm:time_to_first_token_seconds_bucket{{model_name="{name}",le="+Inf"}} {len(self.first_token)}\n'
                f'vllm:time_to_first_token_seconds_sum{{model_name="{name}"}} {total}\n'
                f'vllm:time_to_first_token_seconds_count{{model_name="{name}"}} {len(self.first_token)}\n'
            )


def serve(model, model_path, served_name, host, port, api_key):
    metrics = Metrics()
    created = int(time.time())

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "llm-serving-standin"

        def log_message(self, fmt, *args):
            print(f"{self.address_string()} {fmt % args}", flush=True)

        def reply(self, status, body, content_type="application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Stand-In", STANDIN)
            self.end_headers()
            self.wfile.write(data)

        def authorized(self):
            if not api_key or not self.path.startswith("/v1"):
                return True
            if self.headers.get("Authorization") == f"Bearer {api_key}":
                return True
            self.reply(401, {"error": "Unauthorized"})
            return False

        def do_GET(self):
            if self.path == "/health":
                return self.reply(200, "", "text/plain")
            if self.path == "/metrics":
                return self.reply(200, metrics.text(served_name), "text/plain; version=0.0.4")
            if not self.authorized():
                return None
            if self.path == "/v1/models":
                return self.reply(
                    200,
                    {"object": "list", "data": [{"id": served_name, "object": "model", "created": created, "owned_by": STANDIN, "root": model_path}]},
                )
            return self.reply(404, {"error": f"{self.path} not found"})

        def do_POST(self):
            if not self.authorized():
                return None
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                return self.reply(404, {"error": f"{self.path} not found"})
            started = time.monotonic()
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            except json.JSONDecodeError as error:
                return self.reply(400, {"error": f"invalid JSON: {error}"})
            if request.get("model") != served_name:
                return self.reply(404, {"error": f"The model `{request.get('model')}` does not exist."})
            chat = self.path.endswith("chat/completions")
            prompt = json.dumps(request.get("messages")) if chat else str(request.get("prompt", ""))
            with metrics.lock:
                metrics.running += 1
            try:
                tokens = model.complete(prompt, request.get("max_tokens") or 16)
            finally:
                with metrics.lock:
                    metrics.running -= 1
                    metrics.generated += len(tokens)
                    metrics.prompts += len(prompt.encode())
                    metrics.first_token.append(time.monotonic() - started)
            text = "".join(f" t{t}" for t in tokens)
            choice = {"index": 0, "finish_reason": "length"}
            choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            usage = {"prompt_tokens": len(prompt.encode()), "completion_tokens": len(tokens), "total_tokens": len(prompt.encode()) + len(tokens)}
            kind = "chat.completion" if chat else "text_completion"
            return self.reply(
                200,
                {
                    "id": f"standin-{created}",
                    "object": kind,
                    "model": served_name,
                    "choices": [choice],
                    "usage": usage,
                    "system_fingerprint": STANDIN,
                },
            )

    # As PID 1 nothing stops on SIGTERM by default: stop as vLLM does, without the kubelet's grace period.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = http.server.ThreadingHTTPServer((host, port), Handler)
    print(f"{STANDIN}: serving {served_name} on {host}:{port}", flush=True)
    server.serve_forever()


def main(argv):
    if not argv or argv[0] != "vllm":
        sys.exit("usage: engine_standin.py vllm serve MODEL [flags...]")
    accepted = set(json.loads(FLAGS_FILE.read_text())["flags"])
    try:
        model_path, options = parse_command_line(argv[1:], accepted)
    except Refused as refused:
        print(f"usage: vllm serve [model_tag] [options]\nvllm serve: error: {refused}", file=sys.stderr)
        return 2
    print(f"{STANDIN}: flags accepted by the pinned parser: {sorted(options)}", flush=True)
    started = time.monotonic()
    try:
        tensors = load_weights(model_path)
    except (OSError, ValueError) as error:
        print(f"{STANDIN}: failed to load the weights: {error}", file=sys.stderr)
        return 1
    print(
        f"{STANDIN}: loaded {len(tensors)} tensors ({sum(t.nbytes for t in tensors.values())} bytes) in {time.monotonic() - started:.2f} s",
        flush=True,
    )
    host = options.get("--host") or "0.0.0.0"
    serve(
        Model(tensors),
        model_path,
        options.get("--served-model-name") or model_path,
        host,
        int(options.get("--port", 8000)),
        os.environ.get("VLLM_API_KEY") or options.get("--api-key"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
