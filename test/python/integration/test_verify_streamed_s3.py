"""The s3Streaming init step, verify_streamed.py (its own SigV4 HEADs), against versitygw: a mirrored
model passes with every stored SHA-256 compared; a missing, truncated, grown or replaced object, one
written again without its checksum, or a prefix without manifest.json, fails the pod naming the file."""

import base64
import hashlib
import json
import subprocess
import sys
import threading

import pytest
from conftest import REPO
from test_mirror_upload_s3 import client
from test_preload_s3 import BUCKET, PREFIX, mirror, object_path

SCRIPT = REPO / "components" / "storage" / "verify_streamed.py"
SHARD = "model-00002-of-00002.safetensors"


def verify(s3, **overrides):
    env = s3.client_env(BUCKET=BUCKET, PREFIX=PREFIX, S3_PATH_STYLE="1", **overrides)
    return subprocess.run([sys.executable, SCRIPT], check=False, env=env, capture_output=True, text=True, timeout=60)


def test_a_mirrored_model_matches_its_manifest_and_checksums(s3, tmp_path):
    mirror(s3, tmp_path)
    run = verify(s3)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 files match the manifest (0.01 GiB; 3 SHA-256 checksums)" in run.stdout


def rewrite(s3, name, data, checksum=True):
    """The object written again through the store, as a second mirror or a stray client would."""
    extra = {"ChecksumSHA256": base64.b64encode(hashlib.sha256(data).digest()).decode()} if checksum else {}
    client(s3).put_object(Bucket=BUCKET, Key=f"{PREFIX}/{name}", Body=data, **extra)


def test_an_object_replaced_with_other_bytes_of_the_same_size_fails_naming_the_file(s3, tmp_path):
    model = mirror(s3, tmp_path)
    rewrite(s3, SHARD, bytes(len((model / SHARD).read_bytes())))
    run = verify(s3)
    assert run.returncode == 1
    assert f"{SHARD}: stored SHA-256 " in run.stdout and "(replaced after the mirror)" in run.stdout
    assert "1 of 3 files" in run.stderr


def test_an_object_written_again_without_its_checksum_fails_naming_the_file(s3, tmp_path):
    model = mirror(s3, tmp_path)
    rewrite(s3, SHARD, (model / SHARD).read_bytes(), checksum=False)
    run = verify(s3)
    assert run.returncode == 1
    assert f"{SHARD}: stored without its SHA-256 checksum" in run.stdout


def test_a_manifest_from_before_checksums_is_checked_for_sizes(s3, tmp_path):
    mirror(s3, tmp_path)
    manifest = json.loads(object_path(s3, "manifest.json").read_text())
    for f in manifest["files"]:
        del f["s3Sha256"]
    rewrite(s3, "manifest.json", json.dumps(manifest).encode())
    run = verify(s3)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 files match the manifest (0.01 GiB; sizes only: the manifest predates SHA-256 checksums)" in run.stdout


def test_refused_credentials_fail_with_the_stores_answer(s3, tmp_path):
    mirror(s3, tmp_path)
    run = verify(s3, AWS_SECRET_ACCESS_KEY="not-the-key")
    assert run.returncode == 1
    assert "manifest.json (the credentials cannot read it): HTTP 403: SignatureDoesNotMatch" in run.stderr


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.unlink(), "model-00002-of-00002.safetensors: missing (manifest: 3145728 bytes)"),
        (lambda p: p.write_bytes(p.read_bytes()[:1000]), "model-00002-of-00002.safetensors: 1000 bytes, manifest: 3145728"),
        (lambda p: p.write_bytes(p.read_bytes() + b"x"), "model-00002-of-00002.safetensors: 3145729 bytes, manifest: 3145728"),
    ],
    ids=["missing", "truncated", "grown"],
)
def test_a_damaged_object_fails_naming_the_file(s3, tmp_path, damage, message):
    mirror(s3, tmp_path)
    damage(object_path(s3, "model-00002-of-00002.safetensors"))
    run = verify(s3)
    assert run.returncode == 1
    assert message in run.stdout
    assert "do not match the manifest" in run.stderr


def test_a_prefix_without_manifest_json_fails(s3, tmp_path):
    mirror(s3, tmp_path)
    object_path(s3, "manifest.json").unlink()
    run = verify(s3)
    assert run.returncode == 1 and "which the model's mirror Job writes last; it is still missing (HTTP 404" in run.stderr


def test_a_server_started_before_the_mirror_finished_waits_for_manifest_json(s3, tmp_path):
    mirror(s3, tmp_path)
    manifest = object_path(s3, "manifest.json")
    held = manifest.read_bytes()
    manifest.unlink()
    threading.Timer(2.0, manifest.write_bytes, [held]).start()
    run = verify(s3, MANIFEST_WAIT_SECONDS="60")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the mirror has not completed" in run.stdout and "files match the manifest" in run.stdout
