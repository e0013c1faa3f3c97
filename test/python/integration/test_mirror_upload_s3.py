"""The mirror's upload step, mirror_upload.py, against a real S3 server (versitygw): every object is
stored with the SHA-256 checksum the manifest records, the store refuses bytes that differ from the
ones the download step hashed, and a failed upload leaves no manifest.json and no open upload."""

import json

import boto3
from botocore.config import Config
from test_preload_s3 import BUCKET, PREFIX, downloaded, mirror, upload


def client(s3):
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id=s3.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3.env["AWS_SECRET_ACCESS_KEY"],
        # versitygw sends a multipart object's composite without its `-N`, which botocore would
        # validate as a whole-object checksum on GET.
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required", response_checksum_validation="when_required"),
    )


def stored_checksum(s3, name):
    head = client(s3).head_object(Bucket=BUCKET, Key=f"{PREFIX}/{name}", ChecksumMode="ENABLED")
    return head.get("ChecksumSHA256"), head.get("ChecksumType")


def test_every_object_is_stored_with_the_sha256_the_manifest_records(s3, tmp_path):
    model = mirror(s3, tmp_path)
    manifest = json.loads((model.parent / "manifest.json").read_text())
    for f in manifest["files"]:
        checksum, kind = stored_checksum(s3, f["path"])
        # versitygw gives a composite without its `-N`; the manifest has it.
        assert checksum == f["s3Sha256"].split("-")[0], f["path"]
        assert kind == ("COMPOSITE" if "-" in f["s3Sha256"] else "FULL_OBJECT"), f["path"]
    assert {f["path"]: f["s3Sha256"].count("-") for f in manifest["files"]}["model-00001-of-00002.safetensors"] == 1  # a multipart upload
    for name in ("manifest.json", "manifest.sha256"):
        assert stored_checksum(s3, name)[0] is not None
    body = client(s3).get_object(Bucket=BUCKET, Key=f"{PREFIX}/model-00001-of-00002.safetensors")["Body"].read()
    assert body == (model / "model-00001-of-00002.safetensors").read_bytes()


def test_bytes_that_differ_from_the_hashed_ones_are_refused_and_leave_no_manifest(s3, tmp_path):
    work = downloaded(tmp_path)
    shard = work / "model" / "model-00001-of-00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF  # changed on the scratch volume after hashing: same size, other bytes (part 2)
    shard.write_bytes(bytes(data))
    run = upload(s3, work)
    assert run.returncode == 1
    assert "FATAL: upload to s3://models-bucket/" in run.stderr
    assert "model-00001-of-00002.safetensors part 2: " in run.stderr and "BadDigest" in run.stderr
    objects = client(s3).list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    assert "manifest.json" not in {o["Key"].rsplit("/", 1)[1] for o in objects}
    assert client(s3).list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_refused_credentials_fail_naming_the_file(s3, tmp_path):
    work = downloaded(tmp_path)
    s3.env["AWS_SECRET_ACCESS_KEY"] = "not-the-key"  # the client's, not the server's
    run = upload(s3, work)
    assert run.returncode == 1
    assert "SignatureDoesNotMatch" in run.stderr and ".safetensors" in run.stderr
