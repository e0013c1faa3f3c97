"""Serving init step for s3Streaming (python image, s5cmd on PATH): before the engine streams a model
from the bucket, every file of its manifest must be there with the manifest's size, so a missing or
truncated object fails the pod naming the file instead of a load error deep in the engine. One
listing of the prefix: it costs a second or two, not a second read of the weights.

Environment: BUCKET, PREFIX, AWS_ENDPOINT_URL and the other AWS_* values.
"""

import json
import os
import shutil
import subprocess
import sys


def main():
    source = f"s3://{os.environ['BUCKET']}/{os.environ['PREFIX']}"
    s5cmd = [shutil.which("s5cmd") or "/s5cmd", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]]
    manifest = subprocess.run(s5cmd + ["cat", f"{source}/manifest.json"], check=False, capture_output=True, text=True)
    if manifest.returncode != 0:
        answer = (manifest.stderr.strip().splitlines() or ["no answer"])[-1]
        sys.exit(f"FATAL: cannot read {source}/manifest.json (the mirror has not completed, or the credentials cannot read it): {answer}")
    expected = {f["path"]: f["size"] for f in json.loads(manifest.stdout).get("files", [])}
    listing = subprocess.run(s5cmd + ["--json", "ls", f"{source}/*"], check=False, capture_output=True, text=True)
    if listing.returncode != 0:
        sys.exit(f"FATAL: cannot list {source}/: {(listing.stderr.strip().splitlines() or ['no answer'])[-1]}")
    stored = {}
    for line in listing.stdout.splitlines():
        entry = json.loads(line)
        if entry.get("type") == "file":
            stored[entry["key"].removeprefix(f"{source}/")] = entry["size"]
    problems = []
    for path, size in sorted(expected.items()):
        if path not in stored:
            problems.append(f"{path}: missing (manifest: {size} bytes)")
        elif stored[path] != size:
            problems.append(f"{path}: {stored[path]} bytes, manifest: {size}")
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(f"FATAL: {len(problems)} of {len(expected)} files of {source} do not match the manifest; mirror the model again")
    print(f"{source}: {len(expected)} files match the manifest ({sum(expected.values()) / 1024**3:.2f} GiB)")


if __name__ == "__main__":
    main()
