/**
 * The scripts our Jobs and init containers run. Each is a file of its own language beside the
 * component that uses it (linted by ruff and shellcheck, tested by test/python), read here once so
 * that the program, the tests and the benchmarks run the exact same text.
 *
 * Integrity contract: the mirror writes every file with its S3 SHA-256 checksum, then `manifest.sha256`
 * (sha256sum format), then `manifest.json` LAST (each file's size, sha256 and S3 checksum). A prefix
 * without manifest.json is incomplete and is never served.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const SCRIPTS_MOUNT = "/scripts";
/** The file a preloaded copy gets once every sha256 matched (preload.py, wait_for_verified.sh). */
export const VERIFIED_MARKER = ".verified";

const script = (...path: string[]) => readFileSync(join(__dirname, ...path), "utf8");

/** s5cmd flags of every preload (tuned in BENCHMARKS.md). */
export function s5cmdCopyFlags(t: { numWorkers: number; concurrency: number; partSizeMiB: number }): string {
  return `--numworkers ${t.numWorkers} cp --concurrency ${t.concurrency} --part-size ${t.partSizeMiB}`;
}

/** Mirror step 1 (s5cmd image): the idempotency check, failing fast on credential errors. */
export const MIRROR_CHECK_SH = script("mirror", "mirror_check.sh");
/** Mirror step 2 (python image): run from the scripts ConfigMap as /scripts/mirror-download.py. */
export const MIRROR_DOWNLOAD_PY = script("mirror", "mirror_download.py");
/** Mirror step 3 (python image): upload with SHA-256 checksums, manifest.json last; /scripts/mirror-upload.py. */
export const MIRROR_UPLOAD_PY = script("mirror", "mirror_upload.py");
/** Preload (python image, s5cmd on PATH): copy, verify every sha256, publish. Arguments: the s5cmd flags. */
export const PRELOAD_PY = script("storage", "preload.py");
/** Revision cleanup (python image). Arguments: model root, current revision, how many to keep. */
export const PRUNE_REVISIONS_PY = script("storage", "prune_revisions.py");
/** Serving init step: wait for the verified marker. Argument: the model directory. */
export const WAIT_FOR_VERIFIED_SH = script("storage", "wait_for_verified.sh");
/** Serving init step (s3Streaming, python image): every manifest object present, its size and stored SHA-256. */
export const VERIFY_STREAMED_PY = script("storage", "verify_streamed.py");
/** Verify a read-only copy (a Fluid dataset mount) against its manifest. Argument: the directory. */
export const VERIFY_READ_ONLY_SH = script("storage", "verify_read_only.sh");

/** Smoke check after deploy (python image). Arguments: the server's base URL (…/v1), the served model name. */
export const SMOKE_CHECK_PY = script("serving", "smoke_check.py");
/** Compile-cache housekeeping before the engine starts. Arguments: root, this server's key, the cap in GiB. */
export const COMPILE_CACHE_GC_PY = script("serving", "compile_cache_gc.py");
/** MinIO's setup Job (mc image): bucket, users, policies. Arguments: the bucket, then the roles. */
export const MINIO_SETUP_SH = script("store", "minio_setup.sh");

/** A container command running a shell script with positional arguments (`$0` names the step). */
export function shellCommand(scriptText: string, step: string, ...args: string[]): string[] {
  return ["/bin/sh", "-c", scriptText, step, ...args];
}
