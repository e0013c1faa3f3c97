"""The node stand-in's s3:// loading (test/node/standin/engine_standin.py): a model the mirror's own
upload step put into a real S3 server (versitygw) is streamed by the Run:ai streamer's C++ core and S3
backend from the pinned wheels (streamer.txt), with the environment the program renders for
s3Streaming; what it loads is what the directory holds, and a replaced object or refused credentials
fail the load naming the object or the prefix."""

import os
import subprocess
import sys

import pytest
from conftest import REPO

STANDIN = REPO / "test" / "node" / "standin"
sys.path.insert(0, str(STANDIN))
sys.path.insert(0, str(REPO / "test" / "node"))
sys.path.insert(0, str(REPO / "components" / "mirror"))
import engine_flags
import engine_standin
import make_model
from mirror_download import write_manifests
from test_preload_s3 import BUCKET, PREFIX, upload


@pytest.fixture(scope="module")
def streamer(tmp_path_factory):
    """The pinned streamer wheels without their torch dependency (the stand-in never imports torch)."""
    wheels = [engine_flags.wheel(*line.split("==")) for line in (STANDIN / "streamer.txt").read_text().split()]
    target = tmp_path_factory.mktemp("streamer")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target, *wheels], check=True)
    sys.path.insert(0, str(target))
    yield
    sys.path.remove(str(target))
    for name in [m for m in sys.modules if m.startswith("runai_model_streamer")]:
        del sys.modules[name]


@pytest.fixture
def mirrored(s3, tmp_path):
    """A stand-in model made here, written to the bucket by the mirror's own upload step."""
    work = tmp_path / "mirror-work"
    make_model.make(work / "model", 5)
    write_manifests(work, work / "model", "org/Tiny-Model", PREFIX.rsplit("/", 1)[1], 5 * 2**20)
    run = upload(s3, work)
    assert run.returncode == 0, run.stdout + run.stderr
    return work / "model"


@pytest.fixture
def pod_env(s3, monkeypatch):
    """The server's environment for s3Streaming (streamerEnv and the reader Secret's keys)."""
    for name, value in s3.client_env(RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING="0", AWS_EC2_METADATA_DISABLED="true").items():
        monkeypatch.setenv(name, value)
    for name in ("RUNAI_STREAMER_S3_ENDPOINT", "RUNAI_STREAMER_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)


URI = f"s3://{BUCKET}/{PREFIX}"


def test_the_streamed_model_is_the_mirrored_one(streamer, mirrored, pod_env):
    streamed = engine_standin.load_model(URI, {"--load-format": "runai_streamer", "--model-loader-extra-config": '{"concurrency": 4}'})
    on_disk = engine_standin.load_weights(mirrored)
    assert sorted(streamed) == sorted(on_disk)
    assert all((streamed[name] == on_disk[name]).all() for name in on_disk)
    # As vLLM's loader does: the extra config became the streamer's environment, the endpoint its S3 endpoint.
    assert os.environ["RUNAI_STREAMER_CONCURRENCY"] == "4"
    assert os.environ["RUNAI_STREAMER_S3_ENDPOINT"] == os.environ["AWS_ENDPOINT_URL"]


def test_an_s3_model_without_the_streamer_load_format_is_refused(mirrored):
    with pytest.raises(ValueError, match="needs --load-format runai_streamer"):
        engine_standin.load_model(URI, {})


def test_an_object_replaced_after_the_mirror_is_refused_naming_it(streamer, mirrored, pod_env, s3):
    shard = s3.root / BUCKET / PREFIX / "model-00002-of-00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model-00002-of-00002\.safetensors: sha256 differs from manifest\.sha256"):
        engine_standin.load_model(URI, {"--load-format": "runai_streamer"})


def test_credentials_the_store_refuses_fail_naming_the_prefix(streamer, mirrored, pod_env, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-key")
    with pytest.raises(ValueError, match=rf"{URI}/: the streamer could not list it .*File access error"):
        engine_standin.load_model(URI, {"--load-format": "runai_streamer"})
