"""The one-node cluster's images, built here without Docker or a registry: a Debian bookworm root
filesystem (mmdebstrap), the project's Go-built binaries and PyPI wheels, written as `docker save`
archives that `ctr images import` takes. Cached by content under $LLM_SERVING_CACHE/images.

Each image is named for what it holds (llm-serving.local/<contents>:<versions>), never with an
upstream tag it does not match:
  pause           the sandbox process (toolchain/pause)
  debian-python   python3 + huggingface_hub + boto3 at the versions the mirror Job pins
  debian-s5cmd    s5cmd at the version the toolchain builds
  debian-minio    the MinIO server, debian-mc the MinIO client (module pseudo-versions)
  vllm-standin    a CPU STAND-IN for vLLM (test/node/standin): not vLLM
  sglang-standin  the same stand-in behind SGLang's launcher: not SGLang

    python3 scripts/node_images.py build   builds what is missing; prints a directory holding one
                                           <role>.tar per image and images.json ({role: reference})
"""

import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = pathlib.Path(os.environ.get("LLM_SERVING_CACHE", pathlib.Path.home() / ".cache" / "llm-serving")) / "images"
REGISTRY = "llm-serving.local"
SUITE = "bookworm"
# libstdc++6: numpy's manylinux wheels expect the system's C++ runtime.
DEBIAN_PACKAGES = ["python3", "ca-certificates", "libstdc++6"]
SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"
# Wheels that run on bookworm (glibc 2.36): pip before 24 does not widen a --platform by itself.
PLATFORMS = [f"--platform=manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)] + ["--platform=manylinux2014_x86_64"]


def log(message):
    print(f"node-images: {message}", file=sys.stderr, flush=True)


def pinned(pattern, path):
    match = re.search(pattern, (ROOT / path).read_text())
    if not match:
        sys.exit(f"node-images: no {pattern!r} in {path}")
    return match.group(1)


def toolchain_bin():
    return pathlib.Path(
        subprocess.run(["bash", "scripts/toolchain.sh", "s3", "node"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    )


def base_layer():
    """Debian bookworm's essential packages plus python3, as one layer (mmdebstrap writes the tar)."""
    key = hashlib.sha256(json.dumps([SUITE, DEBIAN_PACKAGES]).encode()).hexdigest()[:12]
    tar = CACHE / "layers" / f"debian-{SUITE}-{key}.tar"
    if not tar.exists():
        log(f"building the Debian {SUITE} root filesystem (mmdebstrap, about 1 min)")
        tar.parent.mkdir(parents=True, exist_ok=True)
        partial = tar.with_suffix(".partial.tar")
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=essential",
                "--include=" + ",".join(DEBIAN_PACKAGES),
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                SUITE,
                str(partial),
                "http://deb.debian.org/debian",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        partial.rename(tar)
    return tar


def layer_from(files, links=()):
    """An uncompressed layer tar (bytes) of {path in image: (source path | bytes, mode)} and symlinks."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(p) for path in [*files, *(a for a, _ in links)] for p in pathlib.PurePosixPath(path).parents if str(p) != "."})
        for directory in dirs:
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, (source, mode) in sorted(files.items()):
            data = source if isinstance(source, bytes) else pathlib.Path(source).read_bytes()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for path, target in links:
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def tree_files(directory, prefix):
    """{prefix/relative path: (file, mode)} for every file under directory (pip's --target output)."""
    files = {}
    for path in sorted(pathlib.Path(directory).rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[f"{prefix}/{path.relative_to(directory).as_posix()}"] = (path, 0o755 if os.access(path, os.X_OK) else 0o644)
    return files


def wheels_layer(requirements, without_dependencies=()):
    """The wheels of `requirements` (and their dependencies) and of `without_dependencies` (alone)
    for CPython 3.11 on x86_64, unpacked into Debian's site directory by pip."""
    with tempfile.TemporaryDirectory() as target:
        for packages, deps in ((requirements, []), (without_dependencies, ["--no-deps"])):
            if not packages:
                continue
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--root-user-action=ignore",
                    "--no-warn-conflicts",
                    "--no-compile",
                    "--only-binary=:all:",
                    *PLATFORMS,
                    "--python-version=3.11",
                    "--implementation=cp",
                    *deps,
                    "--target",
                    target,
                    *packages,
                ],
                check=True,
            )
        # Console scripts name the build machine's interpreter: point them at the image's.
        bin_dir = pathlib.Path(target) / "bin"
        for script in bin_dir.glob("*") if bin_dir.exists() else []:
            text = script.read_text()
            script.write_text(re.sub(r"^#!.*", "#!/usr/bin/python3", text, count=1))
        files = tree_files(target, SITE_PACKAGES)
        scripts = {f"usr/local/bin/{p.name}": (p.read_bytes(), 0o755) for p in sorted(bin_dir.glob("*"))} if bin_dir.exists() else {}
        for name in scripts:
            files.pop(f"{SITE_PACKAGES}/bin/{pathlib.PurePosixPath(name).name}", None)
        return layer_from({**files, **scripts})


def archive_path(name, tag, *inputs):
    """Where the archive of name:tag built from `inputs` (the base layer, sources, pins) is cached."""
    return CACHE / f"{name}-{tag}-{content_key(*inputs)}.tar"


def write_image(role, reference, out, layers, config):
    """A `docker save` archive at `out` of the layers (paths or bytes, base first), named `reference`."""
    if out.exists():
        return reference, out
    log(f"writing {reference}")
    partial = out.with_suffix(".partial")
    diff_ids, members = [], []
    with tarfile.open(partial, "w") as archive:
        for layer in layers:
            data = layer if isinstance(layer, bytes) else None
            digest = hashlib.sha256()
            if data is None:
                with open(layer, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        digest.update(chunk)
            else:
                digest.update(data)
            member = f"{digest.hexdigest()}/layer.tar"
            info = tarfile.TarInfo(member)
            info.size = len(data) if data is not None else os.path.getsize(layer)
            if data is not None:
                archive.addfile(info, io.BytesIO(data))
            else:
                with open(layer, "rb") as f:
                    archive.addfile(info, f)
            diff_ids.append(f"sha256:{digest.hexdigest()}")
            members.append(member)
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], **config},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"scripts/node_images.py ({role})"}],
        }
        config_bytes = json.dumps(image_config, sort_keys=True).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        manifest = json.dumps([{"Config": config_name, "RepoTags": [reference], "Layers": members}]).encode()
        for member, data in [(config_name, config_bytes), ("manifest.json", manifest)]:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    partial.rename(out)
    return reference, out


def content_key(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode())
    return digest.hexdigest()[:10]


def build():
    CACHE.mkdir(parents=True, exist_ok=True)
    bin_dir = toolchain_bin()
    base = base_layer()
    images = {}

    pause = bin_dir / "pause"
    tag = content_key(pause.read_bytes())
    out = archive_path("pause", tag)
    images["pause"] = write_image("pause", f"{REGISTRY}/pause:{tag}", out, [layer_from({"pause": (pause, 0o755)})], {"Entrypoint": ["/pause"]})

    hub = pinned(r'HF_HUB_VERSION = "([^"]+)"', "components/mirror/modelMirror.ts")
    boto3 = pinned(r'BOTO3_VERSION = "([^"]+)"', "components/mirror/modelMirror.ts")
    tag = f"{SUITE}-hub{hub}-boto3-{boto3}"
    out = archive_path("debian-python", tag, base.name)
    layers = [base, None if out.exists() else wheels_layer([f"huggingface_hub=={hub}", f"boto3=={boto3}"])]
    images["python"] = write_image("python", f"{REGISTRY}/debian-python:{tag}", out, layers, {"Cmd": ["python3"]})

    for role, binary, entrypoint in [("s5cmd", "s5cmd", None), ("minio", "minio", ["minio"]), ("mc", "mc", None)]:
        path = (bin_dir / binary).resolve()
        version = path.name.removeprefix(f"{binary}-")
        out = archive_path(f"debian-{binary}", version, base.name)
        layers = [base, None if out.exists() else layer_from({f"usr/local/bin/{binary}": (path, 0o755)})]
        images[role] = write_image(role, f"{REGISTRY}/debian-{binary}:{version}", out, layers, {"Entrypoint": entrypoint} if entrypoint else {})

    standin = ROOT / "test" / "node" / "standin"
    requirements = (standin / "requirements.txt").read_text().split()
    # The Run:ai streamer for s3:// models, without torch: the stand-in drives its C++ core directly.
    streamer = (standin / "streamer.txt").read_text().split()
    engine = (standin / "engine_standin.py").read_bytes()
    pins = {
        "vllm": pinned(r'"vllm/vllm-openai:v([0-9.]+)"', "components/engines/vllm.ts"),
        "sglang": pinned(r'"lmsysorg/sglang:v([0-9.]+)"', "components/engines/sglang.ts"),
    }
    # How each image starts the stand-in: the command the program renders for the engine.
    launchers = {
        "vllm": {
            "usr/local/bin/vllm": b'#!/bin/sh\n# A CPU STAND-IN for vLLM (llm-serving node tests), not vLLM.\nexec python3 /opt/standin/engine_standin.py vllm "$@"\n'
        },
        "sglang": {
            f"{SITE_PACKAGES}/sglang/__init__.py": b'"""A CPU STAND-IN for SGLang (llm-serving node tests), not SGLang."""\n',
            f"{SITE_PACKAGES}/sglang/launch_server.py": (
                b'"""`python3 -m sglang.launch_server`: the CPU STAND-IN (llm-serving node tests), not SGLang."""\n\n'
                b"import os\nimport sys\n\n"
                b'os.execv(sys.executable, [sys.executable, "/opt/standin/engine_standin.py", "sglang", *sys.argv[1:]])\n'
            ),
        },
    }
    wheels = None
    for name, version in pins.items():
        flags = subprocess.run([sys.executable, str(standin / "engine_flags.py"), name, version], check=True, capture_output=True).stdout
        launcher = launchers[name]
        tag = f"{version}-{content_key(engine, flags, *requirements, *streamer, *sorted(launcher.items()))}"
        out = archive_path(f"{name}-standin", tag, base.name)
        layers = [base, None, None]
        if not out.exists():
            wheels = wheels or wheels_layer(requirements, streamer)
            files = {"opt/standin/engine_standin.py": (engine, 0o644), f"opt/standin/flags-{name}.json": (flags, 0o644)}
            files.update({path: (text, 0o755 if path.startswith("usr/local/bin/") else 0o644) for path, text in launcher.items()})
            layers[1:] = [wheels, layer_from(files)]
        labels = {"Labels": {"llm-serving.io/stand-in": f"a CPU stand-in for {name}, not {name}"}}
        images[name] = write_image(name, f"{REGISTRY}/{name}-standin:{tag}", out, layers, labels)

    current = CACHE / "current"
    shutil.rmtree(current, ignore_errors=True)
    current.mkdir()
    for role, (reference, path) in images.items():
        (current / f"{role}.tar").symlink_to(path)
    (current / "images.json").write_text(json.dumps({role: reference for role, (reference, _) in images.items()}, indent=1))
    (current / "pause.ref").write_text(images["pause"][0])
    print(current)


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python3 scripts/node_images.py build")
    build()
