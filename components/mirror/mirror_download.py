"""Mirror step 2, in the mirror Job's Python image: choose the files the engines load from the
Hugging Face repo, check that they fit before downloading anything, download exactly those with the
hf CLI, hash every file (a thread per CPU the container may use: hashlib releases the GIL; each
thread reads 1 MiB at a time, so memory stays flat whatever the part size), and write the manifests. It
also installs the upload step's boto3 beside huggingface_hub in /work/pip, unless the image already
has both at the pinned versions (images built for clusters without a package index).

The same pass hashes each upload part: the upload sends every part with its SHA-256, so the store
refuses bytes that differ from the ones hashed here, and keeps the object's S3 checksum, which the
manifest records (`s3Sha256`) for the s3Streaming init step to compare from a HEAD.

Environment: MIRROR_WORK (default /work, the Job's scratch volume), HF_REPO, HF_REVISION, HF_HUB_VERSION,
BOTO3_VERSION; HF_INCLUDE / HF_EXCLUDE (JSON lists of globs, `models[].include` / `exclude`);
SIZE_GIB (`models[].sizeGiB`), SCRATCH_GIB (the download volume); PART_MIB (the upload's part size,
`storage.preload.partSizeMiB`); CONFIG_PATH (the model's config key, for error messages); HF_ENDPOINT
and HF_TOKEN when set; MIRROR_FAILED_FILE: in the Job, a failure is written there and the step exits
0, for the upload step (the pod's main container) to fail with it: Pulumi reports the termination
message of a Job pod's main container only, never its init containers'.
"""

import base64
import concurrent.futures
import fnmatch
import hashlib
import json
import math
import os
import pathlib
import subprocess
import sys
import traceback

GIB = 1024**3
MIB = 1024**2
# Where the mirror's Hub token comes from (its Secret is filled from this stack setting).
TOKEN_SETTING = "llm-serving:hfToken"
# S3 takes at most 10,000 parts per object.
MAX_PARTS = 10_000
# What one hashing thread holds at a time: a part is hashed in reads of this size, never buffered whole.
READ_BYTES = MIB
# What vLLM and SGLang read: safetensors weights and their index, configs, tokenizer and generation
# files, chat templates, remote code. Everything else in a repo (`original/` checkpoints, images,
# ONNX or GGUF copies) is never loaded.
DEFAULT_INCLUDE = ["*.safetensors", "*.json", "*.model", "*.tiktoken", "*.txt", "*.jinja", "*.py"]
# PyTorch pickles only when a repo has no safetensors, the first kind present (vLLM's order).
FALLBACK_WEIGHTS = ["*.bin", "*.pt"]
# The sizes the Hub lists may exceed sizeGiB by this much before the mirror refuses to start.
SIZE_HEADROOM = 0.10


class Refused(Exception):
    """The selection cannot be mirrored as configured; the message names the key to change."""


def matches(path, patterns):
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def select(files, include=None, exclude=()):
    """The files to mirror from {path: size}: `include` (default: what the engines load) minus
    `exclude`, sorted."""
    if include is None:
        include = list(DEFAULT_INCLUDE)
        if not any(fnmatch.fnmatchcase(path, "*.safetensors") for path in files):
            include += next(([p] for p in FALLBACK_WEIGHTS if any(fnmatch.fnmatchcase(f, p) for f in files)), [])
    return sorted(path for path in files if matches(path, include) and not matches(path, exclude))


def hub_refusal(status, message, token_set, endpoint):
    """What a 401/403 from the Hub means for this stack, naming the setting to fix."""
    hub = f"the Hub at {endpoint}"
    if status == 401 and token_set:
        return f"{hub} refuses the token in {TOKEN_SETTING} (HTTP 401: {message}); set a valid read token: pulumi config set --secret {TOKEN_SETTING} hf_..."
    if status == 401:
        return f"{hub} answers HTTP 401 without a token: the repo is gated or private and {TOKEN_SETTING} is not set ({message})"
    return (
        f"{hub} refuses the token in {TOKEN_SETTING} for this repo (HTTP 403: {message}); request access to the gated repo with that token's account"
    )


def check_fits(files, chosen, size_gib, scratch_gib, key):
    """Raises Refused when the chosen files are none, or larger than sizeGiB allows or the scratch
    volume holds; returns their total size in bytes."""
    if not chosen:
        raise Refused(f"no file of the repo matches {key}.include / exclude (the repo has {len(files)} files)")
    total = sum(files[path] for path in chosen)
    if total > size_gib * GIB * (1 + SIZE_HEADROOM):
        raise Refused(
            f"the {len(chosen)} files to mirror are {total / GIB:.1f} GiB, more than {key}.sizeGiB = {size_gib:g} "
            f"(+{SIZE_HEADROOM:.0%}); raise {key}.sizeGiB to at least {-(-total // GIB)} or narrow {key}.include / exclude"
        )
    if total > (scratch_gib - 1) * GIB:
        raise Refused(
            f"the {len(chosen)} files to mirror are {total / GIB:.1f} GiB, more than the {scratch_gib:g} GiB scratch volume "
            f"holds with the hf CLI's metadata; raise {key}.sizeGiB to at least {-(-total // GIB)}"
        )
    return total


def part_bytes_for(size, part_bytes):
    """The upload's part size for a file of `size` bytes: `part_bytes`, grown by whole MiB when the
    file would need more than MAX_PARTS parts."""
    least = -(-size // MAX_PARTS)
    return max(part_bytes, -(-least // MIB) * MIB)


def b64(digest):
    return base64.b64encode(digest).decode()


def s3_sha256(whole, parts):
    """The SHA-256 checksum S3 keeps for the object: the file's own for a single PUT, else the
    composite of a multipart upload (the SHA-256 of the parts' digests, `-N`)."""
    if len(parts) <= 1:
        return b64(whole)
    return f"{b64(hashlib.sha256(b''.join(parts)).digest())}-{len(parts)}"


def cgroup_cpu_limit(root="/sys/fs/cgroup"):
    """The container's CPU limit in cores (cgroup v2 cpu.max, else v1 cfs quota), or None when unlimited."""
    root = pathlib.Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def hashing_threads(root="/sys/fs/cgroup"):
    """One thread per CPU the container may use: its CPU limit, else the CPUs it may run on (never the
    node's count: os.cpu_count() reports every core of a 96-core node to a container limited to two)."""
    cpus = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit(root)
    return max(1, min(cpus, math.ceil(limit))) if limit else cpus


def describe(model_dir, path, part_bytes):
    """One read of the file: its SHA-256, and the SHA-256 of each upload part, in READ_BYTES reads."""
    part = part_bytes_for(path.stat().st_size, part_bytes)
    whole, parts = hashlib.sha256(), []
    with path.open("rb") as fh:
        while True:
            hashed, digest = 0, hashlib.sha256()
            while hashed < part and (chunk := fh.read(min(READ_BYTES, part - hashed))):
                whole.update(chunk)
                digest.update(chunk)
                hashed += len(chunk)
            if hashed == 0:
                break
            parts.append(digest.digest())
    entry = {
        "path": path.relative_to(model_dir).as_posix(),
        "size": path.stat().st_size,
        "sha256": whole.hexdigest(),
        "s3Sha256": s3_sha256(whole.digest(), parts),
    }
    return entry, {"partBytes": part, "parts": [b64(p) for p in parts]}


def write_manifests(work, model_dir, repo, revision, part_bytes):
    """manifest.sha256 (in the model, for sha256sum), manifest.json (uploaded last) and parts.json
    (the upload's part digests, never uploaded); returns the manifest's files."""
    # Never the hf CLI's .cache, nor manifest.sha256 itself (there when the step runs again).
    paths = sorted(
        p for p in model_dir.rglob("*") if p.is_file() and ".cache" not in p.relative_to(model_dir).parts and p != model_dir / "manifest.sha256"
    )
    with concurrent.futures.ThreadPoolExecutor(hashing_threads()) as pool:
        described = list(pool.map(lambda p: describe(model_dir, p, part_bytes), paths))
    files = [entry for entry, _ in described]
    (model_dir / "manifest.sha256").write_text("".join(f"{f['sha256']}  {f['path']}\n" for f in files))
    (work / "manifest.json").write_text(json.dumps({"repo": repo, "revision": revision, "files": files}, indent=1))
    (work / "parts.json").write_text(json.dumps({entry["path"]: parts for entry, parts in described}))
    return files


def preinstalled():
    """Whether the image already has the pinned huggingface_hub and boto3 (an image built for clusters
    without a package index): then nothing is installed."""
    from importlib import metadata

    try:
        return metadata.version("huggingface_hub") == os.environ.get("HF_HUB_VERSION") and metadata.version("boto3") == os.environ.get(
            "BOTO3_VERSION"
        )
    except metadata.PackageNotFoundError:
        return False


def main(work):
    repo, revision = os.environ["HF_REPO"], os.environ["HF_REVISION"]
    key = os.environ.get("CONFIG_PATH", "llm-serving:models[]")
    remote = work / "remote-manifest.json"
    if remote.exists():
        existing = json.loads(remote.read_text())
        if existing.get("repo") == repo and existing.get("revision") == revision and existing.get("files"):
            print(f"{repo}@{revision} already mirrored ({len(existing['files'])} files); nothing to do")
            (work / "skip").touch()
            return 0
        sys.exit(f"FATAL: manifest.json at this prefix names {existing.get('repo')}@{existing.get('revision')}, expected {repo}@{revision}")

    pip = work / "pip"
    if preinstalled():
        print(f"huggingface_hub {os.environ['HF_HUB_VERSION']} and boto3 {os.environ['BOTO3_VERSION']} are in the image; nothing to install")
        hf = [sys.executable, "-m", "huggingface_hub.cli.hf"]
    else:
        if not (pip / "huggingface_hub").exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-cache-dir",
                    "--target",
                    str(pip),
                    "huggingface_hub==" + os.environ["HF_HUB_VERSION"],
                    "boto3==" + os.environ["BOTO3_VERSION"],
                ],
                check=True,
            )
        sys.path.insert(0, str(pip))
        hf = [str(pip / "bin" / "hf")]
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.hf_api import RepoFile

    try:
        files = {item.path: item.size for item in HfApi().list_repo_tree(repo, revision=revision, recursive=True) if isinstance(item, RepoFile)}
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status not in (401, 403):
            raise
        message = error.response.headers.get("X-Error-Message") or error.response.reason_phrase
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        sys.exit(f"FATAL: {repo}@{revision}: {hub_refusal(status, message, bool(os.environ.get('HF_TOKEN')), endpoint)}")
    include = json.loads(os.environ["HF_INCLUDE"]) if os.environ.get("HF_INCLUDE") else None
    exclude = json.loads(os.environ.get("HF_EXCLUDE") or "[]")
    chosen = select(files, include, exclude)
    try:
        total = check_fits(files, chosen, float(os.environ["SIZE_GIB"]), float(os.environ["SCRATCH_GIB"]), key)
    except Refused as refused:
        sys.exit(f"FATAL: {repo}@{revision}: {refused}")
    print(f"mirroring {len(chosen)} of {len(files)} files, {total / GIB:.2f} GiB")

    model_dir = work / "model"
    env = dict(os.environ, PYTHONPATH=str(pip))
    subprocess.run([*hf, "download", repo, *chosen, "--revision", revision, "--local-dir", str(model_dir)], check=True, env=env)
    described = write_manifests(work, model_dir, repo, revision, int(os.environ["PART_MIB"]) * MIB)
    missing = sorted(set(chosen) - {f["path"] for f in described})
    if missing:
        sys.exit(f"FATAL: the download lacks {len(missing)} selected files, e.g. {missing[0]}")
    print(f"downloaded {len(described)} files, {sum(f['size'] for f in described)} bytes")
    return 0


def deferring_failure(step, failure_file):
    """Runs `step`; when it fails and `failure_file` is set, writes why there and returns 0."""
    try:
        return step()
    except SystemExit as stop:
        if not failure_file or stop.code in (0, None):
            raise
        message = stop.code if isinstance(stop.code, str) else f"FATAL: the download step exited {stop.code}"
    except Exception as error:
        if not failure_file:
            raise
        traceback.print_exc()
        message = f"FATAL: the download step failed: {type(error).__name__}: {error}"
    print(message, file=sys.stderr)
    pathlib.Path(failure_file).write_text(message + "\n")
    return 0


if __name__ == "__main__":
    work_dir = pathlib.Path(os.environ.get("MIRROR_WORK", "/work"))
    failure_file = os.environ.get("MIRROR_FAILED_FILE")
    if failure_file and pathlib.Path(failure_file).exists():
        # The bucket check failed before this step: nothing to download; the upload step reports it.
        print(f"not downloading: an earlier step failed ({failure_file})")
        sys.exit(0)
    sys.exit(deferring_failure(lambda: main(work_dir), failure_file))
