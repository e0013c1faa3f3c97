"""compile_cache_gc.py on a real directory tree: makes and marks this server's directory, and keeps
the node's compile caches under the cap by removing the least recently used others, never its own."""

import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "components" / "serving" / "compile_cache_gc.py"
MIB = 1024**2


def cache(root, name, mib, used_at):
    path = root / name / "triton"
    path.mkdir(parents=True)
    (path / "kernel.cubin").write_bytes(b"k" * (mib * MIB))
    os.utime(root / name, (used_at, used_at))


def gc(root, key, cap_gib):
    return subprocess.run([sys.executable, SCRIPT, str(root), key, str(cap_gib)], check=False, capture_output=True, text=True, timeout=30)


def test_makes_and_marks_the_servers_own_directory(tmp_path):
    run = gc(tmp_path, "vllm-abc-rev-tp1", 1)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "vllm-abc-rev-tp1").is_dir()


def test_removes_least_recently_used_others_until_under_the_cap(tmp_path):
    cache(tmp_path, "old", 40, 1000)
    cache(tmp_path, "newer", 40, 2000)
    cache(tmp_path, "mine", 40, 500)  # least recent of all, but it is this server's: kept
    run = gc(tmp_path, "mine", 90 / 1024)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "newer"]
    assert "removing old" in run.stdout


def test_never_removes_its_own_cache_even_above_the_cap(tmp_path):
    cache(tmp_path, "mine", 20, 1000)
    run = gc(tmp_path, "mine", 10 / 1024)
    assert (tmp_path / "mine" / "triton" / "kernel.cubin").exists()
    assert "warning: still above the cap" in run.stdout


def test_refuses_a_key_that_is_a_path(tmp_path):
    run = gc(tmp_path, "../escape", 1)
    assert run.returncode == 1 and "is not a directory name" in run.stderr


def test_makes_its_directory_private_to_its_uid(tmp_path):
    assert gc(tmp_path, "vllm-abc-rev-tp1", 1).returncode == 0
    assert (tmp_path / "vllm-abc-rev-tp1").stat().st_mode & 0o777 == 0o700


def test_refuses_a_key_directory_others_may_write(tmp_path):
    (tmp_path / "vllm-abc-rev-tp1").mkdir()
    (tmp_path / "vllm-abc-rev-tp1").chmod(0o777)
    run = gc(tmp_path, "vllm-abc-rev-tp1", 1)
    assert run.returncode != 0
    assert "with mode 777" in run.stderr and "remove it on the node" in run.stderr


def test_refuses_a_key_that_is_a_symlink(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "vllm-abc-rev-tp1").symlink_to(tmp_path / "elsewhere")
    run = gc(tmp_path, "vllm-abc-rev-tp1", 1)
    assert run.returncode != 0
    assert "is not a directory (a symlink or a file)" in run.stderr


@pytest.mark.skipif(os.getuid() != 0, reason="making a directory another uid owns needs root (CI runs as root)")
def test_refuses_a_key_directory_another_uid_owns_and_never_evicts_its_caches(tmp_path):
    (tmp_path / "vllm-abc-rev-tp1").mkdir(mode=0o700)
    os.chown(tmp_path / "vllm-abc-rev-tp1", 1000, 1000)
    run = gc(tmp_path, "vllm-abc-rev-tp1", 1)
    assert run.returncode != 0
    assert "is owned by uid 1000" in run.stderr
    cache(tmp_path, "foreign", 2, used_at=1)
    os.chown(tmp_path / "foreign", 1000, 1000)
    assert gc(tmp_path, "sglang-def-rev-tp1", 0).returncode == 0
    assert (tmp_path / "foreign").is_dir()
