/**
 * The scripts our Jobs and init containers run. Each is a file of its own language beside the
 * component that uses it (linted by ruff and shellcheck, tested by test/python), read here once so
 * that the program, the tests and the benchmarks run the exact same text. Pods run them from the
 * stack's scripts ConfigMap, mounted at /scripts: a script passed inline in `command` would first go
 * through the kubelet's `$(VAR)` / `$$` expansion, which no shell or Python text survives intact.
 *
 * Integrity contract: the mirror writes every file with its S3 SHA-256 checksum, then `manifest.sha256`
 * (sha256sum format), then `manifest.json` LAST (each file's size, sha256 and S3 checksum). A prefix
 * without manifest.json is incomplete and is never served.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { shortHash } from "./naming";

export const SCRIPTS_MOUNT = "/scripts";
/** The file a preloaded copy gets once every sha256 matched (preload.py, wait_for_verified.sh). */
export const VERIFIED_MARKER = ".verified";
/** Pod-template annotation: a digest of the scripts the pod runs, so a changed script rolls it (or replaces the Job). */
export const SCRIPTS_ANNOTATION = "llm-serving.io/scripts";

/** A script as pods run it: `interpreter /scripts/<file> args...`. */
export interface PodScript {
  /** Its key in the scripts ConfigMap, and its file name under /scripts. */
  readonly file: string;
  readonly interpreter: "python3" | "/bin/sh";
  readonly text: string;
}

function podScript(file: string, ...path: string[]): PodScript {
  return { file, interpreter: file.endsWith(".py") ? "python3" : "/bin/sh", text: readFileSync(join(__dirname, ...path), "utf8") };
}

/** s5cmd flags of every preload (tuned in BENCHMARKS.md). */
export function s5cmdCopyFlags(t: { numWorkers: number; concurrency: number; partSizeMiB: number }): string {
  return `--numworkers ${t.numWorkers} cp --concurrency ${t.concurrency} --part-size ${t.partSizeMiB}`;
}

/** Mirror step 1 (s5cmd image): the idempotency check, failing fast on credential errors. */
export const MIRROR_CHECK = podScript("mirror-check.sh", "mirror", "mirror_check.sh");
/** Mirror step 2 (python image). */
export const MIRROR_DOWNLOAD = podScript("mirror-download.py", "mirror", "mirror_download.py");
/** Mirror step 3 (python image): upload with SHA-256 checksums, manifest.json last. */
export const MIRROR_UPLOAD = podScript("mirror-upload.py", "mirror", "mirror_upload.py");
/** Preload (python image, s5cmd on PATH): copy, verify every sha256, publish. Arguments: the s5cmd flags. */
export const PRELOAD = podScript("preload.py", "storage", "preload.py");
/** Revision cleanup (python image). Arguments: model root, current revision, how many to keep. */
export const PRUNE_REVISIONS = podScript("prune-revisions.py", "storage", "prune_revisions.py");
/** Serving init step: wait for the verified marker. Argument: the model directory. */
export const WAIT_FOR_VERIFIED = podScript("wait-for-verified.sh", "storage", "wait_for_verified.sh");
/** Serving init step (s3Streaming, python image): every manifest object present, its size and stored SHA-256. */
export const VERIFY_STREAMED = podScript("verify-streamed.py", "storage", "verify_streamed.py");
/** Verify a read-only copy (a Fluid dataset mount) against its manifest. Argument: the directory. */
export const VERIFY_READ_ONLY = podScript("verify-read-only.sh", "storage", "verify_read_only.sh");
/** Smoke check after deploy (python image). Arguments: the server's base URL (…/v1), the served model name. */
export const SMOKE_CHECK = podScript("smoke-check.py", "serving", "smoke_check.py");
/** Compile-cache housekeeping before the engine starts. Arguments: root, this server's key, the cap in GiB. */
export const COMPILE_CACHE_GC = podScript("compile-cache-gc.py", "serving", "compile_cache_gc.py");
/** MinIO's setup Job (mc image): bucket, users, policies. Arguments: the bucket, then the roles. */
export const MINIO_SETUP = podScript("minio-setup.sh", "store", "minio_setup.sh");

/** Every pod script: the scripts ConfigMap's data. */
export const POD_SCRIPTS: readonly PodScript[] = [
  MIRROR_CHECK,
  MIRROR_DOWNLOAD,
  MIRROR_UPLOAD,
  PRELOAD,
  PRUNE_REVISIONS,
  WAIT_FOR_VERIFIED,
  VERIFY_STREAMED,
  VERIFY_READ_ONLY,
  SMOKE_CHECK,
  COMPILE_CACHE_GC,
  MINIO_SETUP,
];

/** The scripts ConfigMap's data: one key per script. */
export function scriptsConfigMapData(): Record<string, string> {
  return Object.fromEntries(POD_SCRIPTS.map((s) => [s.file, s.text]));
}

/**
 * The scripts ConfigMap's name, for its content: a changed script makes a new ConfigMap beside the
 * old one, which Pulumi deletes last, so the servers mounting it roll onto the new one. Under one
 * fixed name the provider replaces it delete-first, and Pulumi then replaces every Deployment that
 * mounts it as well (all its pods at once, whatever the rollout).
 */
export function scriptsConfigMapName(data: Record<string, string>): string {
  return `llm-serving-scripts-${shortHash(JSON.stringify(data))}`;
}

/** A container command running a pod script from the mounted ConfigMap (no kubelet expansion applies to a file). */
export function runScript(script: PodScript, ...args: pulumi.Input<string>[]): pulumi.Input<string>[] {
  return [script.interpreter, `${SCRIPTS_MOUNT}/${script.file}`, ...args];
}

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Container = k8s.types.input.core.v1.Container;
const SCRIPTS_VOLUME = "scripts";

/** The script a container runs with `runScript`, if any. */
function scriptOf(container: Container): PodScript | undefined {
  const command = container.command as pulumi.Input<string>[] | undefined;
  const path = command?.[1];
  return typeof path === "string" ? POD_SCRIPTS.find((s) => path === `${SCRIPTS_MOUNT}/${s.file}`) : undefined;
}

/**
 * A pod spec with the scripts ConfigMap mounted (read-only) into each container that runs a pod
 * script, and the template annotations that change with those scripts' text.
 */
export function withScripts(spec: PodSpec, configMap: pulumi.Input<string>): { spec: PodSpec; annotations: Record<string, string> } {
  const used = new Set<PodScript>();
  const mount = (c: Container): Container => {
    const script = scriptOf(c);
    if (!script) return c;
    used.add(script);
    const mounts = (c.volumeMounts as k8s.types.input.core.v1.VolumeMount[] | undefined) ?? [];
    if (mounts.some((m) => m.name === SCRIPTS_VOLUME)) return c;
    return { ...c, volumeMounts: [...mounts, { name: SCRIPTS_VOLUME, mountPath: SCRIPTS_MOUNT, readOnly: true }] };
  };
  const initContainers = (spec.initContainers as Container[] | undefined)?.map(mount);
  const containers = (spec.containers as Container[]).map(mount);
  if (used.size === 0) return { spec, annotations: {} };
  const volumes = ((spec.volumes as k8s.types.input.core.v1.Volume[] | undefined) ?? []).filter((v) => v.name !== SCRIPTS_VOLUME);
  const digest = shortHash(
    [...used]
      .sort((a, b) => a.file.localeCompare(b.file))
      .map((s) => `${s.file}\n${s.text}`)
      .join("\n"),
  );
  return {
    spec: {
      ...spec,
      ...(initContainers ? { initContainers } : {}),
      containers,
      volumes: [...volumes, { name: SCRIPTS_VOLUME, configMap: { name: configMap, defaultMode: 0o444 } }],
    },
    annotations: { [SCRIPTS_ANNOTATION]: digest },
  };
}
