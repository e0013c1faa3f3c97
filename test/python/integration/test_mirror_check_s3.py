"""The mirror Job's first step, mirror_check.sh, with real s5cmd against versitygw whose reader and
writer are accounts of their own with the rights our stores give them (bucket policy): the setup
check proves both credential sets and least privilege before anything is downloaded; then only a
missing manifest starts a mirror. Every failure names the Secret, the endpoint, the operation and
the answer, and the mirror does not start."""

import os
import subprocess
import sys

import pytest
from conftest import REPO, free_port

SCRIPT = REPO / "components" / "mirror" / "mirror_check.sh"
BUCKET = "llm-models"
PREFIX = "models/Qwen/Qwen2.5-0.5B-Instruct/7ae557604adf67be50417f59c2c2f167def9a775"
PROBE = "models/.setup-check/small"
READ = ["s3:GetObject"]
WRITE = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]


def grant(user, object_actions):
    return [
        {"Effect": "Allow", "Principal": {"AWS": [user]}, "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{BUCKET}"]},
        {"Effect": "Allow", "Principal": {"AWS": [user]}, "Action": object_actions, "Resource": [f"arn:aws:s3:::{BUCKET}/*"]},
    ]


@pytest.fixture()
def store(s3_iam, tmp_path):
    """A bucket with a writer and a reader as the program's policies define them."""
    (s3_iam.root / BUCKET / PREFIX).mkdir(parents=True)
    s3_iam.writer = s3_iam.add_user("llm-writer", "writer-secret-0123456789")
    s3_iam.reader = s3_iam.add_user("llm-reader", "reader-secret-0123456789")
    s3_iam.put_policy(BUCKET, grant("llm-writer", WRITE) + grant("llm-reader", READ))
    s3_iam.work = tmp_path / "work"
    s3_iam.work.mkdir()
    return s3_iam


def check(store, **overrides):
    env = store.client_env(
        **store.writer,
        BUCKET=BUCKET,
        PREFIX=PREFIX,
        PROBE_OBJECT=PROBE,
        S3_ACCESS_FROM="minio-writer",
        READER_FROM="minio-reader",
        READER_ACCESS_KEY_ID=store.reader["AWS_ACCESS_KEY_ID"],
        READER_SECRET_ACCESS_KEY=store.reader["AWS_SECRET_ACCESS_KEY"],
        MIRROR_WORK=str(store.work),
        TMPDIR=str(store.work),
    )
    env.update(overrides)
    run = subprocess.run(["sh", SCRIPT], check=False, env=env, capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout + run.stderr


def test_proves_both_credentials_then_mirrors_when_there_is_no_manifest(store):
    (store.root / BUCKET / PREFIX / "manifest.json.partial").write_text("{}")  # a longer key with the same prefix
    status, output = check(store)
    assert status == 0, output
    assert "credentials checked: minio-writer can put and read back, minio-reader can list and get and is refused a put" in output
    assert f"no manifest yet at s3://{BUCKET}/{PREFIX}/: mirroring" in output
    # The probe lives beside the models, and the reader's refused put left nothing.
    assert (store.root / BUCKET / PROBE).is_file()
    assert not (store.root / BUCKET / f"{PROBE}.reader").exists()


def test_fetches_an_existing_manifest_for_the_idempotency_check(store):
    (store.root / BUCKET / PREFIX / "manifest.json").write_text('{"repo":"Qwen/Qwen2.5-0.5B-Instruct"}')
    status, output = check(store)
    assert status == 0, output
    assert f"found s3://{BUCKET}/{PREFIX}/manifest.json" in output
    assert "Qwen2.5-0.5B" in (store.work / "remote-manifest.json").read_text()


def test_a_reader_that_may_write_stops_the_mirror(store):
    store.put_policy(BUCKET, grant("llm-writer", WRITE) + grant("llm-reader", WRITE))
    status, output = check(store)
    assert status == 1
    assert "Secret minio-reader" in output and "the reader may write (least privilege not enforced)" in output
    assert "mirroring" not in output


def test_a_writer_refused_a_put_stops_the_mirror(store):
    store.put_policy(BUCKET, grant("llm-writer", READ) + grant("llm-reader", READ))
    status, output = check(store)
    assert status == 1
    assert f"FATAL: put s3://{BUCKET}/{PROBE} failed with the credentials of Secret minio-writer at {store.endpoint}: access denied" in output
    assert "mirroring" not in output


def test_a_reader_refused_a_get_stops_the_mirror(store):
    store.put_policy(BUCKET, grant("llm-writer", WRITE))
    status, output = check(store)
    assert status == 1
    assert "failed with the credentials of Secret minio-reader" in output and "access denied" in output


@pytest.mark.parametrize(
    ("what", "overrides", "answer"),
    [
        ("a wrong writer key", {"AWS_SECRET_ACCESS_KEY": "wrong"}, "access denied (SignatureDoesNotMatch)"),
        ("a missing bucket", {"BUCKET": "no-such-bucket"}, "bucket no-such-bucket does not exist (NoSuchBucket)"),
        ("an unreachable endpoint", "unreachable", "endpoint unreachable"),
    ],
)
def test_stops_naming_the_secret_the_endpoint_and_the_answer(store, what, overrides, answer):
    if overrides == "unreachable":
        overrides = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    status, output = check(store, **overrides)
    assert status == 1, what
    assert answer in output
    assert "with the credentials of Secret minio-writer at " + overrides.get("AWS_ENDPOINT_URL", store.endpoint) in output
    assert "mirroring" not in output


def test_in_the_job_an_unreachable_bucket_is_reported_by_the_upload_step(store):
    """Pulumi reports only a Job pod's main container: with MIRROR_FAILED_FILE the check leaves its
    failure there and exits 0, the download step downloads nothing, and the upload step (the main
    container) fails with the check's words."""
    failed = store.work / "mirror.failed"
    endpoint = f"http://127.0.0.1:{free_port()}"
    status, output = check(store, AWS_ENDPOINT_URL=endpoint, MIRROR_FAILED_FILE=str(failed))
    assert status == 0, output
    report = failed.read_text()
    assert report.startswith(
        f"FATAL: the mirror's bucket check: put s3://{BUCKET}/{PROBE} failed with the credentials of Secret minio-writer at {endpoint}: endpoint unreachable"
    )
    env = {"PATH": os.environ["PATH"], "MIRROR_WORK": str(store.work), "MIRROR_FAILED_FILE": str(failed)}
    steps = REPO / "components" / "mirror"
    download = subprocess.run([sys.executable, str(steps / "mirror_download.py")], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert download.returncode == 0, download.stderr
    assert "not downloading: an earlier step failed" in download.stdout
    assert not (store.work / "model").exists() and not (store.work / "manifest.json").exists()
    upload = subprocess.run(
        [sys.executable, str(steps / "mirror_upload.py"), "--concurrency", "1"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upload.returncode == 1
    assert upload.stderr.strip() == report.strip()
