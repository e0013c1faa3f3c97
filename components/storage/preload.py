"""Preload (Python image, s5cmd on PATH): copy a mirrored model into DEST once, verify every sha256,
then publish it atomically with the `.verified` marker.

Each file is hashed (hashlib, one thread per CPU) the moment s5cmd reports it written, so hashing
overlaps the rest of the download. Resumable: files kept from an earlier attempt are skipped by
s5cmd (--if-size-differ) and hashed at the end. A mismatch deletes the bad files and fetches them
once more; a file that differs again is what the bucket holds, not a bad transfer. Only the
manifest's files are published: anything else in the partial directory (the temp file of a killed
copy) is removed before the rename.

Every failure exits 1 with a FATAL line, which the pod's termination message carries into the Job's
and `pulumi up`'s error; the Job retries twice, resuming from what was kept (a retry cannot help
when the store refuses the credentials or an object differs twice, and fails as fast).

Arguments: the s5cmd flags (global flags, `cp`, its flags). Environment: DEST, BUCKET, PREFIX,
AWS_ENDPOINT_URL and the other AWS_* values, CAPACITY_SETTING (the setting named when the volume is
too small), MANIFEST_WAIT_SECONDS (how long to wait for the mirror's manifest.json: applied without
Pulumi's ordering, as in GitOps, the Job may start before the mirror is done; default 0, no wait).
"""

import concurrent.futures
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

VERIFIED_MARKER = ".verified"
GIB = 1024**3
# What S3 servers answer when the credentials, not the network, are the problem.
REFUSALS = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "status code: 403", "Forbidden")


def check_capacity(part, source, sizes, capacity_setting):
    """Room for what is still to copy, checked before copying (the claim or quota was sized from config)."""
    kept = sum(size for path, size in sizes.items() if (part / path).is_file() and (part / path).stat().st_size == size)
    needed, free = sum(sizes.values()) - kept, shutil.disk_usage(part).free
    if needed > free:
        sys.exit(
            f"FATAL: {source} needs {needed / GIB:.1f} GiB more ({len(sizes)} files, {sum(sizes.values()) / GIB:.1f} GiB) "
            f"but {part.parent} has {free / GIB:.1f} GiB free; raise {capacity_setting}"
        )


def sha256(path):
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as error:
        return f"unreadable ({error.strerror})"


def copy_and_hash(s5cmd, flags, source, part, expected):
    """Runs the copy; returns {path: future sha256} for every manifest file."""
    pool = concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 4)
    hashes = {}
    copy = subprocess.Popen(s5cmd + ["--json"] + flags + ["--if-size-differ", f"{source}/*", f"{part}/"], stdout=subprocess.PIPE, text=True)
    for line in copy.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            print(line, end="")
            continue
        path = os.path.relpath(event.get("destination", ""), part)
        if event.get("success") and path in expected and path not in hashes:
            hashes[path] = pool.submit(sha256, part / path)
    if copy.wait() != 0:
        sys.exit(f"FATAL: s5cmd exited with {copy.returncode}; the retry resumes from {part}")
    for path in expected.keys() - hashes.keys():
        hashes[path] = pool.submit(sha256, part / path)  # kept from an earlier attempt
    return hashes


def verify(hashes, part, expected):
    """The files whose sha256 differs from the manifest, removed (so that the next copy fetches them)."""
    bad = sorted(path for path, digest in hashes.items() if digest.result() != expected[path])
    for path in bad:
        print(f"{path}: FAILED (sha256 {hashes[path].result()}, expected {expected[path]})", flush=True)
        (part / path).unlink(missing_ok=True)
    return bad


def publish(part, dest, expected):
    """Removes what the manifest does not list, marks the copy verified, renames it into place."""
    keep = set(expected) | {"manifest.sha256", "manifest.json"}
    for path in sorted(part.rglob("*"), reverse=True):
        name = path.relative_to(part).as_posix()
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif name not in keep:
            print(f"removing {name}: not in the manifest")
            path.unlink()
    (part / VERIFIED_MARKER).touch()
    shutil.rmtree(dest, ignore_errors=True)
    part.rename(dest)


def wait_for_manifest(s5cmd, source, deadline, poll=10.0):
    """manifest.json, which the mirror writes last: waited for while it is missing, up to `deadline`
    seconds; any other error (credentials, endpoint) fails at once."""
    start = time.monotonic()
    while True:
        listed = subprocess.run(s5cmd + ["cat", f"{source}/manifest.json"], check=False, capture_output=True, text=True)
        if listed.returncode == 0:
            return listed
        answer = (listed.stderr.strip().splitlines()[-1:] or ["no answer"])[0]
        # s5cmd: `given object s3://…/manifest.json not found` (a HEAD first), or the GET's NoSuchKey.
        missing = "NoSuchKey" in answer or answer.endswith("not found")
        waited = time.monotonic() - start
        if any(refusal in answer for refusal in REFUSALS):
            sys.exit(f"FATAL: the store refuses these credentials for {source}/manifest.json (check the reader's keys): {answer}")
        if not missing:
            sys.exit(f"FATAL: cannot read {source}/manifest.json (the store is unreachable or failing): {answer}")
        if waited >= deadline:
            sys.exit(
                f"FATAL: waited {waited:.0f} s (MANIFEST_WAIT_SECONDS={deadline:.0f}, the mirror's time budget) for {source}/manifest.json, "
                f"which the model's mirror Job writes last; it is still missing: see that Job's logs"
            )
        print(f"waiting for {source}/manifest.json (the mirror has not completed; {waited:.0f} of {deadline:.0f} s)", flush=True)
        time.sleep(min(poll, max(0.0, deadline - waited)))


def main(flags):
    dest = pathlib.Path(os.environ["DEST"])
    part = pathlib.Path(f"{dest}.partial")
    source = f"s3://{os.environ['BUCKET']}/{os.environ['PREFIX']}"
    s5cmd = [shutil.which("s5cmd") or "/s5cmd", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]]

    if (dest / VERIFIED_MARKER).exists():
        print(f"{dest} already present and verified")
        return
    listed = wait_for_manifest(s5cmd, source, float(os.environ.get("MANIFEST_WAIT_SECONDS", "0")))
    part.mkdir(parents=True, exist_ok=True)
    sizes = {f["path"]: f["size"] for f in json.loads(listed.stdout or "{}").get("files", [])}
    check_capacity(part, source, sizes, os.environ.get("CAPACITY_SETTING", "the volume size"))
    # The checksums first, so that every file can be checked the moment it lands.
    subprocess.run(s5cmd + ["cp", f"{source}/manifest.sha256", f"{part}/"], check=True, stdout=subprocess.DEVNULL)
    expected = dict(reversed(line.split("  ", 1)) for line in (part / "manifest.sha256").read_text().splitlines() if line)

    bad = verify(copy_and_hash(s5cmd, flags, source, part, expected), part, expected)
    if bad:
        print(f"fetching {len(bad)} file(s) again", flush=True)
        again = verify(copy_and_hash(s5cmd, flags, source, part, expected), part, expected)
        if again:
            sys.exit(
                f"FATAL: sha256 verification failed twice for {', '.join(again)} under {source}: the bucket holds other bytes than "
                "the mirror recorded in manifest.sha256 (mirror that revision again); the bad files were removed"
            )
    publish(part, dest, expected)
    print(f"{dest} verified ({len(expected)} files)")


if __name__ == "__main__":
    main(sys.argv[1:])
