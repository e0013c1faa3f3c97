"""Mirror step 3, in the mirror Job's Python image (boto3 from /work/pip, installed by step 2): upload
every file of the manifest with its SHA-256 checksum, then manifest.sha256, then manifest.json LAST,
so a prefix without manifest.json is never taken for a complete model.

Every part goes up with the SHA-256 that step 2 computed when it hashed the file (work/parts.json):
the store recomputes it from the bytes it received and refuses a part that differs (BadDigest), and
keeps the object's checksum, which the s3Streaming init step compares from a HEAD. A file of one part
is one PUT (its checksum is the file's SHA-256); a larger one a multipart upload (the composite: the
SHA-256 of the parts' digests, `-N`). R2, S3 and MinIO all keep SHA-256 checksums of both kinds.

Arguments: --concurrency N (parts in flight, `storage.preload.concurrency`). Environment: BUCKET,
PREFIX, AWS_ENDPOINT_URL and the other AWS_* values, S3_PATH_STYLE (1 for R2 and MinIO), MIRROR_WORK
(default /work). When the bucket check or the download step left its failure in MIRROR_FAILED_FILE
(default MIRROR_WORK/mirror.failed), this step fails with it, uploading nothing.
"""

import argparse
import base64
import concurrent.futures
import contextlib
import hashlib
import json
import os
import pathlib
import sys
import time


class FileRange:
    """One part's bytes, streamed from the file rather than held in memory; seekable, so the client
    can rewind it to retry."""

    def __init__(self, path, start, length):
        self.file = open(path, "rb")  # noqa: SIM115 - closed by close(), after the request
        self.start, self.length, self.position = start, length, 0
        self.file.seek(start)

    def read(self, size=-1):
        left = self.length - self.position
        size = left if size is None or size < 0 else min(size, left)
        data = self.file.read(size)
        self.position += len(data)
        return data

    def seek(self, offset, whence=os.SEEK_SET):
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.length}[whence]
        self.position = max(0, min(self.length, base + offset))
        self.file.seek(self.start + self.position)
        return self.position

    def tell(self):
        return self.position

    def close(self):
        self.file.close()


def same_checksum(stored, expected):
    """Whether the store's checksum is the manifest's: stores differ in whether a composite carries
    its `-N` part count (AWS and MinIO do, versitygw does not)."""
    if stored is None:
        return False
    return stored == expected if "-" in stored else stored == expected.split("-", 1)[0]


def sha256_b64(path):
    with open(path, "rb") as fh:
        return base64.b64encode(hashlib.file_digest(fh, "sha256").digest()).decode()


class UploadFailed(Exception):
    """An object the store refused or the client could not send; the message names the file."""


@contextlib.contextmanager
def about(path):
    """A failure of one object's requests names the object's file."""
    try:
        yield
    except Exception as error:
        raise UploadFailed(f"{path}: {error}") from error


class Uploader:
    def __init__(self, client, bucket, prefix, pool):
        self.client, self.bucket, self.prefix, self.pool = client, bucket, prefix, pool
        self.open_uploads = []

    def key(self, path):
        return f"{self.prefix}/{path}"

    def put(self, local, path, checksum):
        with about(path), open(local, "rb") as body:
            answer = self.client.put_object(Bucket=self.bucket, Key=self.key(path), Body=body, ChecksumSHA256=checksum)
        return answer.get("ChecksumSHA256")

    def start_multipart(self, path):
        with about(path):
            upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key(path), ChecksumAlgorithm="SHA256")["UploadId"]
        self.open_uploads.append((path, upload))
        return upload

    def put_part(self, local, path, upload, number, start, length, checksum):
        with about(f"{path} part {number}"), contextlib.closing(FileRange(local, start, length)) as body:
            answer = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.key(path),
                UploadId=upload,
                PartNumber=number,
                Body=body,
                ContentLength=length,
                ChecksumSHA256=checksum,
            )
        return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}

    def complete(self, path, upload, parts):
        with about(path):
            answer = self.client.complete_multipart_upload(Bucket=self.bucket, Key=self.key(path), UploadId=upload, MultipartUpload={"Parts": parts})
        self.open_uploads.remove((path, upload))
        return answer.get("ChecksumSHA256")

    def abort_open(self):
        for path, upload in self.open_uploads:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key(path), UploadId=upload)
            except Exception as error:  # noqa: BLE001 - best effort: the store expires what is left
                print(f"could not abort the upload of {path}: {error}")


def upload_model(uploader, model_dir, files, parts):
    """Every file of the manifest, parts in flight across files; returns {path: stored checksum}."""
    singles, multis = {}, []
    for f in files:
        local, plan = model_dir / f["path"], parts[f["path"]]
        if len(plan["parts"]) <= 1:
            singles[f["path"]] = uploader.pool.submit(uploader.put, local, f["path"], f["s3Sha256"])
            continue
        upload = uploader.start_multipart(f["path"])
        futures = [
            uploader.pool.submit(
                uploader.put_part,
                local,
                f["path"],
                upload,
                n,
                (n - 1) * plan["partBytes"],
                min(plan["partBytes"], f["size"] - (n - 1) * plan["partBytes"]),
                digest,
            )
            for n, digest in enumerate(plan["parts"], 1)
        ]
        multis.append((f["path"], upload, futures))
    stored = {}
    for path, upload, futures in multis:
        stored[path] = uploader.complete(path, upload, [future.result() for future in futures])
    stored.update({path: future.result() for path, future in singles.items()})
    return stored


def main(argv):
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--concurrency", type=int, required=True)
    concurrency = options.parse_args(argv).concurrency
    work = pathlib.Path(os.environ.get("MIRROR_WORK", "/work"))
    failed = pathlib.Path(os.environ.get("MIRROR_FAILED_FILE") or work / "mirror.failed")
    if failed.exists():
        # An earlier step's failure, reported here: Pulumi shows the main container's message.
        sys.exit(failed.read_text().strip())
    if (work / "skip").exists():
        print("already mirrored")
        return 0
    sys.path.insert(0, str(work / "pip"))
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION") or "us-east-1",
        config=Config(
            s3={"addressing_style": "path" if os.environ.get("S3_PATH_STYLE") == "1" else "virtual"},
            # The checksums are ours (step 2's); the client adds none of its own.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"mode": "standard", "max_attempts": 5},
            max_pool_connections=concurrency,
        ),
    )
    bucket, prefix = os.environ["BUCKET"], os.environ["PREFIX"]
    manifest = json.loads((work / "manifest.json").read_text())
    parts = json.loads((work / "parts.json").read_text())
    model_dir, files = work / "model", manifest["files"]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        uploader = Uploader(client, bucket, prefix, pool)
        try:
            stored = upload_model(uploader, model_dir, files, parts)
        except UploadFailed as error:
            pool.shutdown(cancel_futures=True)
            uploader.abort_open()
            sys.exit(f"FATAL: upload to s3://{bucket}/{prefix}/ failed: {error}")
    kept = [f["path"] for f in files if stored[f["path"]] is not None]
    for f in files:
        if stored[f["path"]] is not None and not same_checksum(stored[f["path"]], f["s3Sha256"]):
            sys.exit(f"FATAL: {f['path']}: the store keeps SHA-256 {stored[f['path']]}, the manifest says {f['s3Sha256']}")
    uploader.put(model_dir / "manifest.sha256", "manifest.sha256", sha256_b64(model_dir / "manifest.sha256"))
    uploader.put(work / "manifest.json", "manifest.json", sha256_b64(work / "manifest.json"))
    total, seconds = sum(f["size"] for f in files), time.monotonic() - started
    print(
        f"mirrored {len(files)} files, {total / 1024**3:.2f} GiB in {seconds:.1f} s to s3://{bucket}/{prefix}/ "
        f"({len(kept)} with the store's SHA-256 checksum matching the manifest)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
