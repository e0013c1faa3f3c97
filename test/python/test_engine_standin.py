"""The node tests' CPU stand-in engine (test/node/standin): it must refuse what the pinned parser
refuses, refuse weights that do not match their files, and guard /v1 with the API key as vLLM does."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
STANDIN = REPO / "test" / "node" / "standin" / "engine_standin.py"
sys.path.insert(0, str(STANDIN.parent))
sys.path.insert(0, str(REPO / "test" / "node"))

import engine_standin
import make_model
from hub_emulator import HubEmulator

ACCEPTED = {"--host", "--port", "--served-model-name", "--tensor-parallel-size", "--enforce-eager", "--no-enforce-eager"}


def test_the_command_line_is_read_as_vllm_serve_reads_it():
    model, options = engine_standin.parse_command_line(
        ["serve", "/models/m", "--host", "0.0.0.0", "--port=8000", "--tensor_parallel_size", "2", "--enforce-eager"], ACCEPTED
    )
    assert model == "/models/m"
    assert options == {"--host": "0.0.0.0", "--port": "8000", "--tensor-parallel-size": "2", "--enforce-eager": True}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["serve", "/m", "--swap-space", "4"], "unrecognized arguments: --swap-space 4"),
        (["serve", "--port", "1"], "required: model_tag"),
        (["run", "/m"], "invalid choice"),
    ],
)
def test_what_the_pinned_parser_rejects_is_refused(argv, message):
    with pytest.raises(engine_standin.Refused, match=message):
        engine_standin.parse_command_line(argv, ACCEPTED)


@pytest.fixture
def model(tmp_path):
    make_model.make(tmp_path / "model", 7)
    return tmp_path / "model"


def test_every_tensor_is_loaded_and_checked(model):
    tensors = engine_standin.load_weights(model)
    assert "model.embed_tokens.weight" in tensors
    assert sum(t.nbytes for t in tensors.values()) == json.loads((model / "model.safetensors.index.json").read_text())["metadata"]["total_size"]


def test_a_shard_that_differs_from_the_manifest_is_refused(model):
    (model / "manifest.sha256").write_text(f"{'0' * 64}  model-00001-of-00002.safetensors\n")
    with pytest.raises(ValueError, match="sha256 differs from manifest.sha256"):
        engine_standin.load_weights(model)


def test_a_truncated_shard_is_refused(model):
    shard = model / "model-00002-of-00002.safetensors"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(Exception):  # noqa: B017 - safetensors' own error: any is a refusal
        engine_standin.load_weights(model)


HUB_REPO, HUB_COMMIT = "org/Tiny-Model", "0123456789abcdef0123456789abcdef01234567"


def standin_from_hub(tmp_path, hub, token, timeout=30):
    """The stand-in CLI serving a Hub repo (`mirror: false`), in its own process as in the pod: the
    Hub's endpoint and token reach huggingface_hub through the environment it starts with."""
    flags = tmp_path / "flags.json"
    flags.write_text(json.dumps({"flags": sorted(ACCEPTED | {"--revision", "--download-dir"})}))
    env = dict(os.environ, STANDIN_FLAGS=str(flags), HF_ENDPOINT=hub.endpoint, HF_TOKEN=token, HF_HOME=str(tmp_path / "hf-home"))
    argv = [STANDIN, "vllm", "serve", HUB_REPO, "--revision", HUB_COMMIT, "--download-dir", tmp_path / "cache", "--port", str(free_port())]
    process = subprocess.Popen([sys.executable, *map(str, argv)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ""
    for line in process.stdout:
        output += line
        if " on 0.0.0.0:" in line:
            break
    process.terminate()
    process.wait(timeout)
    return process.returncode, output


def test_a_hub_repo_is_downloaded_into_the_download_dir_then_served(model, tmp_path):
    with HubEmulator(HUB_REPO, HUB_COMMIT, model, token="hf_granted") as hub:
        _code, output = standin_from_hub(tmp_path, hub, "hf_granted")
    assert f"serving {HUB_REPO} on 0.0.0.0:" in output, output
    snapshot = tmp_path / "cache" / "models--org--Tiny-Model" / "snapshots" / HUB_COMMIT
    assert (snapshot / "model-00001-of-00002.safetensors").read_bytes() == (model / "model-00001-of-00002.safetensors").read_bytes()


def test_a_hub_refusing_the_token_fails_the_load_naming_the_repo(model, tmp_path):
    with HubEmulator(HUB_REPO, HUB_COMMIT, model, token="hf_granted") as hub:
        code, output = standin_from_hub(tmp_path, hub, "hf_revoked")
    assert code == 1, output
    assert f"failed to load the weights: {HUB_REPO}@{HUB_COMMIT}: the Hub at {hub.endpoint} refused the download: " in output
    assert "401" in output


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, data=None, key=None):
    request = urllib.request.Request(url, data=json.dumps(data).encode() if data else None, method="POST" if data else "GET")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def server(model, tmp_path):
    flags = tmp_path / "flags.json"
    flags.write_text(json.dumps({"flags": sorted(ACCEPTED)}))
    port = free_port()
    env = dict(os.environ, STANDIN_FLAGS=str(flags), VLLM_API_KEY="sekrit")
    argv = [sys.executable, str(STANDIN), "vllm", "serve", str(model), "--host", "127.0.0.1", "--port", str(port), "--served-model-name", "tiny"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if call(f"{base}/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(5)


def test_the_api_key_guards_v1_and_health_stays_open(server):
    assert call(f"{server}/health")[0] == 200
    assert call(f"{server}/v1/models")[0] == 401
    assert call(f"{server}/v1/completions", {"model": "tiny", "prompt": "x"})[0] == 401
    status, body = call(f"{server}/v1/models", key="sekrit")
    assert status == 200 and json.loads(body)["data"][0]["id"] == "tiny"
    # vLLM's ModelCard.root: the model argument, which the smoke check compares with the revision it expects.
    assert json.loads(body)["data"][0]["root"].endswith("/model")


def test_a_completion_is_computed_from_the_weights_and_counted(server):
    status, body = call(f"{server}/v1/completions", {"model": "tiny", "prompt": "Hello", "max_tokens": 3}, key="sekrit")
    assert status == 200, body
    first = json.loads(body)["choices"][0]["text"]
    assert len(first.split()) == 3
    assert (
        json.loads(call(f"{server}/v1/completions", {"model": "tiny", "prompt": "Hello", "max_tokens": 3}, key="sekrit")[1])["choices"][0]["text"]
        == first
    )
    metrics = call(f"{server}/metrics")[1]
    assert 'vllm:generation_tokens_total{model_name="tiny"} 6' in metrics
    assert "vllm:num_requests_waiting" in metrics and "vllm:kv_cache_usage_perc" in metrics


def test_the_cli_exits_2_on_a_flag_the_parser_rejects(model, tmp_path):
    flags = tmp_path / "flags.json"
    flags.write_text(json.dumps({"flags": sorted(ACCEPTED)}))
    run = subprocess.run(
        [sys.executable, str(STANDIN), "vllm", "serve", str(model), "--swap-space", "4"],
        check=False,
        env=dict(os.environ, STANDIN_FLAGS=str(flags)),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "vllm serve: error: unrecognized arguments: --swap-space 4" in run.stderr


SGLANG_ACCEPTED = {"--model-path", "--host", "--port", "--served-model-name", "--tp-size", "--config", "--api-key", "--enable-metrics"}


def test_sglang_flags_from_the_config_file_merge_under_the_command_line(tmp_path):
    config = tmp_path / "server-args.yaml"
    config.write_text('api-key: "k3y: quoted"\nport: 1\nenable-metrics: true\n')
    model, options = engine_standin.parse_sglang_command_line(["--model-path", "/m", "--port", "30000", "--config", str(config)], SGLANG_ACCEPTED)
    assert model == "/m"
    assert options["--api-key"] == "k3y: quoted" and options["--port"] == "30000" and options["--enable-metrics"] is True


def test_sglang_refuses_an_unknown_key_in_its_config_file(tmp_path):
    config = tmp_path / "server-args.yaml"
    config.write_text("no-such-flag: 1\n")
    with pytest.raises(engine_standin.Refused, match="unrecognized arguments: --no-such-flag 1"):
        engine_standin.parse_sglang_command_line(["--model-path", "/m", "--config", str(config)], SGLANG_ACCEPTED)
    with pytest.raises(engine_standin.Refused, match="required: --model-path"):
        engine_standin.parse_sglang_command_line(["--port", "1"], SGLANG_ACCEPTED)


def test_sglang_reports_its_model_path_and_guards_all_but_health_and_metrics(model, tmp_path):
    flags = tmp_path / "flags.json"
    flags.write_text(json.dumps({"flags": sorted(SGLANG_ACCEPTED)}))
    config = tmp_path / "server-args.yaml"
    config.write_text("api-key: sekrit\n")
    port = free_port()
    argv = [sys.executable, str(STANDIN), "sglang", "--model-path", str(model), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--served-model-name", "tiny", "--config", str(config)]
    process = subprocess.Popen(argv, env=dict(os.environ, STANDIN_FLAGS=str(flags)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if call(f"{base}/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        assert call(f"{base}/metrics")[0] == 200 and "sglang:num_queue_reqs" in call(f"{base}/metrics")[1]
        assert call(f"{base}/model_info")[0] == 401
        status, body = call(f"{base}/model_info", key="sekrit")
        assert status == 200 and json.loads(body)["model_path"] == str(model)
        assert json.loads(call(f"{base}/v1/models", key="sekrit")[1])["data"][0]["root"] == "tiny"
    finally:
        process.terminate()
        process.wait(5)


def test_the_compile_artifact_is_written_once_and_reused(model, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    tensors = engine_standin.load_weights(model)
    assert engine_standin.compile_artifacts(tensors).startswith(f"wrote {tmp_path}/inductor/llm-serving-standin/")
    assert engine_standin.compile_artifacts(tensors).startswith(f"reused {tmp_path}/inductor/llm-serving-standin/")
    other = {**tensors, "extra.weight": tensors["model.embed_tokens.weight"][:2]}
    assert engine_standin.compile_artifacts(other).startswith("wrote ")
