"""compile_cache_gc.py on a real directory tree: makes and marks this server's directory, and keeps
the node's compile caches under the cap by removing the least recently used others, never its own."""

import os
import pathlib
import subprocess
import sys

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
