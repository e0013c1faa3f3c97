"""The mirror's download step end to end: mirror_download.py with the pinned huggingface_hub and
its hf CLI against a local Hub emulator (HF_ENDPOINT) serving a generated model repo that also
ships an `original/` checkpoint, as Llama repos do."""

import hashlib
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys

import huggingface_hub
import pytest
from hub_emulator import HubEmulator

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "components" / "mirror" / "mirror_download.py"
REPO, COMMIT = "org/Tiny-Model", "0123456789abcdef0123456789abcdef01234567"
MIB = 1024**2


@pytest.fixture()
def hub(tmp_path):
    root = tmp_path / "repo"
    (root / "original").mkdir(parents=True)
    for name, size in [
        ("model-00001-of-00002.safetensors", 2 * MIB),
        ("model-00002-of-00002.safetensors", MIB),
        ("original/consolidated.00.pth", 3 * MIB),
    ]:
        (root / name).write_bytes(os.urandom(size))
    for name, text in [
        ("model.safetensors.index.json", '{"weight_map": {}}'),
        ("config.json", '{"model_type": "llama"}'),
        ("generation_config.json", "{}"),
        ("tokenizer.json", '{"version": "1.0"}'),
        ("README.md", "# Tiny"),
        ("original/params.json", '{"dim": 8}'),
    ]:
        (root / name).write_text(text)
    with HubEmulator(REPO, COMMIT, root) as emulator:
        yield emulator


def mirror(tmp_path, hub, preinstalled=False, **env):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    # The Job pip-installs huggingface_hub into /work/pip; here it is the one this venv has.
    link = work / "pip" / "huggingface_hub"
    if not preinstalled and not link.exists():
        (work / "pip" / "bin").mkdir(parents=True, exist_ok=True)
        link.symlink_to(pathlib.Path(huggingface_hub.__file__).parent)
        (work / "pip" / "bin" / "hf").symlink_to(pathlib.Path(shutil.which("hf", path=str(pathlib.Path(sys.executable).parent))))
    run_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "MIRROR_WORK": str(work),
        "HF_REPO": REPO,
        "HF_REVISION": COMMIT,
        "HF_HUB_VERSION": huggingface_hub.__version__,
        "HF_EXCLUDE": "[]",
        "SIZE_GIB": "1",
        "SCRATCH_GIB": "4",
        "PART_MIB": "5",
        "CONFIG_PATH": "llm-serving:models[0]",
        **env,
    }
    run = subprocess.run([sys.executable, str(SCRIPT)], check=False, env=run_env, capture_output=True, text=True, timeout=120)
    return run, work


def test_an_image_with_the_pinned_packages_installs_nothing(tmp_path, hub):
    """An image that ships huggingface_hub and boto3 at the pinned versions (the node tests' local
    Python image, air-gapped clusters) needs no package index: no /work/pip, the image's hf CLI."""
    run, work = mirror(tmp_path, hub, preinstalled=True, BOTO3_VERSION=importlib.metadata.version("boto3"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "are in the image; nothing to install" in run.stdout
    assert not (work / "pip").exists()
    assert "model-00001-of-00002.safetensors" in downloaded(hub)


def downloaded(hub):
    return sorted(r.split("/resolve/", 1)[1].split("/", 1)[1] for r in hub.requests if r.startswith("GET") and "/resolve/" in r)


def test_mirrors_what_the_engines_load_and_writes_the_manifests(tmp_path, hub):
    run, work = mirror(tmp_path, hub)
    assert run.returncode == 0, run.stdout + run.stderr
    expected = [
        "config.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "original/params.json",
        "tokenizer.json",
    ]
    assert "mirroring 7 of 9 files" in run.stdout
    assert downloaded(hub) == expected  # the original/ checkpoint was never fetched
    manifest = json.loads((work / "manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == expected
    for f in manifest["files"]:
        assert f["sha256"] == hashlib.sha256((hub.root / f["path"]).read_bytes()).hexdigest()
    sums = (work / "model" / "manifest.sha256").read_text().splitlines()
    assert [line.split("  ", 1)[1] for line in sums] == expected


def test_a_rerun_over_a_complete_mirror_downloads_nothing(tmp_path, hub):
    run, work = mirror(tmp_path, hub)
    assert run.returncode == 0, run.stderr
    shutil.copy(work / "manifest.json", work / "remote-manifest.json")
    hub.requests.clear()
    again, _ = mirror(tmp_path, hub)
    assert again.returncode == 0, again.stderr
    assert "already mirrored (7 files); nothing to do" in again.stdout
    assert (work / "skip").exists() and hub.requests == []


def test_include_and_exclude_are_honoured(tmp_path, hub):
    run, _work = mirror(tmp_path, hub, HF_INCLUDE='["*.safetensors", "config.json"]', HF_EXCLUDE='["model-00002-*"]')
    assert run.returncode == 0, run.stderr
    assert downloaded(hub) == ["config.json", "model-00001-of-00002.safetensors"]


def test_refuses_before_downloading_when_the_files_exceed_size_gib(tmp_path, hub):
    run, work = mirror(tmp_path, hub, HF_INCLUDE='["*"]', SIZE_GIB="0.005")
    assert run.returncode != 0
    assert "FATAL: org/Tiny-Model@" in run.stderr
    assert "more than llm-serving:models[0].sizeGiB = 0.005 (+10%); raise llm-serving:models[0].sizeGiB to at least 1" in run.stderr
    assert downloaded(hub) == [] and not (work / "model").exists()


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("hf_revoked", "refuses the token in llm-serving:hfToken (HTTP 401: Invalid credentials in Authorization header)"),
        (None, "answers HTTP 401 without a token: the repo is gated or private and llm-serving:hfToken is not set"),
    ],
)
def test_a_gated_repo_refusing_the_token_fails_saying_which_setting_to_fix(tmp_path, hub, token, reason):
    hub.token = "hf_granted"
    run, work = mirror(tmp_path, hub, **({"HF_TOKEN": token} if token else {}))
    assert run.returncode == 1, run.stdout + run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"FATAL: {REPO}@{COMMIT}: the Hub at {hub.endpoint} {reason}"), last
    assert "Traceback" not in run.stderr
    assert downloaded(hub) == [] and not (work / "model").exists()


def test_a_gated_repo_mirrors_with_the_granted_token(tmp_path, hub):
    hub.token = "hf_granted"
    run, _work = mirror(tmp_path, hub, HF_TOKEN="hf_granted")
    assert run.returncode == 0, run.stdout + run.stderr


def test_in_the_job_a_refusal_is_deferred_to_the_upload_step_which_pulumi_reports(tmp_path, hub):
    """Pulumi reports the termination message of a Job pod's main container only (not its init
    containers'): with MIRROR_FAILED_FILE the download step leaves its failure there and exits 0,
    and the upload step (the main container) fails with it."""
    hub.token = "hf_granted"
    failed = tmp_path / "work" / "mirror.failed"
    run, work = mirror(tmp_path, hub, HF_TOKEN="hf_revoked", MIRROR_FAILED_FILE=str(failed))
    assert run.returncode == 0, run.stdout + run.stderr
    assert failed.read_text().startswith(f"FATAL: {REPO}@{COMMIT}: the Hub at {hub.endpoint} refuses the token")
    upload = subprocess.run(
        [sys.executable, str(SCRIPT.with_name("mirror_upload.py")), "--concurrency", "1"],
        check=False,
        env={"PATH": os.environ["PATH"], "MIRROR_WORK": str(work), "MIRROR_FAILED_FILE": str(failed)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upload.returncode == 1
    assert upload.stderr.strip().splitlines()[-1] == failed.read_text().strip()
