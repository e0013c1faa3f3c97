"""Revision cleanup: once a model's new revision is verified and served, remove superseded copies
from its cache so disks do not fill revision after revision.

Usage: prune_revisions.py MODEL_ROOT CURRENT KEEP
  MODEL_ROOT  the directory holding the model's revisions (<cache root>/<org>/<name>)
  CURRENT     the revision being served (a directory under MODEL_ROOT, carrying the marker)
  KEEP        how many verified revisions stay, the current one included (storage.keepRevisions)

Keeps CURRENT and the KEEP - 1 most recently published other revisions (by their marker's time);
removes the rest, the `.partial` leftovers of interrupted preloads and unmarked directories (a removal
interrupted earlier). The marker goes first, so a removal cut short never looks like a verified copy.
Refuses to touch anything while CURRENT is not verified.
"""

import pathlib
import shutil
import sys

VERIFIED_MARKER = ".verified"
GIB = 1024**3


def size_of(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def plan(root, current, keep):
    """Returns (kept, removed): revision directory names, newest first."""
    verified, other = [], []
    for entry in root.iterdir():
        if not entry.is_dir() or entry.is_symlink() or entry.name == current:
            continue
        marker = entry / VERIFIED_MARKER
        if marker.is_file() and not entry.name.endswith(".partial"):
            verified.append((marker.stat().st_mtime, entry.name))
        else:
            other.append(entry.name)
    newest = [name for _, name in sorted(verified, reverse=True)]
    return [current] + newest[: keep - 1], newest[keep - 1 :] + sorted(other)


def remove(path):
    (path / VERIFIED_MARKER).unlink(missing_ok=True)
    shutil.rmtree(path)


def main(argv):
    if len(argv) != 3 or not argv[2].isdigit() or int(argv[2]) < 1:
        sys.exit("usage: prune_revisions.py MODEL_ROOT CURRENT KEEP (KEEP >= 1)")
    root, current, keep = pathlib.Path(argv[0]), argv[1], int(argv[2])
    if not (root / current / VERIFIED_MARKER).is_file():
        sys.exit(f"FATAL: {root / current} is not a verified copy; nothing was removed")
    kept, removed = plan(root, current, keep)
    freed = 0
    for name in removed:
        size = size_of(root / name)
        print(f"removing {root / name} ({size / GIB:.2f} GiB)")
        remove(root / name)
        freed += size
    print(f"kept {', '.join(kept)}; freed {freed / GIB:.2f} GiB in {root}")


if __name__ == "__main__":
    main(sys.argv[1:])
