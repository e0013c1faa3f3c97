"""The SkyPilot task files the program renders (components/consumers/skypilot.ts), validated by the
`skypilot` package's own task loader (sky.Task.from_yaml_config: its JSON schema, resources and
secrets; run in its own venv by validate_skypilot_task.py), and checked to carry no credential."""

import json
import os
import pathlib
import subprocess

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
VALIDATOR = REPO / "test" / "python" / "validate_skypilot_task.py"
REV = "7ae557604adf67be50417f59c2c2f167def9a775"
R2 = {
    "bucket": "llm-models",
    "endpoint": "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
    "region": "auto",
    "pathStyle": True,
}
S3 = {"bucket": "weights", "endpoint": "https://s3.eu-west-1.amazonaws.com", "region": "eu-west-1", "pathStyle": False}


def render(models, store):
    """The program's task YAML per model, from the same pure functions the stack outputs use."""
    config = {
        "environment": "dev",
        "kubernetes": {"namespace": "llm"},
        "objectStore": {"provider": "minio", "bucket": store["bucket"]},
        "storage": {"strategy": "s3Streaming"},
        "models": models,
    }
    tsx = REPO / "node_modules" / ".bin" / "tsx"
    assert tsx.exists(), "run through `bash scripts/dev.sh test` (it installs node_modules and Node 22)"
    run = subprocess.run(
        [str(tsx), "test/python/render_skypilot.ts"],
        cwd=REPO,
        input=json.dumps({"config": config, "store": store}),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(run.stdout)


def validate(tmp_path, tasks):
    """SkyPilot's verdict per task: its parsed view, or (returncode, message) when it refuses."""
    python = os.environ.get("LLM_SERVING_SKYPILOT_PYTHON")
    assert python, "run through `bash scripts/dev.sh test` (it creates the skypilot venv, LLM_SERVING_SKYPILOT_PYTHON)"
    files = []
    for name, text in tasks.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        files.append(str(tmp_path / f"{name}.yaml"))
    run = subprocess.run([python, VALIDATOR, *files], check=False, capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        return run.returncode, run.stderr.strip().splitlines()[-1]
    return {pathlib.Path(path).stem: task for path, task in json.loads(run.stdout).items()}


def model(**fields):
    return {"name": "small", "huggingFace": "Qwen/Qwen2.5-0.5B-Instruct", "revision": REV, "engine": "vllm", "sizeGiB": 1, **fields}


BIG = model(name="big", huggingFace="meta-llama/Llama-3.1-70B-Instruct", gpus=4, sizeGiB=140, maxModelLen=16384)


@pytest.fixture(scope="module")
def r2_tasks():
    return render([model(), BIG], R2)


def test_skypilot_accepts_every_task_and_streams_the_mirrored_prefix(tmp_path, r2_tasks):
    parsed = validate(tmp_path, r2_tasks)
    for name, prefix in [("small", "Qwen/Qwen2.5-0.5B-Instruct"), ("big", "meta-llama/Llama-3.1-70B-Instruct")]:
        task = parsed[name]
        assert task["name"] == f"llm-serving-{name}"
        assert f"--served-model-name {name}" in task["run"] and "--load-format runai_streamer" in task["run"]
        assert task["setup"] == 'pip install "vllm[runai]==0.33.0"'
        assert task["envs"]["MODEL_URI"] == f"s3://llm-models/models/{prefix}/{REV}"
        assert task["envs"]["AWS_ENDPOINT_URL"] == R2["endpoint"]
        assert task["envs"]["RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING"] == "0"
        assert task["envs"]["AWS_EC2_METADATA_DISABLED"] == "true"
        assert task["envs"]["RUNAI_STREAMER_S3_REQUEST_TIMEOUT_MS"] == "30000"
        # The object check runs first, and a failed check stops the task before vLLM starts.
        assert task["run"].startswith("python3 - <<'VERIFY_OBJECTS' || exit 1\n")
        assert task["envs"]["BUCKET"] == "llm-models" and task["envs"]["PREFIX"] == f"models/{prefix}/{REV}"


def test_the_streamer_reads_as_the_clusters_pods_do(tmp_path, r2_tasks):
    parsed = validate(tmp_path, r2_tasks)
    # 1 GPU: 2 CPUs (the server pod's request), 4 readers of 32 MiB; 4 GPUs: 8 CPUs, 16 of 8 MiB.
    small, big = parsed["small"], parsed["big"]
    assert small["cpus"] == ["2+"] and big["cpus"] == ["8+"]
    assert "--model-loader-extra-config '{\"concurrency\":4}'" in small["run"]
    assert small["envs"]["RUNAI_STREAMER_CHUNK_BYTESIZE"] == str(32 << 20)
    assert '--model-loader-extra-config \'{"concurrency":16,"distributed":true}\'' in big["run"]
    assert big["envs"]["RUNAI_STREAMER_CHUNK_BYTESIZE"] == str(8 << 20)


def test_gpus_and_flags_follow_the_model(tmp_path, r2_tasks):
    big = validate(tmp_path, r2_tasks)["big"]
    assert "--tensor-parallel-size 4" in big["run"] and "--max-model-len 16384" in big["run"]
    # Any GPU with at least models[].gpuMemoryGiB (80), four of them.
    assert big["accelerators"] == [["A100-80GB", 4], ["H100", 4], ["H200", 4]]


def test_credentials_are_declared_secrets_never_values(tmp_path, r2_tasks):
    parsed = validate(tmp_path, r2_tasks)
    for name, text in r2_tasks.items():
        config = yaml.safe_load(text)
        assert config["secrets"] == {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
        assert parsed[name]["secrets"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(config["envs"])


def test_s3_uses_virtual_addressing(tmp_path):
    task = validate(tmp_path, render([model()], S3))["small"]
    assert task["envs"]["RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING"] == "1" and task["envs"]["AWS_REGION"] == "eu-west-1"


def test_the_validator_refuses_a_field_skypilot_does_not_know(tmp_path):
    status, message = validate(tmp_path, {"bad": "name: x\nrun: echo\nbogus: 1\n"})
    assert status == 1 and "unsupported field 'bogus'" in message
