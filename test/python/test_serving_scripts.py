"""The serving pods' shell steps, run with the machine's sh and coreutils as the images' busybox
would run them (PATH holding only the s5cmd image's tools): the verified-marker wait and the
read-only verification of a Fluid mount."""

import hashlib
import pathlib
import shutil
import subprocess
import tempfile
import threading
import time

from image_tools import image_path

STORAGE = pathlib.Path(__file__).resolve().parents[2] / "components" / "storage"


IMAGE_BIN = pathlib.Path(tempfile.mkdtemp(prefix="s5cmd-image-bin-"))


def sh(script, *args, timeout=30):
    env = {"PATH": image_path(IMAGE_BIN, "s5cmd")}
    return subprocess.run([shutil.which("sh"), STORAGE / script, *args], check=False, capture_output=True, text=True, timeout=timeout, env=env)


def copy_with_manifest(root):
    root.mkdir(parents=True)
    files = {"model.safetensors": b"weights" * 100, "config.json": b"{}"}
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "manifest.sha256").write_text("".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files.items()))
    return root


def test_verify_read_only_accepts_a_matching_copy(tmp_path):
    run = sh("verify_read_only.sh", copy_with_manifest(tmp_path / "m"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "verified 2 files" in run.stdout


def test_verify_read_only_names_the_file_that_differs(tmp_path):
    root = copy_with_manifest(tmp_path / "m")
    (root / "model.safetensors").write_bytes(b"rotten")
    run = sh("verify_read_only.sh", root)
    assert run.returncode == 1
    assert "model.safetensors: FAILED" in run.stdout and "sha256 verification failed" in run.stdout
    assert "config.json" not in run.stdout


def test_verify_read_only_refuses_a_copy_without_manifest(tmp_path):
    root = tmp_path / "m"
    root.mkdir()
    run = sh("verify_read_only.sh", root)
    assert run.returncode == 1 and "manifest.sha256 missing" in run.stdout


def test_wait_for_verified_returns_once_the_marker_exists(tmp_path):
    (tmp_path / ".verified").touch()
    run = sh("wait_for_verified.sh", tmp_path, "600")
    assert run.returncode == 0 and f"model verified at {tmp_path}" in run.stdout


def test_wait_for_verified_blocks_until_the_marker_appears(tmp_path):
    threading.Timer(1.0, (tmp_path / ".verified").touch).start()
    started = time.monotonic()
    run = sh("wait_for_verified.sh", tmp_path, "600")
    assert run.returncode == 0
    assert "waiting for the verified model" in run.stdout
    assert time.monotonic() - started >= 1.0


def test_wait_for_verified_gives_up_at_its_deadline_naming_what_it_waited_for(tmp_path):
    """Without Pulumi's ordering nothing else bounds the wait: the init step fails, naming the copy."""
    run = sh("wait_for_verified.sh", tmp_path, "10")
    assert run.returncode == 1
    assert f"FATAL: waited 10 s (the mirror's and the preload's time budgets) for the verified model at {tmp_path}" in run.stdout
