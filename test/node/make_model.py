"""A small model repo for the node tests' Hub emulator: random weights in real safetensors shards
(two, with the index file the engines read), a config, a generation config and tokenizer files.
Deterministic for a seed, so a revision is a fixed set of bytes.

    python3 make_model.py DIR SEED
"""

import json
import pathlib
import sys

import numpy
from safetensors.numpy import save_file

VOCAB, HIDDEN, LAYERS = 512, 64, 2


def make(directory, seed):
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    rng = numpy.random.default_rng(seed)
    tensors = {"model.embed_tokens.weight": rng.standard_normal((VOCAB, HIDDEN), dtype=numpy.float32)}
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}"
        tensors[f"{prefix}.mlp.up_proj.weight"] = rng.standard_normal((4 * HIDDEN, HIDDEN), dtype=numpy.float32)
        tensors[f"{prefix}.mlp.down_proj.weight"] = rng.standard_normal((HIDDEN, 4 * HIDDEN), dtype=numpy.float32)
        tensors[f"{prefix}.input_layernorm.weight"] = numpy.ones(HIDDEN, dtype=numpy.float16)
    names = sorted(tensors)
    shards = [names[: len(names) // 2], names[len(names) // 2 :]]
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file({n: tensors[n] for n in shard}, out / file, metadata={"format": "pt"})
        weight_map.update({n: file for n in shard})
    total = sum(t.nbytes for t in tensors.values())
    files = {
        "model.safetensors.index.json": {"metadata": {"total_size": total}, "weight_map": weight_map},
        "config.json": {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": VOCAB,
            "hidden_size": HIDDEN,
            "num_hidden_layers": LAYERS,
        },
        "generation_config.json": {"max_new_tokens": 16},
        "tokenizer_config.json": {"model_max_length": 2048},
        "tokenizer.json": {"version": "1.0", "model": {"type": "WordLevel", "vocab": {f"t{i}": i for i in range(VOCAB)}, "unk_token": "t0"}},
    }
    for name, content in files.items():
        (out / name).write_text(json.dumps(content, indent=1))
    (out / "README.md").write_text(f"# A test model for llm-serving's node tests (random weights, seed {seed})\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_model.py DIR SEED")
    make(sys.argv[1], int(sys.argv[2]))
