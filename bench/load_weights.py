"""The weight loaders of `npm run bench:load`, each the way the pinned vLLM 0.33.0 runs it, timed from
the first byte until every tensor sits in the model's (CPU) parameters. Each subcommand prints one
JSON line: wall seconds, user and system CPU seconds of this process, bytes and tensors loaded.

  generate DIR GIB      a safetensors model (shards, index, configs) of random bf16 tensors
  raw DIR               the limit: every shard read into memory by a reader per shard, no parsing
  safetensors DIR       vLLM's default loader: safe_open + get_tensor per tensor, copied into the parameters
  stream URI CONFIG     vLLM's runai_streamer loader: SafetensorsStreamer over the shards in the bucket,
                        CONFIG the --model-loader-extra-config JSON the program renders
  exec -- CMD...        a command's wall and CPU seconds (its children's rusage)
  first-touch GIB       what this machine pays to fault in fresh memory, once and then reused

The parameters ("GPU memory") are allocated and faulted in before the clock starts: a GPU node
copies into device memory, and first-touch page faults are a property of this VM, reported apart.
After the clock stops, the head and tail of every loaded tensor are compared with the file.
"""

import concurrent.futures
import json
import os
import pathlib
import resource
import struct
import subprocess
import sys
import time

MIB = 1 << 20
# Qwen2-7B-like shapes: what one decoder layer holds, in bf16.
HIDDEN, KV, FFN, VOCAB = 3584, 512, 18944, 32000


def layer_tensors(i):
    p = f"model.layers.{i}."
    return [
        (p + "self_attn.q_proj.weight", [HIDDEN, HIDDEN]),
        (p + "self_attn.q_proj.bias", [HIDDEN]),
        (p + "self_attn.k_proj.weight", [KV, HIDDEN]),
        (p + "self_attn.k_proj.bias", [KV]),
        (p + "self_attn.v_proj.weight", [KV, HIDDEN]),
        (p + "self_attn.v_proj.bias", [KV]),
        (p + "self_attn.o_proj.weight", [HIDDEN, HIDDEN]),
        (p + "mlp.gate_proj.weight", [FFN, HIDDEN]),
        (p + "mlp.up_proj.weight", [FFN, HIDDEN]),
        (p + "mlp.down_proj.weight", [HIDDEN, FFN]),
        (p + "input_layernorm.weight", [HIDDEN]),
        (p + "post_attention_layernorm.weight", [HIDDEN]),
    ]


def nbytes(shape):
    n = 2
    for d in shape:
        n *= d
    return n


def write_shard(path, tensors):
    """A safetensors file: 8-byte header length, JSON header (padded to 8 bytes), tensor data."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in tensors:
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + nbytes(shape)]}
        offset += nbytes(shape)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.writelines(os.urandom(min(16 * MIB, offset - written)) for written in range(0, offset, 16 * MIB))
    return offset


def generate(directory, gib):
    """Layers until `gib` is reached, packed into ~1 GiB shards as `save_pretrained` packs them."""
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    target, tensors, total, i = int(float(gib) * (1 << 30)), [("model.embed_tokens.weight", [VOCAB, HIDDEN])], 0, 0
    while sum(nbytes(s) for _, s in tensors) < target:
        tensors += layer_tensors(i)
        i += 1
    tensors += [("model.norm.weight", [HIDDEN]), ("lm_head.weight", [VOCAB, HIDDEN])]
    shards, current = [], []
    for t in tensors:
        if current and sum(nbytes(s) for _, s in current) + nbytes(t[1]) > 1 << 30:
            shards.append(current)
            current = []
        current.append(t)
    shards.append(current)
    weight_map = {}
    for n, shard in enumerate(shards, 1):
        name = f"model-{n:05d}-of-{len(shards):05d}.safetensors"
        total += write_shard(out / name, shard)
        weight_map.update({t: name for t, _ in shard})
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    config = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": HIDDEN, "intermediate_size": FFN, "num_hidden_layers": i}
    (out / "config.json").write_text(json.dumps(config))
    (out / "generation_config.json").write_text(json.dumps({"do_sample": True}))
    (out / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 32768}))
    (out / "tokenizer.json").write_bytes(os.urandom(7 * MIB))
    print(json.dumps({"shards": len(shards), "tensors": len(tensors), "bytes": total, "layers": i}))


def shards(directory):
    return sorted(str(p) for p in pathlib.Path(directory).glob("*.safetensors"))


def read_header(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return 8 + length, header


def parameters(layout_dir):
    """The model's parameters, allocated and faulted in (what the weights are copied into)."""
    import torch

    params = {}
    for path in shards(layout_dir):
        for name, meta in read_header(path)[1].items():
            params[name] = torch.zeros(meta["shape"], dtype=torch.bfloat16)
    return params


def check(params, layout_dir):
    """The head and tail of every parameter equal the file's bytes: the loader loaded these weights."""
    import torch

    for path in shards(layout_dir):
        base, header = read_header(path)
        with open(path, "rb") as f:
            for name, meta in header.items():
                start, end = meta["data_offsets"]
                data = params[name].view(-1).view(dtype=torch.uint8).numpy()
                n = min(64, end - start)
                for at, expect_at in ((0, base + start), (end - start - n, base + end - n)):
                    f.seek(expect_at)
                    if f.read(n) != data[at : at + n].tobytes():
                        sys.exit(f"{name} in {path}: loaded bytes differ from the file")


def timed(load):
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    count, loaded = load()
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    return {"wall": wall, "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime, "bytes": loaded, "tensors": count}


def raw(directory):
    """A reader per shard, straight into one preallocated, faulted-in buffer: bytes, nothing else."""
    import torch

    paths = shards(directory)
    sizes = [os.path.getsize(p) for p in paths]
    buffer = torch.zeros(sum(sizes), dtype=torch.uint8).numpy()
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]

    def read(i):
        view = memoryview(buffer[offsets[i] : offsets[i] + sizes[i]])
        with open(paths[i], "rb", buffering=0) as f:
            done = 0
            while done < sizes[i]:
                done += f.readinto(view[done : done + 64 * MIB])
        return sizes[i]

    def load():
        with concurrent.futures.ThreadPoolExecutor(len(paths)) as pool:
            return len(paths), sum(pool.map(read, range(len(paths))))

    print(json.dumps(timed(load)))


def load_safetensors(directory):
    """vllm/model_executor/model_loader/weight_utils.py safetensors_weights_iterator (0.33.0, the
    default load strategy on a local disk): shards in order, safe_open(framework="pt"), get_tensor."""
    from safetensors import safe_open

    params = parameters(directory)

    def load():
        count, loaded = 0, 0
        for path in shards(directory):
            with safe_open(path, framework="pt") as f:
                for name in f.keys():  # noqa: SIM118 (vLLM's own loop)
                    tensor = f.get_tensor(name)
                    params[name].copy_(tensor)
                    count, loaded = count + 1, loaded + tensor.nbytes
        return count, loaded

    print(json.dumps(timed(load)))
    check(params, directory)


def vllm_streamer_env(extra_config):
    """RunaiModelStreamerLoader.__init__ (vllm 0.33.0): concurrency and memory_limit become the
    streamer's environment; AWS_ENDPOINT_URL becomes RUNAI_STREAMER_S3_ENDPOINT unless that is set."""
    if "concurrency" in extra_config:
        os.environ["RUNAI_STREAMER_CONCURRENCY"] = str(extra_config["concurrency"])
    if "memory_limit" in extra_config:
        os.environ["RUNAI_STREAMER_MEMORY_LIMIT"] = str(extra_config["memory_limit"])
    if os.getenv("RUNAI_STREAMER_S3_ENDPOINT") is None and os.getenv("AWS_ENDPOINT_URL") is not None:
        os.environ["RUNAI_STREAMER_S3_ENDPOINT"] = os.environ["AWS_ENDPOINT_URL"]


def stream(uri, extra_config_json, layout_dir):
    """runai_safetensors_weights_iterator (vllm 0.33.0): one SafetensorsStreamer session over every
    shard, each yielded tensor cloned, then copied into its parameter (the engine's weight_loader)."""
    vllm_streamer_env(json.loads(extra_config_json))
    from runai_model_streamer import SafetensorsStreamer

    params = parameters(layout_dir)
    files = [f"{uri.rstrip('/')}/{pathlib.Path(p).name}" for p in shards(layout_dir)]

    def load():
        count, loaded = 0, 0
        with SafetensorsStreamer() as streamer:
            streamer.stream_files(files, device="cpu", is_distributed=False)
            for name, tensor in streamer.get_tensors():
                params[name].copy_(tensor.clone())
                count, loaded = count + 1, loaded + tensor.nbytes
        return count, loaded

    print(json.dumps(timed(load)))
    check(params, layout_dir)


def run_command(command):
    start = time.perf_counter()
    done = subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, usage = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)[:200]} failed ({done.returncode}): {done.stderr[-2000:]}")
    print(json.dumps({"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime}))


def first_touch(gib):
    """Seconds to fault in `gib` of fresh anonymous memory, then to write it again (already mapped)."""
    import numpy as np

    n = int(float(gib) * (1 << 30))
    start = time.perf_counter()
    buffer = np.ones(n, dtype=np.uint8)
    first = time.perf_counter() - start
    start = time.perf_counter()
    buffer.fill(2)
    print(json.dumps({"first": first, "again": time.perf_counter() - start, "bytes": n}))


def main(argv):
    commands = {
        "generate": generate,
        "raw": raw,
        "safetensors": load_safetensors,
        "stream": stream,
        "first-touch": first_touch,
    }
    if argv[:1] == ["exec"] and argv[1:2] == ["--"]:
        return run_command(argv[2:])
    if not argv or argv[0] not in commands:
        sys.exit(f"usage: load_weights.py {{{'|'.join([*commands, 'exec'])}}} ARGS (see the docstring)")
    commands[argv[0]](*argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
