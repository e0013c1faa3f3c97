"""The command-line tools each third-party image our pod scripts run in ships, from the images'
published build files, and a PATH holding only those (the host's binaries of the same names stand in).
A script that calls anything else fails here as it would in the image.

- quay.io/minio/mc: minio/mc Dockerfile.release, FROM registry.access.redhat.com/ubi9/ubi-micro (bash as
  /bin/sh, coreutils-single) plus /usr/bin/mc. No grep, sed or awk.
- peakcom/s5cmd:v2.3.0: peak/s5cmd Dockerfile, FROM alpine:3.20 (busybox and its applets) plus /s5cmd.
"""

import os
import pathlib
import shutil

COREUTILS = [
    "basename", "cat", "chmod", "cp", "cut", "date", "dirname", "echo", "env", "false", "head", "ls", "mkdir",
    "mktemp", "mv", "od", "printf", "rm", "sha256sum", "sleep", "sort", "stat", "tail", "tee", "test", "touch",
    "tr", "true", "uniq", "wc",
]  # fmt: skip
BUSYBOX_APPLETS = [*COREUTILS, "awk", "find", "grep", "gzip", "sed", "tar", "wget", "xargs"]

IMAGE_TOOLS = {
    "mc": ["sh", "mc", *COREUTILS],
    "s5cmd": ["sh", "s5cmd", *BUSYBOX_APPLETS],
}


def image_path(directory: pathlib.Path, image: str, provided: dict[str, pathlib.Path] | None = None) -> str:
    """A PATH of one directory linking only IMAGE's tools: `provided` (stand-ins, e.g. a fake mc) first,
    then the host's binaries of the same names."""
    directory.mkdir(parents=True, exist_ok=True)
    provided = provided or {}
    for tool in IMAGE_TOOLS[image]:
        source = provided.get(tool) or shutil.which(tool)
        if source and not (directory / tool).exists():
            os.symlink(source, directory / tool)
    return str(directory)
