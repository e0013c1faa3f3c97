"""A CPU STAND-IN for an inference engine (vLLM or SGLang), for the node tests only: the node has no
GPU, so this replaces the engine and nothing else. It is neither vLLM nor SGLang and says so on
every endpoint.

What it keeps of the engine it stands in for:
- the command line: `vllm serve MODEL [--flag value ...]`, or SGLang's `--model-path MODEL [...]`
  with `--config FILE` (a YAML of further flags, under the command line's, as SGLang's
  ConfigArgumentMerger merges them); any flag the pinned engine's own parser does not define
  (flags-<engine>.json, read from the pinned wheel by engine_flags.py) is refused with the engine's
  argparse error and exit status 2;
- the weights: every *.safetensors shard of MODEL (a directory) is loaded with the safetensors
  library; a MODEL that is no directory is a Hub repo, downloaded first with huggingface_hub (as the
  engines do for `mirror: false`, HF_ENDPOINT and HF_TOKEN honoured); an s3:// MODEL with `--load-format runai_streamer` is streamed from the bucket by the Run:ai
  streamer's C++ core and S3 backend (the pinned wheels; the pod's RUNAI_STREAMER_*/AWS_* environment,
  --model-loader-extra-config applied as the engines apply it); every tensor is checked against its
  shard's header (dtype, shape, byte range), and the shards' digests against the mirror's
  manifest.sha256 when there is one; any mismatch or read error exits 1;
- a compile artifact in TORCHINDUCTOR_CACHE_DIR, reused when a restart finds it (as torch.compile's
  are; the program's compileCache keeps that directory on the node), written otherwise;
- the port opens only once the weights are loaded (as the engines' do), then: GET /health, GET
  /v1/models (vLLM: `root` is the model argument; SGLang: the served name, and /model_info has the
  model_path), POST /v1/completions and /v1/chat/completions (tokens computed from the loaded
  embedding matrix), GET /metrics with the metric names the program's PodMonitor and KEDA rules read;
  the API key (vLLM: VLLM_API_KEY or --api-key, guarding /v1; SGLang: --api-key, guarding all but
  /health*, /ready* and /metrics) is answered with 401 when missing.

Usage, as the images' launchers run it: engine_standin.py vllm serve MODEL [flags...]
                                        engine_standin.py sglang --model-path MODEL [flags...]
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

# What differs between the engines: default port, metric names (components/engines/*.ts).
ENGINES = {
    "vllm": {
        "name": "vLLM",
        "port": 8000,
        "metrics": {
            "running": "vllm:num_requests_running",
            "waiting": "vllm:num_requests_waiting",
            "kv": "vllm:kv_cache_usage_perc",
            "generated": "vllm:generation_tokens_total",
            "ttft": "vllm:time_to_first_token_seconds",
        },
    },
    "sglang": {
        "name": "SGLang",
        "port": 30000,
        "metrics": {
            "running": "sglang:num_running_reqs",
            "waiting": "sglang:num_queue_reqs",
            "kv": "sglang:token_usage",
            "generated": "sglang:generation_tokens_total",
            "ttft": "sglang:time_to_first_token_seconds",
        },
    },
}
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def standin_name(engine):
    name = ENGINES[engine]["name"]
    return f"llm-serving CPU stand-in for {name} (not {name})"


class Refused(Exception):
    """A command line the pinned engine's parser would reject (argparse exits 2)."""


def parse_flags(tokens, accepted, positional=None):
    """({flag: value}, [unknown tokens]) of `--flag value ...`, flags normalised as the engines'
    parsers accept them (underscores to dashes, `--flag=value`); `positional` (a dict) takes the one
    bare argument where the engine has one (vLLM's model_tag)."""
    options, unknown = {}, []
    rest = list(tokens)
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            if positional is None or positional.get("value") is not None:
                unknown.append(token)
            else:
                positional["value"] = token
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
    return options, unknown


def parse_command_line(argv, accepted):
    """(model, {flag: value}) of vLLM's `serve MODEL --flag value ...`."""
    if not argv or argv[0] != "serve":
        raise Refused(f"invalid choice: {argv[0] if argv else ''!r} (this stand-in serves only `vllm serve`)")
    model = {"value": None}
    options, unknown = parse_flags(argv[1:], accepted, model)
    if unknown:
        raise Refused(f"unrecognized arguments: {' '.join(unknown)}")
    if model["value"] is None:
        raise Refused("the following arguments are required: model_tag")
    return model["value"], options


def parse_sglang_command_line(argv, accepted):
    """(model, {flag: value}) of SGLang's launcher: the command line's flags over those of `--config FILE`."""
    options, unknown = parse_flags(argv, accepted)
    if unknown:
        raise Refused(f"unrecognized arguments: {' '.join(unknown)}")
    if "--config" in options:
        import yaml

        with open(options["--config"]) as f:
            config = yaml.safe_load(f) or {}
        tokens = []
        for key, value in config.items():
            tokens += [f"--{key}"] + ([] if value is True else [str(value)])
        from_file, unknown = parse_flags(tokens, accepted)
        if unknown:
            raise Refused(f"unrecognized arguments: {' '.join(unknown)} (from {options['--config']})")
        options = {**from_file, **options}
    if "--model-path" not in options:
        raise Refused("the following arguments are required: --model-path")
    return options["--model-path"], options


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


def check_tensors(name, header, offset, size, loaded):
    """Every tensor of a shard's header present in `loaded` with its shape and byte count; raises otherwise."""
    tensors = {}
    for tensor, meta in header.items():
        if tensor == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        array = loaded.get(tensor)
        if array is None or list(array.shape) != meta["shape"] or offset + end > size:
            raise ValueError(f"{name}: tensor {tensor} does not match its header")
        if array.nbytes != end - start or array.nbytes != DTYPE_BYTES.get(meta["dtype"], array.itemsize) * array.size:
            raise ValueError(f"{name}: tensor {tensor} has {array.nbytes} bytes, its header says {end - start}")
        tensors[tensor] = array
    return tensors


def read_manifest(text):
    """{file: sha256} of the mirror's manifest.sha256 (`sha256sum` format)."""
    manifest = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        manifest[name] = digest
    return manifest


def load_weights(model_dir):
    """{tensor name: numpy array} of every shard, each checked against its file; raises on a mismatch."""
    from safetensors.numpy import load_file

    model_dir = pathlib.Path(model_dir)
    shards = sorted(model_dir.glob("*.safetensors"))
    if not shards:
        raise ValueError(f"{model_dir}: no *.safetensors files")
    manifest = read_manifest((model_dir / "manifest.sha256").read_text()) if (model_dir / "manifest.sha256").exists() else {}
    tensors = {}
    for shard in shards:
        name = shard.relative_to(model_dir).as_posix()
        if name in manifest and file_digest(shard) != manifest[name]:
            raise ValueError(f"{shard}: sha256 differs from manifest.sha256")
        offset, header = read_header(shard)
        tensors.update(check_tensors(str(shard), header, offset, shard.stat().st_size, load_file(shard)))
    return tensors


def streamer_core():
    """The Run:ai streamer's C++ core (libstreamer and its S3 backend, from the pinned wheels) through
    the wheel's own ctypes binding. The package's front end (SafetensorsStreamer) hands out torch
    tensors and the stand-in has no torch, so the package __init__ that imports it is not run."""
    import importlib.util

    if "runai_model_streamer" not in sys.modules:
        spec = importlib.util.find_spec("runai_model_streamer")
        if spec is None:
            raise ValueError("runai_model_streamer is not installed in this image: it cannot stream s3:// models")
        # The package itself, its __init__ not executed: only its submodules are imported.
        sys.modules["runai_model_streamer"] = importlib.util.module_from_spec(spec)
    from runai_model_streamer.libstreamer import libstreamer

    return libstreamer


def streamer_env(extra_config):
    """What the engines' runai_streamer loaders do with --model-loader-extra-config before streaming
    (vLLM 0.33.0 RunaiModelStreamerLoader, SGLang 0.5.23 alike): concurrency and memory_limit become
    the streamer's environment, and AWS_ENDPOINT_URL its S3 endpoint unless one is set."""
    if "concurrency" in extra_config:
        os.environ["RUNAI_STREAMER_CONCURRENCY"] = str(extra_config["concurrency"])
    if "memory_limit" in extra_config:
        os.environ["RUNAI_STREAMER_MEMORY_LIMIT"] = str(extra_config["memory_limit"])
    if os.getenv("RUNAI_STREAMER_S3_ENDPOINT") is None and os.getenv("AWS_ENDPOINT_URL") is not None:
        os.environ["RUNAI_STREAMER_S3_ENDPOINT"] = os.environ["AWS_ENDPOINT_URL"]


def stream_objects(core, streamer, listed):
    """{uri: bytes} of every listed object (uri: size), read whole by the streamer in one submission."""
    import numpy

    uris = sorted(listed)
    buffers = [numpy.empty(listed[uri], dtype=numpy.uint8) for uri in uris]
    core.runai_request(streamer, uris, [1] * len(uris), [0] * len(uris), [b.size for b in buffers], [b.ctypes.data for b in buffers])
    done = False
    while not done:
        response = core.runai_response(streamer, 0)
        if response is None:
            raise ValueError("the streamer ended before every object was read")
        code, _submission, index, _range, done = response
        if code != core.SUCCESS_ERROR_CODE:
            raise ValueError(f"{uris[index]}: the streamer could not read it: {core.runai_response_str(code)}")
    return {uri: buffer.tobytes() for uri, buffer in zip(uris, buffers)}


def stream_weights(uri, extra_config):
    """{tensor name: numpy array} of every shard under the s3:// prefix `uri`, streamed by the Run:ai
    streamer with the environment the pod has, each tensor checked against its shard's header and
    each shard against the mirror's manifest.sha256 when the prefix has one."""
    import hashlib

    from safetensors.numpy import load

    streamer_env(extra_config)
    core = streamer_core()
    prefix = uri.rstrip("/") + "/"
    streamer = core.runai_start()
    try:
        listed = {}
        try:
            core.runai_list_files(streamer, prefix, lambda path, size: listed.__setitem__(path, size), is_recursive=False)
        except ValueError as error:
            raise ValueError(
                f"{prefix}: the streamer could not list it ({error}); are the bucket, its endpoint and the credentials right?"
            ) from error
        wanted = {u: s for u, s in listed.items() if u.endswith((".safetensors", "/manifest.sha256", "/config.json"))}
        if not any(u.endswith(".safetensors") for u in wanted):
            raise ValueError(f"{prefix}: no *.safetensors objects (listed: {sorted(listed)[:5]})")
        objects = stream_objects(core, streamer, wanted)
    finally:
        core.runai_end(streamer)
    concurrency = os.environ.get("RUNAI_STREAMER_CONCURRENCY", "the streamer's default")
    print(f"streamed {len(objects)} objects from {prefix} with the Run:ai streamer (concurrency {concurrency})", flush=True)
    manifest = read_manifest(objects.get(prefix + "manifest.sha256", b"").decode())
    tensors = {}
    for object_uri, data in sorted(objects.items()):
        if not object_uri.endswith(".safetensors"):
            continue
        name = object_uri.removeprefix(prefix)
        if name in manifest and hashlib.sha256(data).hexdigest() != manifest[name]:
            raise ValueError(f"{object_uri}: sha256 differs from manifest.sha256")
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + length])
        tensors.update(check_tensors(object_uri, header, 8 + length, len(data), load(data)))
    return tensors


def download_weights(repo, options):
    """A Hub repo (`mirror: false`), downloaded as the engines download one (vLLM 0.33.0's
    download_weights_from_hf): huggingface_hub's snapshot_download of the weights and configs into
    --download-dir (else HF_HOME), from HF_ENDPOINT with HF_TOKEN when set; then loaded from there."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    revision = options.get("--revision")
    try:
        path = snapshot_download(repo, revision=revision, cache_dir=options.get("--download-dir"), allow_patterns=["*.safetensors", "*.json"])
    except HfHubHTTPError as error:
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        raise ValueError(f"{repo}@{revision}: the Hub at {endpoint} refused the download: {str(error).splitlines()[0]}") from error
    print(f"downloaded {repo}@{revision} to {path}", flush=True)
    return load_weights(path)


def load_model(model_path, options):
    """The weights from a directory, downloaded from the Hub (a model that is no directory, as the
    engines read it), or streamed from s3:// with `--load-format runai_streamer` (the only loader of
    the pinned engines that reads a bucket)."""
    if not model_path.startswith("s3://"):
        return load_weights(model_path) if os.path.isdir(model_path) else download_weights(model_path, options)
    if options.get("--load-format") != "runai_streamer":
        raise ValueError(f"{model_path}: an s3:// model needs --load-format runai_streamer")
    return stream_weights(model_path, json.loads(options.get("--model-loader-extra-config") or "{}"))


def compile_artifacts(tensors):
    """What the engines' torch.compile leaves in TORCHINDUCTOR_CACHE_DIR (keyed by the model's tensor
    shapes): reused when there (a restart onto a persistent compile cache), else written."""
    root = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if not root:
        return "none (TORCHINDUCTOR_CACHE_DIR unset)"
    shapes = json.dumps(sorted((name, list(t.shape)) for name, t in tensors.items()))
    path = pathlib.Path(root) / "llm-serving-standin" / f"{hashlib.sha256(shapes.encode()).hexdigest()[:16]}.graph"
    if path.is_file():
        return f"reused {path}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a stand-in's compile artifact (no torch.compile ran)\n")
    return f"wrote {path}"


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
    def __init__(self, names):
        self.names = names
        self.lock = threading.Lock()
        self.running = 0
        self.generated = 0
        self.first_token = []

    def text(self, served_name, standin):
        n, label = self.names, f'model_name="{served_name}"'
        with self.lock:
            buckets = "".join(
                f'{n["ttft"]}_bucket{{{label},le="{le}"}} {sum(1 for t in self.first_token if t <= le)}\n' for le in (0.01, 0.1, 1.0, 10.0)
            )
            return (
                f"# {standin}\n"
                f"{n['running']}{{{label}}} {self.running}\n"
                f"{n['waiting']}{{{label}}} 0\n"
                f"{n['kv']}{{{label}}} 0.0\n"
                f"{n['generated']}{{{label}}} {self.generated}\n"
                f"{buckets}"
                f'{n["ttft"]}_bucket{{{label},le="+Inf"}} {len(self.first_token)}\n'
                f"{n['ttft']}_sum{{{label}}} {sum(self.first_token)}\n"
                f"{n['ttft']}_count{{{label}}} {len(self.first_token)}\n"
            )


def serve(engine, model, model_path, served_name, host, port, api_key):
    standin = standin_name(engine)
    metrics = Metrics(ENGINES[engine]["metrics"])
    created = int(time.time())

    def guarded(path):
        """vLLM guards /v1 only; SGLang everything but its health, readiness and metrics paths (utils/auth.py)."""
        return path.startswith("/v1") if engine == "vllm" else not path.startswith(("/health", "/ready", "/metrics"))

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "llm-serving-standin"

        def log_message(self, fmt, *args):
            print(f"{self.address_string()} {fmt % args}", flush=True)

        def reply(self, status, body, content_type="application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Stand-In", standin)
            self.end_headers()
            self.wfile.write(data)

        def authorized(self):
            if not api_key or not guarded(self.path) or self.headers.get("Authorization") == f"Bearer {api_key}":
                return True
            self.reply(401, {"error": "Unauthorized"})
            return False

        def do_GET(self):
            if not self.authorized():
                return None
            if self.path == "/health":
                return self.reply(200, "", "text/plain")
            if self.path == "/metrics":
                return self.reply(200, metrics.text(served_name, standin), "text/plain; version=0.0.4")
            if self.path == "/v1/models":
                card = {"id": served_name, "object": "model", "created": created, "owned_by": standin}
                card["root"] = model_path if engine == "vllm" else served_name
                return self.reply(200, {"object": "list", "data": [card]})
            if self.path == "/model_info" and engine == "sglang":
                return self.reply(200, {"model_path": model_path, "tokenizer_path": model_path, "is_generation": True})
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
                    metrics.first_token.append(time.monotonic() - started)
            text = "".join(f" t{t}" for t in tokens)
            choice = {"index": 0, "finish_reason": "length"}
            choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            prompt_tokens = len(prompt.encode())
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens), "total_tokens": prompt_tokens + len(tokens)}
            kind = "chat.completion" if chat else "text_completion"
            answer = {"id": f"standin-{created}", "object": kind, "model": served_name, "choices": [choice], "usage": usage}
            return self.reply(200, {**answer, "system_fingerprint": standin})

    # As PID 1 nothing stops on SIGTERM by default: stop as the engines do, without the kubelet's grace period.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = http.server.ThreadingHTTPServer((host, port), Handler)
    print(f"{standin}: serving {served_name} on {host}:{port}", flush=True)
    server.serve_forever()


def main(argv):
    if not argv or argv[0] not in ENGINES:
        sys.exit("usage: engine_standin.py vllm serve MODEL [flags...] | sglang --model-path MODEL [flags...]")
    engine = argv[0]
    standin = standin_name(engine)
    flags_file = pathlib.Path(os.environ.get("STANDIN_FLAGS") or pathlib.Path(__file__).with_name(f"flags-{engine}.json"))
    accepted = set(json.loads(flags_file.read_text())["flags"])
    try:
        model_path, options = (parse_command_line if engine == "vllm" else parse_sglang_command_line)(argv[1:], accepted)
    except Refused as refused:
        usage = "vllm serve [model_tag] [options]\nvllm serve" if engine == "vllm" else "launch_server.py [options]\nlaunch_server.py"
        print(f"usage: {usage}: error: {refused}", file=sys.stderr)
        return 2
    print(f"{standin}: flags accepted by the pinned parser: {sorted(options)}", flush=True)
    started = time.monotonic()
    try:
        tensors = load_model(model_path, options)
    except (OSError, ValueError) as error:
        print(f"{standin}: failed to load the weights: {error}", file=sys.stderr)
        return 1
    loaded = sum(t.nbytes for t in tensors.values())
    print(f"{standin}: loaded {len(tensors)} tensors ({loaded} bytes) in {time.monotonic() - started:.2f} s", flush=True)
    print(f"{standin}: compile cache: {compile_artifacts(tensors)}", flush=True)
    api_key = (os.environ.get("VLLM_API_KEY") if engine == "vllm" else None) or options.get("--api-key")
    host = options.get("--host") or "0.0.0.0"
    serve(
        engine,
        Model(tensors),
        model_path,
        options.get("--served-model-name") or model_path,
        host,
        int(options.get("--port", ENGINES[engine]["port"])),
        api_key,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
