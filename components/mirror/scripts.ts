/**
 * The shell/python scripts our Jobs run, kept as plain strings so tests and benchmarks run the
 * exact same text. They live in one ConfigMap (`llm-serving-scripts`) mounted at /scripts.
 *
 * Integrity contract: the mirror writes every file, then `manifest.sha256` (sha256sum format), then
 * `manifest.json` LAST. A prefix without manifest.json is incomplete and is never served.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const SCRIPTS_MOUNT = "/scripts";
// The upstream s5cmd image keeps its binary at /s5cmd, outside PATH; other images have it on PATH.
export const VERIFIED_MARKER = ".verified";

/** s5cmd flags shared by the mirror upload and every preload (tuned in BENCHMARKS.md). */
export function s5cmdCopyFlags(t: { numWorkers: number; concurrency: number; partSizeMiB: number }): string {
  return `--numworkers ${t.numWorkers} cp --concurrency ${t.concurrency} --part-size ${t.partSizeMiB}`;
}

/**
 * Mirror step 1 (s5cmd image): fetch the existing manifest, if any, for the idempotency check.
 * Only "no such object" means "mirror it"; any other answer (AccessDenied, a bad key, NoSuchBucket,
 * an unreachable endpoint) stops the Job here, naming the Secret, the endpoint and the operation,
 * instead of downloading the whole model to fail at the upload. `ls`, not `cat`: a HEAD answers
 * 404 with no error code, for a missing bucket or key alike.
 */
export const MIRROR_CHECK_SH = `set -eu
S5CMD="$(command -v s5cmd || echo /s5cmd)"
manifest="s3://$BUCKET/$PREFIX/manifest.json"
fail() {
  echo "FATAL: $1 with the credentials of Secret $S3_ACCESS_FROM at $AWS_ENDPOINT_URL: $2"
  sed 's/^/  s5cmd: /' /tmp/check.err
  exit 1
}
if ! "$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" ls "$manifest" > /tmp/check.out 2> /tmp/check.err; then
  if grep -q "no object found" /tmp/check.err; then
    rm -f /work/remote-manifest.json
    echo "no manifest yet at s3://$BUCKET/$PREFIX/: mirroring"
    exit 0
  fi
  # s5cmd says: ERROR "ls s3://...": <Code>: <message>
  code="$(sed -n 's/^ERROR "[^"]*": \\([A-Za-z]*\\).*/\\1/p' /tmp/check.err | head -n 1)"
  case "$(cat /tmp/check.err)" in
    *"send request failed"* | *"dial tcp"* | *"no such host"*) answer="endpoint unreachable" ;;
    *AccessDenied* | *Forbidden* | *"status code: 403"*) answer="access denied ($code)" ;;
    *NoSuchBucket*) answer="bucket $BUCKET does not exist (NoSuchBucket)" ;;
    *) answer="$code" ;;
  esac
  fail "ls $manifest failed" "$answer"
fi
# ls matches by prefix: only the exact key counts.
if ! awk -v key="$PREFIX/manifest.json" '$NF == key { found = 1 } END { exit !found }' /tmp/check.out; then
  rm -f /work/remote-manifest.json
  echo "no manifest yet at s3://$BUCKET/$PREFIX/: mirroring"
  exit 0
fi
"$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" cat "$manifest" > /work/remote-manifest.json 2> /tmp/check.err || fail "cat $manifest failed" "see below"
echo "found $manifest"
`;

/** Mirror step 2 (python image): mirror_download.py, beside this file (run as /scripts/mirror-download.py). */
export const MIRROR_DOWNLOAD_PY = readFileSync(join(__dirname, "mirror_download.py"), "utf8");

/** Mirror step 3 (s5cmd image): upload the files, then manifest.json last. */
export function mirrorUploadSh(flags: string): string {
  return `set -eu
S5CMD="$(command -v s5cmd || echo /s5cmd)"
if [ -f /work/skip ]; then echo "already mirrored"; exit 0; fi
"$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" ${flags} --exclude ".cache/*" "/work/model/*" "s3://$BUCKET/$PREFIX/"
"$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" cp /work/manifest.json "s3://$BUCKET/$PREFIX/manifest.json"
echo "mirrored to s3://$BUCKET/$PREFIX/"
`;
}

/**
 * Preload (Python image, s5cmd on PATH): copy a mirrored model into DEST once, verify every sha256,
 * then publish it atomically with a marker. Each file is hashed (hashlib, one thread per CPU) the
 * moment s5cmd reports it written, so hashing overlaps the rest of the download. Resumable: files
 * kept from an earlier attempt are skipped by s5cmd and hashed at the end. A mismatch deletes the
 * bad files and fails loudly, so the retry fetches them again. Arguments: the s5cmd flags.
 */
export const PRELOAD_PY = `import concurrent.futures, hashlib, json, os, pathlib, shutil, subprocess, sys

dest = pathlib.Path(os.environ["DEST"])
part = pathlib.Path(f"{dest}.partial")
source = f"s3://{os.environ['BUCKET']}/{os.environ['PREFIX']}"
s5cmd = [shutil.which("s5cmd") or "/s5cmd", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]]
marker = "${VERIFIED_MARKER}"

if (dest / marker).exists():
    print(f"{dest} already present and verified")
    sys.exit(0)
listed = subprocess.run(s5cmd + ["cat", f"{source}/manifest.json"], stdout=subprocess.PIPE)
if listed.returncode != 0:
    sys.exit(f"FATAL: {source}/manifest.json is missing: the mirror has not completed")
part.mkdir(parents=True, exist_ok=True)
# Room for what is still to copy, checked before copying (the claim or quota was sized from config).
sizes = {f["path"]: f["size"] for f in json.loads(listed.stdout or b"{}").get("files", [])}
kept = sum(size for path, size in sizes.items() if (part / path).is_file() and (part / path).stat().st_size == size)
needed, free = sum(sizes.values()) - kept, shutil.disk_usage(part).free
if needed > free:
    gib = 1024 ** 3
    sys.exit(f"FATAL: {source} needs {needed / gib:.1f} GiB more ({len(sizes)} files, {sum(sizes.values()) / gib:.1f} GiB) "
             f"but {part.parent} has {free / gib:.1f} GiB free; raise {os.environ.get('CAPACITY_SETTING', 'the volume size')}")
# The manifest first, so that every file can be checked the moment it lands.
subprocess.run(s5cmd + ["cp", f"{source}/manifest.sha256", f"{part}/"], check=True, stdout=subprocess.DEVNULL)
expected = dict(reversed(line.split("  ", 1)) for line in (part / "manifest.sha256").read_text().splitlines() if line)

def sha256(path):
    try:
        with (part / path).open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as error:
        return f"unreadable ({error.strerror})"

pool = concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 4)
hashes = {}
copy = subprocess.Popen(s5cmd + ["--json"] + sys.argv[1:] + ["--if-size-differ", f"{source}/*", f"{part}/"], stdout=subprocess.PIPE, text=True)
for line in copy.stdout:
    try:
        event = json.loads(line)
    except ValueError:
        print(line, end="")
        continue
    path = os.path.relpath(event.get("destination", ""), part)
    if event.get("success") and path in expected and path not in hashes:
        hashes[path] = pool.submit(sha256, path)
if copy.wait() != 0:
    sys.exit(f"FATAL: s5cmd exited with {copy.returncode}; the retry resumes from {part}")
for path in expected.keys() - hashes.keys():
    hashes[path] = pool.submit(sha256, path)  # kept from an earlier attempt
bad = sorted(path for path, digest in hashes.items() if digest.result() != expected[path])
for path in bad:
    print(f"{path}: FAILED (sha256 {hashes[path].result()}, expected {expected[path]})")
    (part / path).unlink(missing_ok=True)
if bad:
    sys.exit("FATAL: sha256 verification failed; the bad files were removed and will be fetched again on retry")
# Publish exactly the manifest: anything else (a killed copy's temp file) goes before the rename.
keep = set(expected) | {"manifest.sha256", "manifest.json"}
for path in sorted(part.rglob("*"), reverse=True):
    name = path.relative_to(part).as_posix()
    if path.is_dir():
        if not any(path.iterdir()):
            path.rmdir()
    elif name not in keep:
        print(f"removing {name}: not in the manifest")
        path.unlink()
(part / marker).touch()
shutil.rmtree(dest, ignore_errors=True)
part.rename(dest)
print(f"{dest} verified ({len(expected)} files)")
`;

/** Serving init step: wait until a preloaded copy carries the verified marker. */
export function waitForVerifiedSh(dir: string): string {
  return `set -eu
until [ -f "${dir}/${VERIFIED_MARKER}" ]; do echo "waiting for the verified model at ${dir}"; sleep 10; done
echo "model verified at ${dir}"`;
}

/** Serving init step: the bucket prefix is complete (manifest.json present) before streaming from it. */
export const CHECK_MANIFEST_SH = `set -eu
S5CMD="$(command -v s5cmd || echo /s5cmd)"
"$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" cat "s3://$BUCKET/$PREFIX/manifest.json" > /dev/null || {
  echo "FATAL: s3://$BUCKET/$PREFIX/manifest.json is missing: the mirror has not completed"; exit 1; }
echo "s3://$BUCKET/$PREFIX is complete"`;

/** Verify a read-only copy (e.g. a Fluid dataset mount) against its manifest without writing to it. */
export function verifyReadOnlySh(dir: string): string {
  return `set -eu
cd "${dir}"
[ -f manifest.sha256 ] || { echo "FATAL: ${dir}/manifest.sha256 missing"; exit 1; }
if ! sha256sum -c manifest.sha256 > /tmp/verify.log 2>&1; then grep -v ': OK$' /tmp/verify.log; echo "FATAL: sha256 verification failed"; exit 1; fi
echo "verified $(wc -l < manifest.sha256) files in ${dir}"`;
}
