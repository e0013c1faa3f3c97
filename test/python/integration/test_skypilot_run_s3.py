"""The SkyPilot task's `run`, executed as SkyPilot does (bash, the task's envs and secrets) against
versitygw holding a mirrored model: the object check passes and vLLM starts on the bucket's URI; a
replaced object stops the task, naming the file, before vLLM starts. `vllm` is a stand-in that
records its arguments (it needs GPUs)."""

import stat
import subprocess
import sys

import yaml
from conftest import REPO
from test_mirror_upload_s3 import client
from test_preload_s3 import BUCKET, PREFIX, mirror

sys.path.insert(0, str(REPO / "test" / "python"))
from test_skypilot_task import model, render  # after the path it lives on

SHARD = "model-00002-of-00002.safetensors"


def launch(s3, tmp_path):
    """`sky launch`'s run step for the rendered task: (its result, the arguments vLLM got or None)."""
    task = yaml.safe_load(
        render(
            [model(huggingFace="org/Tiny-Model", revision=PREFIX.rsplit("/", 1)[1])],
            {"bucket": BUCKET, "endpoint": s3.endpoint, "region": "us-east-1", "pathStyle": True},
        )["small"]
    )
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    record = tmp_path / "vllm-args"
    (stub / "vllm").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    (stub / "vllm").chmod(stub.joinpath("vllm").stat().st_mode | stat.S_IEXEC)
    secrets = {name: s3.env[name] for name in task["secrets"]}
    env = {"PATH": f"{stub}:/usr/local/bin:/usr/bin:/bin", **{k: str(v) for k, v in task["envs"].items()}, **secrets}
    run = subprocess.run(["bash", "-c", task["run"]], check=False, env=env, capture_output=True, text=True, timeout=60)
    return run, record.read_text().splitlines() if record.exists() else None


def test_the_task_checks_every_object_then_streams_the_bucket(s3, tmp_path):
    mirror(s3, tmp_path)
    run, vllm = launch(s3, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 files match the manifest (0.01 GiB; 3 SHA-256 checksums)" in run.stdout
    assert vllm[:4] == ["serve", f"s3://{BUCKET}/{PREFIX}", "--load-format", "runai_streamer"]


def test_a_replaced_object_stops_the_task_before_vllm(s3, tmp_path):
    model_dir = mirror(s3, tmp_path)
    client(s3).put_object(Bucket=BUCKET, Key=f"{PREFIX}/{SHARD}", Body=bytes(len((model_dir / SHARD).read_bytes())))
    run, vllm = launch(s3, tmp_path)
    assert run.returncode == 1
    assert f"{SHARD}: stored without its SHA-256 checksum" in run.stdout
    assert vllm is None
