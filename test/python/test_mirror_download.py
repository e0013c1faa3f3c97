"""The mirror's file selection and size checks (components/mirror/mirror_download.py)."""

import base64
import hashlib
import json
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "components" / "mirror"))
import mirror_download as mirror

GIB = 1024**3
MIB = 1024**2
KEY = "llm-serving:models[0]"

# meta-llama/Llama-3.1-8B-Instruct as the Hub lists it (sizes rounded).
LLAMA = {
    ".gitattributes": 1_519,
    "LICENSE": 7_627,
    "README.md": 44_000,
    "USE_POLICY.md": 4_691,
    "config.json": 855,
    "generation_config.json": 184,
    "model-00001-of-00004.safetensors": 4_976_698_672,
    "model-00002-of-00004.safetensors": 4_999_802_720,
    "model-00003-of-00004.safetensors": 4_915_916_176,
    "model-00004-of-00004.safetensors": 1_168_138_808,
    "model.safetensors.index.json": 23_950,
    "original/consolidated.00.pth": 16_060_617_592,
    "original/params.json": 199,
    "original/tokenizer.model": 2_183_982,
    "special_tokens_map.json": 296,
    "tokenizer.json": 9_085_657,
    "tokenizer_config.json": 55_351,
}


def test_default_selection_is_what_the_engines_load():
    chosen = mirror.select(LLAMA)
    assert "original/consolidated.00.pth" not in chosen
    assert not {"README.md", "LICENSE", "USE_POLICY.md", ".gitattributes"} & set(chosen)
    assert {f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)} <= set(chosen)
    assert {"model.safetensors.index.json", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"} <= set(chosen)
    assert sum(LLAMA[p] for p in chosen) < 16 * GIB


def test_pickles_only_without_safetensors_and_only_the_first_kind():
    repo = {"config.json": 1, "pytorch_model.bin": 10, "training_args.bin": 1, "extra.pt": 5}
    assert mirror.select(repo) == ["config.json", "pytorch_model.bin", "training_args.bin"]
    assert mirror.select({"config.json": 1, "model.pt": 5}) == ["config.json", "model.pt"]
    assert "pytorch_model.bin" not in mirror.select({**repo, "model.safetensors": 10})


def test_include_and_exclude_override_the_defaults():
    assert mirror.select(LLAMA, include=["original/*"]) == ["original/consolidated.00.pth", "original/params.json", "original/tokenizer.model"]
    assert "original/params.json" not in mirror.select(LLAMA, exclude=["original/*"])
    assert mirror.select(LLAMA, include=["*"], exclude=["*.md", ".gitattributes", "LICENSE"]) == sorted(
        p for p in LLAMA if not p.endswith(".md") and p not in {".gitattributes", "LICENSE"}
    )


def test_the_default_selection_fits_the_dev_stack():
    chosen = mirror.select(LLAMA)
    assert mirror.check_fits(LLAMA, chosen, 16, 20, KEY) == sum(LLAMA[p] for p in chosen)


def test_the_whole_repository_is_refused_before_downloading_naming_the_key():
    with pytest.raises(
        mirror.Refused,
        match=r"are 29\.9 GiB, more than llm-serving:models\[0\]\.sizeGiB = 16 \(\+10%\); raise llm-serving:models\[0\]\.sizeGiB to at least 30",
    ):
        mirror.check_fits(LLAMA, mirror.select(LLAMA, include=["*"]), 16, 20, KEY)


def test_a_selection_larger_than_the_scratch_volume_is_refused():
    chosen = mirror.select(LLAMA)
    with pytest.raises(mirror.Refused, match=r"more than the 10 GiB scratch volume holds"):
        mirror.check_fits(LLAMA, chosen, 16, 10, KEY)


def test_an_empty_selection_is_refused():
    with pytest.raises(mirror.Refused, match=r"no file of the repo matches llm-serving:models\[0\]\.include / exclude"):
        mirror.check_fits(LLAMA, mirror.select(LLAMA, include=["*.gguf"]), 16, 20, KEY)


def test_manifests_list_every_downloaded_file_with_its_sha256(tmp_path):
    model = tmp_path / "model"
    (model / "original").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "original" / "params.json").write_text('{"dim": 1}')
    (model / ".cache" / "huggingface").mkdir(parents=True)
    (model / ".cache" / "huggingface" / "x.lock").write_text("")
    files = mirror.write_manifests(tmp_path, model, "org/m", "rev", 5 * MIB)
    assert [f["path"] for f in files] == ["config.json", "original/params.json"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["repo"] == "org/m" and manifest["revision"] == "rev" and len(manifest["files"]) == 2
    assert (model / "manifest.sha256").read_text().splitlines()[0] == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a  config.json"


def test_the_tests_use_the_huggingface_hub_the_job_pins():
    root = pathlib.Path(__file__).resolve().parents[2]
    pinned = next(
        line.split("==")[1]
        for line in (root / "test" / "python" / "requirements.txt").read_text().splitlines()
        if line.startswith("huggingface_hub==")
    )
    assert f'export const HF_HUB_VERSION = "{pinned}";' in (root / "components" / "mirror" / "modelMirror.ts").read_text()


def test_manifests_record_the_s3_checksum_of_each_upload_part(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    shard, small = os.urandom(12 * MIB), b'{"model_type": "llama"}'
    (model / "model.safetensors").write_bytes(shard)
    (model / "config.json").write_bytes(small)
    (model / "empty.txt").write_bytes(b"")
    files = {f["path"]: f for f in mirror.write_manifests(tmp_path, model, "org/m", "rev", 5 * MIB)}
    parts = json.loads((tmp_path / "parts.json").read_text())
    b64 = lambda data: base64.b64encode(data).decode()
    # 12 MiB in 5 MiB parts: 5 + 5 + 2, each hashed; S3's composite is the SHA-256 of their digests.
    digests = [hashlib.sha256(shard[i : i + 5 * MIB]).digest() for i in range(0, len(shard), 5 * MIB)]
    assert parts["model.safetensors"] == {"partBytes": 5 * MIB, "parts": [b64(d) for d in digests]}
    assert files["model.safetensors"]["s3Sha256"] == f"{b64(hashlib.sha256(b''.join(digests)).digest())}-3"
    assert files["model.safetensors"]["sha256"] == hashlib.sha256(shard).hexdigest()
    # One part: a single PUT, whose checksum is the file's own SHA-256.
    assert files["config.json"]["s3Sha256"] == b64(hashlib.sha256(small).digest())
    assert files["empty.txt"]["s3Sha256"] == b64(hashlib.sha256(b"").digest()) and parts["empty.txt"]["parts"] == []
    assert "parts.json" not in {p.name for p in model.iterdir()}  # never uploaded


def test_parts_grow_so_that_no_object_needs_more_than_10000():
    assert mirror.part_bytes_for(100 * GIB, 32 * MIB) == 32 * MIB  # 3,200 parts
    grown = mirror.part_bytes_for(400 * GIB, 32 * MIB)
    assert grown % MIB == 0 and grown > 32 * MIB and -(-400 * GIB // grown) <= mirror.MAX_PARTS
    assert -(-400 * GIB // (grown - MIB)) > mirror.MAX_PARTS  # the least whole MiB that fits


def test_the_upload_step_uses_the_boto3_the_tests_use():
    root = pathlib.Path(__file__).resolve().parents[2]
    pinned = next(
        line.split("==")[1] for line in (root / "test" / "python" / "requirements.txt").read_text().splitlines() if line.startswith("boto3==")
    )
    assert f'export const BOTO3_VERSION = "{pinned}";' in (root / "components" / "mirror" / "modelMirror.ts").read_text()


def test_manifests_written_again_never_list_themselves(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    first = mirror.write_manifests(tmp_path, model, "org/m", "rev", 5 * MIB)
    again = mirror.write_manifests(tmp_path, model, "org/m", "rev", 5 * MIB)
    assert [f["path"] for f in again] == [f["path"] for f in first] == ["config.json"]
    assert "manifest.sha256" not in (model / "manifest.sha256").read_text()


def test_hashing_threads_follow_the_containers_cpu_limit_not_the_nodes_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 96)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(96)))
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert mirror.hashing_threads(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert mirror.hashing_threads(tmp_path) == 96
    # cgroup v1
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert mirror.hashing_threads(tmp_path) == 4
    # Pinned to fewer CPUs than the limit (a static CPU manager): the affinity wins.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert mirror.hashing_threads(tmp_path) == 2


def test_the_hashing_pass_holds_a_small_read_per_thread_whatever_the_part_size(tmp_path, monkeypatch):
    """A 96-CPU node, no CPU limit, 64 MiB parts: the pass once held a whole part per thread (~6 x 64 MiB
    here, 96 x 64 MiB on such a node against the 4 GiB limit); it now holds READ_BYTES per thread."""
    import tracemalloc

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(96)))
    monkeypatch.setattr(mirror, "cgroup_cpu_limit", lambda root="": None, raising=False)
    model = tmp_path / "model"
    model.mkdir()
    for i in range(6):
        (model / f"model-{i:05d}.safetensors").write_bytes(os.urandom(1024) * (65 * 1024))
    tracemalloc.start()
    files = mirror.write_manifests(tmp_path, model, "org/m", "rev", 64 * MIB)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(files) == 6
    assert peak < 6 * mirror.READ_BYTES + 16 * MIB, f"peak {peak / MIB:.0f} MiB"
    # The same digests as hashing each part whole.
    data = (model / "model-00000.safetensors").read_bytes()
    parts = [hashlib.sha256(data[o : o + 64 * MIB]).digest() for o in range(0, len(data), 64 * MIB)]
    entry = next(f for f in files if f["path"] == "model-00000.safetensors")
    assert entry["s3Sha256"] == mirror.s3_sha256(hashlib.sha256(data).digest(), parts)
    assert entry["s3Sha256"].endswith("-2")
