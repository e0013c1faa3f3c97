"""A real S3 server for the pod scripts' integration tests: versitygw (posix backend) on loopback and
real s5cmd, both from `scripts/toolchain.sh s3` (run by .ci/run before this suite)."""

import json
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
    """versitygw serving `root` (each subdirectory a bucket) with one root account; with `iam_dir`,
    also accounts of the `user` role whose rights come from bucket policies."""

    def __init__(self, root, iam_dir=None):
        for tool in ("s5cmd", "versitygw"):
            if not (BIN / tool).exists():
                raise RuntimeError(f"{tool} missing in {BIN}: run `bash scripts/toolchain.sh s3` first")
        self.root = root
        self.endpoint = f"http://127.0.0.1:{free_port()}"
        self.env = {"AWS_ACCESS_KEY_ID": "integration", "AWS_SECRET_ACCESS_KEY": secrets.token_hex(12), "AWS_REGION": "us-east-1"}
        iam = ["--iam-dir", str(iam_dir)] if iam_dir else []
        self.process = subprocess.Popen(
            [BIN / "versitygw", "--port", self.endpoint.removeprefix("http://"), "--quiet", *iam, "posix", root],
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

    def add_user(self, access, secret):
        """An account of the `user` role: no rights beyond what a bucket policy grants it."""
        admin = ["--access", self.env["AWS_ACCESS_KEY_ID"], "--secret", self.env["AWS_SECRET_ACCESS_KEY"], "--endpoint-url", self.endpoint]
        create = [BIN / "versitygw", "admin", *admin, "create-user", "--access", access, "--secret", secret, "--role", "user"]
        subprocess.run(create, check=True, capture_output=True, timeout=30)
        return {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret}

    def put_policy(self, bucket, statements):
        """Sets the bucket policy (as root): versitygw evaluates it for every non-root request."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))

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


@pytest.fixture()
def s3_iam(tmp_path):
    root, iam = tmp_path / "s3", tmp_path / "iam"
    root.mkdir()
    iam.mkdir()
    server = S3Server(root, iam_dir=iam)
    yield server
    server.stop()
