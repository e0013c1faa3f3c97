"""The s3Streaming init step, verify_streamed.py, with real s5cmd against versitygw: a mirrored model
passes; a missing, truncated or grown object, or a prefix without manifest.json, fails the pod
naming the file."""

import subprocess
import sys

import pytest
from conftest import REPO
from test_preload_s3 import BUCKET, PREFIX, mirror, object_path

SCRIPT = REPO / "components" / "storage" / "verify_streamed.py"


def verify(s3):
    env = s3.client_env(BUCKET=BUCKET, PREFIX=PREFIX)
    return subprocess.run([sys.executable, SCRIPT], check=False, env=env, capture_output=True, text=True, timeout=60)


def test_a_mirrored_model_matches_its_manifest(s3, tmp_path):
    mirror(s3, tmp_path)
    run = verify(s3)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 files match the manifest" in run.stdout


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
    assert run.returncode == 1 and "the mirror has not completed" in run.stderr
