"""Compile-cache housekeeping (python image, as the engine's uid), before the engine starts: make
this server's cache directory (0700, its own), refuse one that another user owns or may write (the
engine would load code planted there), mark it used, and keep the node's compile caches under a size
cap by removing the least recently used other directories of the same uid (the root is sticky:
another user's are not ours to remove).

Usage: compile_cache_gc.py ROOT KEY MAX_GIB
  ROOT     the node's compile-cache directory (hostPath, sticky and world-writable)
  KEY      this server's directory: engine, image, model revision, tensor-parallel size (and GPU
           product when the placement names it), so a stale cache is never reused
  MAX_GIB  the cap for everything under ROOT
"""

import os
import pathlib
import shutil
import stat
import sys
import time

GIB = 1024**3


def size_of(path):
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass  # removed meanwhile by another server's housekeeping
    return total


def refuse_unless_own(directory):
    """An existing key directory is used only if it is a real directory this uid owns that no other
    user may write; anything else could hold compiled code someone else put there."""
    st = directory.lstat()
    if not stat.S_ISDIR(st.st_mode):
        sys.exit(f"FATAL: {directory} is not a directory (a symlink or a file); remove it on the node")
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        sys.exit(
            f"FATAL: {directory} is owned by uid {st.st_uid} with mode {stat.S_IMODE(st.st_mode):o}; this server runs as uid "
            f"{os.getuid()} and loads compiled code only from a directory it owns that no other user may write: remove it on the node"
        )


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: compile_cache_gc.py ROOT KEY MAX_GIB")
    root, key, cap = pathlib.Path(argv[0]), argv[1], float(argv[2]) * GIB
    if "/" in key or key in ("", ".", ".."):
        sys.exit(f"FATAL: {key!r} is not a directory name")
    current = root / key
    try:
        current.mkdir(mode=0o700)
    except FileExistsError:
        refuse_unless_own(current)
    now = time.time()
    os.utime(current, (now, now))
    own = os.getuid()
    others = sorted(
        (d for d in root.iterdir() if d.is_dir() and not d.is_symlink() and d.name != key and d.stat().st_uid == own),
        key=lambda d: d.stat().st_mtime,
    )
    sizes = {d: size_of(d) for d in others}
    total = size_of(current) + sum(sizes.values())
    for directory in others:
        if total <= cap:
            break
        print(f"removing {directory.name} ({sizes[directory] / GIB:.2f} GiB, least recently used)")
        shutil.rmtree(directory, ignore_errors=True)
        if not directory.exists():
            total -= sizes[directory]
    print(f"compile cache {key}: {total / GIB:.2f} GiB under {root} (cap {cap / GIB:g} GiB)")
    if total > cap:
        print(f"warning: still above the cap; this server's own cache is {size_of(current) / GIB:.2f} GiB")


if __name__ == "__main__":
    main(sys.argv[1:])
