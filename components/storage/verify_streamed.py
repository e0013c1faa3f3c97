"""Serving init step for s3Streaming (python image, standard library only): before the engine streams
a model from the bucket, every file of its manifest must be there with the manifest's size and, where
the store keeps one, the SHA-256 checksum the mirror uploaded it with (`s3Sha256`), so a missing,
truncated or replaced object fails the pod naming the file instead of a load error deep in the engine
or wrong weights. One signed HEAD per object, in parallel: a second or two, not a second read of the
weights.

A HEAD shows what the store recorded when the object was written, not a re-read of its bytes: the
store verified them against that checksum on upload.

Environment: BUCKET, PREFIX, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
S3_PATH_STYLE (1 for R2 and MinIO, else virtual-hosted requests), MANIFEST_WAIT_SECONDS (how long to wait
for the mirror's manifest.json when the store answers 404; default 0).
"""

import concurrent.futures
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import sys
import time
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
PARALLEL_HEADS = 16


class Store:
    """A minimal SigV4 client: signed GET and HEAD of one object, nothing else."""

    def __init__(self, endpoint, bucket, region, access_key, secret_key, path_style):
        url = urllib.parse.urlsplit(endpoint)
        self.scheme, self.bucket, self.region = url.scheme, bucket, region
        self.access_key, self.secret_key = access_key, secret_key
        self.host = url.netloc if path_style else f"{bucket}.{url.netloc}"
        self.base = f"{url.path.rstrip('/')}/{bucket}" if path_style else url.path.rstrip("/")

    def path(self, key):
        return urllib.parse.quote(f"{self.base}/{key}", safe="/~")

    def signed_headers(self, method, path, now, extra=()):
        date, stamp = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
        headers = dict(sorted({"host": self.host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": stamp, **dict(extra)}.items()))
        names = ";".join(headers)
        canonical = "\n".join([method, path, "", *(f"{k}:{v}" for k, v in headers.items()), "", names, EMPTY_SHA256])
        scope = f"{date}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = f"AWS4{self.secret_key}".encode()
        for part in (date, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        authorization = f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
        return {**headers, "authorization": authorization}

    def request(self, method, key, extra=()):
        """(status, lower-cased headers, body) of one signed request."""
        path = self.path(key)
        now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - also runs on SkyPilot VMs' Python 3.10
        headers = self.signed_headers(method, path, now, extra)
        connection = (http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection)(self.host, timeout=30)
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def head(self, key):
        """(status, headers) of the object's HEAD with its checksum; status None when unreachable."""
        try:
            return self.request("HEAD", key, [("x-amz-checksum-mode", "ENABLED")])[:2]
        except OSError as error:
            return None, {"error": str(error)}


def same_checksum(stored, expected):
    """Whether the store's checksum is the manifest's: stores differ in whether a composite carries
    its `-N` part count (AWS and MinIO do, versitygw does not)."""
    return stored == expected if "-" in stored else stored == expected.split("-", 1)[0]


def compare(files, heads):
    """Problems (one line per file), and how many stored checksums were compared. `heads` maps each
    path to its HEAD's (status, headers)."""
    problems, compared, unchecked = [], 0, []
    for f in sorted(files, key=lambda f: f["path"]):
        status, headers = heads[f["path"]]
        if status is None:
            problems.append(f"{f['path']}: no answer to a HEAD: {headers['error']}")
        elif status == 404:
            problems.append(f"{f['path']}: missing (manifest: {f['size']} bytes)")
        elif status != 200:
            problems.append(f"{f['path']}: the store answered HTTP {status} to a HEAD")
        elif int(headers.get("content-length", -1)) != f["size"]:
            problems.append(f"{f['path']}: {headers.get('content-length')} bytes, manifest: {f['size']}")
        elif "s3Sha256" in f and "x-amz-checksum-sha256" in headers:
            compared += 1
            if not same_checksum(headers["x-amz-checksum-sha256"], f["s3Sha256"]):
                stored = headers["x-amz-checksum-sha256"]
                problems.append(f"{f['path']}: stored SHA-256 {stored}, manifest: {f['s3Sha256']} (replaced after the mirror)")
        elif "s3Sha256" in f:
            unchecked.append(f["path"])
    # A store that keeps checksums for some objects but not this one: it was written again without.
    if compared:
        problems += [f"{path}: stored without its SHA-256 checksum (written again after the mirror)" for path in unchecked]
    return problems, compared


def wait_for_manifest(store, prefix, source, deadline, poll=10.0):
    """manifest.json, which the mirror writes last: waited for while the store answers 404, up to
    `deadline` seconds; any other answer (credentials, endpoint) fails at once."""
    start = time.monotonic()
    while True:
        try:
            status, _headers, body = store.request("GET", f"{prefix}/manifest.json")
        except OSError as error:
            sys.exit(f"FATAL: cannot reach {os.environ['AWS_ENDPOINT_URL']}: {error}")
        if status == 200:
            return body
        answer = ": ".join(re.findall(r"<(?:Code|Message)>([^<]*)<", body.decode(errors="replace"))) or "no error body"
        waited = time.monotonic() - start
        if status != 404:
            sys.exit(f"FATAL: cannot read {source}/manifest.json (the credentials cannot read it): HTTP {status}: {answer}")
        if waited >= deadline:
            sys.exit(
                f"FATAL: waited {waited:.0f} s (MANIFEST_WAIT_SECONDS={deadline:.0f}, the mirror's time budget) for {source}/manifest.json, "
                f"which the model's mirror Job writes last; it is still missing (HTTP 404: {answer}): see that Job's logs"
            )
        print(f"waiting for {source}/manifest.json (the mirror has not completed; {waited:.0f} of {deadline:.0f} s)", flush=True)
        time.sleep(min(poll, max(0.0, deadline - waited)))


def main():
    bucket, prefix = os.environ["BUCKET"], os.environ["PREFIX"]
    source = f"s3://{bucket}/{prefix}"
    store = Store(
        os.environ["AWS_ENDPOINT_URL"],
        bucket,
        os.environ.get("AWS_REGION") or "us-east-1",
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
        os.environ.get("S3_PATH_STYLE") == "1",
    )
    body = wait_for_manifest(store, prefix, source, float(os.environ.get("MANIFEST_WAIT_SECONDS", "0")))
    files = json.loads(body).get("files", [])
    with concurrent.futures.ThreadPoolExecutor(PARALLEL_HEADS) as pool:
        heads = dict(zip([f["path"] for f in files], pool.map(lambda f: store.head(f"{prefix}/{f['path']}"), files)))
    problems, compared = compare(files, heads)
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(f"FATAL: {len(problems)} of {len(files)} files of {source} do not match the manifest; mirror the model again")
    if compared:
        checks = f"{compared} SHA-256 checksums"
    elif any("s3Sha256" in f for f in files):
        checks = "sizes only: the store returned no SHA-256 checksums"
    else:
        checks = "sizes only: the manifest predates SHA-256 checksums"
    print(f"{source}: {len(files)} files match the manifest ({sum(f['size'] for f in files) / 1024**3:.2f} GiB; {checks})")


if __name__ == "__main__":
    main()
