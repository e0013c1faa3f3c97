"""A real S3 server for the pod scripts' integration tests: versitygw (posix backend) on loopback and
real s5cmd, both from `scripts/toolchain.sh s3` (run by .ci/run before this suite)."""

import os
import pathlib
import secrets
import socket
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(os.environ.get("LLM_SERVING_CACHE", pathlib.Path.home() / ".cache" / "llm-serving")) / "toolchain" / "bin"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    """versitygw serving `root` (each subdirectory a bucket) with one root account."""

    def __init__(self, root):
        for tool in ("s5cmd", "versitygw"):
            if not (BIN / tool).exists():
                raise RuntimeError(f"{tool} missing in {BIN}: run `bash scripts/toolchain.sh s3` first")
        self.root = root
        self.endpoint = f"http://127.0.0.1:{free_port()}"
        self.env = {"AWS_ACCESS_KEY_ID": "integration", "AWS_SECRET_ACCESS_KEY": secrets.token_hex(12), "AWS_REGION": "us-east-1"}
        self.process = subprocess.Popen(
            [BIN / "versitygw", "--port", self.endpoint.removeprefix("http://"), "--quiet", "posix", root],
            env={
                "PATH": os.environ["PATH"],
                "ROOT_ACCESS_KEY_ID": self.env["AWS_ACCESS_KEY_ID"],
                "ROOT_SECRET_ACCESS_KEY": self.env["AWS_SECRET_ACCESS_KEY"],
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if self.s5cmd("ls").returncode == 0:
                return
            time.sleep(0.1)
        self.process.kill()
        raise RuntimeError("versitygw did not start")

    def client_env(self, **overrides):
        """What the pod would get: PATH with s5cmd, the AWS_* values, the endpoint."""
        return {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.root), **self.env, "AWS_ENDPOINT_URL": self.endpoint, **overrides}

    def s5cmd(self, *args):
        return subprocess.run(
            [BIN / "s5cmd", "--endpoint-url", self.endpoint, *args], check=False, env=self.client_env(), capture_output=True, text=True
        )

    def stop(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture()
def s3(tmp_path):
    root = tmp_path / "s3"
    root.mkdir()
    server = S3Server(root)
    yield server
    server.stop()
