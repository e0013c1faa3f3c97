"""The mirror upload and the preload (real s5cmd) against a real S3 server: a mirrored model is
copied, verified and published; a corrupt or truncated object, a missing manifest, refused
credentials and a copy killed midway each fail loudly or recover, and never publish a partial model."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "components" / "mirror"))
from mirror_download import write_manifests  # the mirror's own manifest writer

PRELOAD = REPO / "components" / "storage" / "preload.py"
UPLOAD = REPO / "components" / "mirror" / "mirror_upload.py"
BUCKET, PREFIX = "models-bucket", "models/org/Tiny-Model/0123456789abcdef0123456789abcdef01234567"
FLAGS = ["--numworkers", "4", "cp", "--concurrency", "2", "--part-size", "8"]
MIB = 1024**2
# The upload's parts: the 6 MiB shard goes up as a multipart upload of 2, the others as single PUTs.
PART_BYTES = 5 * MIB
SHARDS = {"model-00001-of-00002.safetensors": 6 * MIB, "model-00002-of-00002.safetensors": 3 * MIB, "config.json": 0}


def downloaded(tmp_path, shards=SHARDS):
    """A model and its manifests as the mirror's download step leaves them; returns the work directory."""
    work = tmp_path / "mirror-work"
    model = work / "model"
    model.mkdir(parents=True)
    for name, size in shards.items():
        (model / name).write_bytes(os.urandom(size) if size else b'{"model_type": "llama"}')
    write_manifests(work, model, "org/Tiny-Model", PREFIX.rsplit("/", 1)[1], PART_BYTES)
    return work


def upload(s3, work):
    """The mirror's upload step (boto3 from this venv, as /work/pip gives it in the Job)."""
    (s3.root / BUCKET).mkdir(exist_ok=True)
    env = s3.client_env(BUCKET=BUCKET, PREFIX=PREFIX, MIRROR_WORK=str(work), S3_PATH_STYLE="1")
    return subprocess.run([sys.executable, UPLOAD, "--concurrency", "4"], check=False, env=env, capture_output=True, text=True, timeout=120)


def mirror(s3, tmp_path, shards=SHARDS):
    """Writes a model and its manifests as the mirror Job does, then runs its upload step."""
    work = downloaded(tmp_path, shards)
    run = upload(s3, work)
    assert run.returncode == 0, run.stdout + run.stderr
    return work / "model"


def preload_env(s3, dest, **overrides):
    return s3.client_env(DEST=str(dest), BUCKET=BUCKET, PREFIX=PREFIX, CAPACITY_SETTING="llm-serving:models[0].sizeGiB", **overrides)


def preload(s3, dest, **overrides):
    return subprocess.run(
        [sys.executable, PRELOAD, *FLAGS], check=False, env=preload_env(s3, dest, **overrides), capture_output=True, text=True, timeout=120
    )


def published(dest):
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())


def object_path(s3, name):
    return s3.root / BUCKET / PREFIX / name


def test_upload_puts_manifest_json_last_and_preload_publishes_exactly_the_manifest(s3, tmp_path):
    model = mirror(s3, tmp_path)
    listed = s3.s5cmd("ls", f"s3://{BUCKET}/{PREFIX}/*")
    assert "manifest.json" in listed.stdout and "manifest.sha256" in listed.stdout
    dest = tmp_path / "cache" / "rev"
    run = preload(s3, dest)
    assert run.returncode == 0, run.stdout + run.stderr
    assert published(dest) == sorted([*SHARDS, "manifest.sha256", "manifest.json", ".verified"])
    for name in SHARDS:
        assert (dest / name).read_bytes() == (model / name).read_bytes()
    assert not pathlib.Path(f"{dest}.partial").exists()
    again = preload(s3, dest)
    assert again.returncode == 0 and "already present and verified" in again.stdout


def test_upload_is_skipped_when_the_check_step_found_the_model(s3, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "skip").touch()
    run = upload(s3, work)
    assert run.returncode == 0 and "already mirrored" in run.stdout


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: bytes([data[0] ^ 0xFF]) + data[1:], id="corrupt"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
    ],
)
def test_a_damaged_object_fails_loudly_and_is_never_published(s3, tmp_path, damage):
    mirror(s3, tmp_path)
    shard = object_path(s3, "model-00002-of-00002.safetensors")
    original = shard.read_bytes()
    # Damaged behind the S3 server's back, as bit rot or a broken upload would leave it.
    shard.write_bytes(damage(original))
    dest = tmp_path / "cache" / "rev"
    run = preload(s3, dest)
    # Fetched twice, bad twice: what the bucket holds.
    assert run.returncode == 1
    assert run.stdout.count("model-00002-of-00002.safetensors: FAILED") == 2
    assert "fetching 1 file(s) again" in run.stdout
    assert "sha256 verification failed twice for model-00002-of-00002.safetensors" in run.stderr
    assert not dest.exists()
    # The bad file was removed: once the object is repaired, the retry fetches it again and publishes.
    assert not pathlib.Path(f"{dest}.partial/model-00002-of-00002.safetensors").exists()
    shard.write_bytes(original)
    retry = preload(s3, dest)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert (dest / ".verified").exists()


def test_a_prefix_without_manifest_json_is_refused_before_copying(s3, tmp_path):
    mirror(s3, tmp_path)
    object_path(s3, "manifest.json").unlink()  # an interrupted mirror: files, no manifest.json
    dest = tmp_path / "cache" / "rev"
    run = preload(s3, dest)
    assert run.returncode != 0
    assert f"for s3://{BUCKET}/{PREFIX}/manifest.json, which the model's mirror Job writes last; it is still missing" in run.stderr
    assert "MANIFEST_WAIT_SECONDS=0" in run.stderr
    assert not dest.exists() and not pathlib.Path(f"{dest}.partial").exists()


def test_a_preload_started_before_the_mirror_finished_waits_for_manifest_json_then_copies(s3, tmp_path):
    """Without Pulumi's ordering (GitOps, kubectl apply of the rendered YAML) the Job can start first."""
    mirror(s3, tmp_path)
    manifest = object_path(s3, "manifest.json")
    held = manifest.read_bytes()
    manifest.unlink()
    threading.Timer(2.0, manifest.write_bytes, [held]).start()
    dest = tmp_path / "cache" / "rev"
    run = preload(s3, dest, MANIFEST_WAIT_SECONDS="60")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "waiting for" in run.stdout and "the mirror has not completed" in run.stdout
    assert (dest / ".verified").exists()


def test_a_preload_gives_up_after_the_mirrors_budget_naming_what_it_waited_for(s3, tmp_path):
    mirror(s3, tmp_path)
    object_path(s3, "manifest.json").unlink()
    started = time.monotonic()
    run = preload(s3, tmp_path / "cache" / "rev", MANIFEST_WAIT_SECONDS="3")
    assert run.returncode != 0
    assert "FATAL: waited 3 s (MANIFEST_WAIT_SECONDS=3, the mirror's time budget)" in run.stderr
    assert 3 <= time.monotonic() - started < 30


def test_refused_credentials_fail_loudly_with_the_answer(s3, tmp_path):
    mirror(s3, tmp_path)
    dest = tmp_path / "cache" / "rev"
    run = preload(s3, dest, AWS_SECRET_ACCESS_KEY="not-the-key")
    assert run.returncode == 1
    assert "the store refuses these credentials" in run.stderr
    assert "status code: 403" in run.stderr  # a GET with a wrong signature: Forbidden, no error body
    assert not dest.exists()


def test_an_unreachable_store_fails_for_a_retry(s3, tmp_path):
    mirror(s3, tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    run = preload(s3, tmp_path / "cache" / "rev", AWS_ENDPOINT_URL=closed)
    assert run.returncode == 1
    assert "the store is unreachable or failing" in run.stderr


def test_a_volume_too_small_is_refused_before_copying_naming_the_setting(s3, tmp_path):
    mirror(s3, tmp_path)
    # The manifest lists more than any disk here holds (a claim sized below the model).
    manifest = json.loads(object_path(s3, "manifest.json").read_text())
    manifest["files"][0]["size"] = 1024**5
    object_path(s3, "manifest.json").write_text(json.dumps(manifest))
    dest = tmp_path / "cache" / "rev"
    run = preload(s3, dest)
    assert run.returncode != 0
    assert "raise llm-serving:models[0].sizeGiB" in run.stderr
    assert not pathlib.Path(f"{dest}.partial/model-00001-of-00002.safetensors").exists()


def test_a_copy_killed_midway_resumes_and_publishes_only_the_manifest(s3, tmp_path):
    big = {**SHARDS, "model-00001-of-00002.safetensors": 128 * MIB}
    model = mirror(s3, tmp_path, big)
    dest = tmp_path / "cache" / "rev"
    part = pathlib.Path(f"{dest}.partial")
    # Slow enough to be caught midway: one worker, small parts.
    slow = ["--numworkers", "1", "cp", "--concurrency", "1", "--part-size", "5"]
    copy = subprocess.Popen([sys.executable, PRELOAD, *slow], env=preload_env(s3, dest), start_new_session=True)
    deadline = time.monotonic() + 60
    # s5cmd writes each download to a temp file beside its destination, renamed when complete.
    shard = "model-00001-of-00002.safetensors"

    def temp_files():
        return [p for p in part.glob(f"{shard}?*") if p.stat().st_size > 0]

    while time.monotonic() < deadline and not temp_files():
        time.sleep(0.005)
    os.killpg(copy.pid, signal.SIGKILL)  # the whole pod: Python and its s5cmd
    copy.wait()
    leftovers = [p.name for p in temp_files()]
    assert leftovers, "the copy was not caught midway"
    assert not dest.exists()
    run = preload(s3, dest)
    assert run.returncode == 0, run.stdout + run.stderr
    assert published(dest) == sorted([*big, "manifest.sha256", "manifest.json", ".verified"])
    assert (dest / "model-00001-of-00002.safetensors").read_bytes() == (model / "model-00001-of-00002.safetensors").read_bytes()
    for name in leftovers:
        assert f"removing {name}: not in the manifest" in run.stdout
