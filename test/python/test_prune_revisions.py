"""prune_revisions.py on a real directory tree: keeps the served revision and the newest others up
to storage.keepRevisions, removes the rest and leftovers, and never touches anything while the
served revision is not verified."""

import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "components" / "storage" / "prune_revisions.py"


def revision(root, name, published_at, verified=True):
    path = root / name
    (path / "sub").mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"w" * 1024)
    (path / "sub" / "tokenizer.json").write_text("{}")
    if verified:
        (path / ".verified").touch()
        os.utime(path / ".verified", (published_at, published_at))
    return path


def prune(root, current, keep):
    return subprocess.run([sys.executable, SCRIPT, str(root), current, str(keep)], check=False, capture_output=True, text=True, timeout=30)


@pytest.fixture()
def root(tmp_path):
    root = tmp_path / "models" / "org" / "Model"
    revision(root, "rev-a", 1000)
    revision(root, "rev-b", 2000)
    revision(root, "rev-c", 3000)
    revision(root, "rev-d", 500)  # the one being served: published before the others' times
    return root


def names(root):
    return sorted(p.name for p in root.iterdir())


def test_keep_1_leaves_only_the_served_revision(root):
    run = prune(root, "rev-d", 1)
    assert run.returncode == 0, run.stderr
    assert names(root) == ["rev-d"]
    assert (root / "rev-d" / "model.safetensors").exists() and (root / "rev-d" / ".verified").exists()
    assert "kept rev-d; freed" in run.stdout


def test_keep_2_also_keeps_the_newest_other_revision(root):
    run = prune(root, "rev-d", 2)
    assert run.returncode == 0, run.stderr
    assert names(root) == ["rev-c", "rev-d"]
    assert "removing" in run.stdout and "rev-a" in run.stdout and "rev-b" in run.stdout


def test_leftovers_of_interrupted_preloads_and_removals_go(root):
    (root / "rev-e.partial").mkdir()
    (root / "rev-e.partial" / "model.safetensors").write_bytes(b"partial")
    revision(root, "rev-f", 4000, verified=False)  # a removal cut short: marker already gone
    run = prune(root, "rev-d", 3)
    assert run.returncode == 0, run.stderr
    assert names(root) == ["rev-b", "rev-c", "rev-d"]


def test_nothing_is_removed_while_the_served_revision_is_not_verified(root):
    (root / "rev-d" / ".verified").unlink()
    run = prune(root, "rev-d", 1)
    assert run.returncode == 1
    assert "is not a verified copy; nothing was removed" in run.stderr
    assert names(root) == ["rev-a", "rev-b", "rev-c", "rev-d"]


def test_a_missing_served_revision_removes_nothing(root):
    run = prune(root, "rev-z", 1)
    assert run.returncode == 1
    assert names(root) == ["rev-a", "rev-b", "rev-c", "rev-d"]


def test_a_symlinked_entry_is_never_followed(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep-me").write_text("data")
    (root / "link").symlink_to(outside)
    run = prune(root, "rev-d", 1)
    assert run.returncode == 0, run.stderr
    assert (outside / "keep-me").exists()


@pytest.mark.parametrize("keep", ["0", "-1", "two"])
def test_a_bad_keep_count_is_refused(root, keep):
    run = subprocess.run([sys.executable, SCRIPT, str(root), "rev-d", keep], check=False, capture_output=True, text=True)
    assert run.returncode == 1 and "KEEP >= 1" in run.stderr
    assert names(root) == ["rev-a", "rev-b", "rev-c", "rev-d"]
