/** What the S3 benchmarks share: a real S3 server on loopback, its credentials, and cold-cache timing. */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, toolchainBinDir } from "../scripts/localTools";

export const BUCKET = "llm-models";
export const PREFIX = "models/bench/Synthetic-7B/0123456789abcdef0123456789abcdef01234567";
export const ACCESS = {
  AWS_ACCESS_KEY_ID: "bench",
  AWS_SECRET_ACCESS_KEY: randomBytes(12).toString("hex"),
  AWS_REGION: "us-east-1",
};

export const bin = toolchainBinDir();
export const env: NodeJS.ProcessEnv = { ...process.env, ...ACCESS, PATH: `${bin}:${process.env.PATH}` };
export const canDropCaches = process.getuid?.() === 0 && existsSync("/proc/sys/vm/drop_caches");

/** Runs a program (a shell script when given a string), fails loudly, returns its stdout. */
export function run(command: string | string[], extraEnv: Record<string, string> = {}): string {
  const [file, ...args] = typeof command === "string" ? ["/bin/sh", "-c", command] : command;
  const r = spawnSync(file, args, { env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  if (r.status !== 0)
    throw new Error(`failed (${r.status}): ${[file, ...args].join(" ").slice(0, 200)}\n${r.stderr.toString().slice(-2000)}`);
  return r.stdout.toString();
}

/** Flushes dirty pages and empties the page cache (when root), so the next read comes from disk. */
export function dropCaches(): void {
  run("sync");
  if (canDropCaches) writeFileSync("/proc/sys/vm/drop_caches", "3");
}

/** Seconds for one run, cold page cache, including the flush of what it wrote. */
export function timed(command: string | string[], extraEnv: Record<string, string> = {}): number {
  dropCaches();
  const start = process.hrtime.bigint();
  run(command, extraEnv);
  run("sync");
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export interface S3Server {
  readonly endpoint: string;
  readonly pid: number;
  stop(): void;
}

/** versitygw (posix backend) over `root`, answering path-style on 127.0.0.1 as R2 and MinIO do. */
export async function startS3(root: string): Promise<S3Server> {
  for (const tool of ["s5cmd", "versitygw"]) {
    if (!existsSync(join(bin, tool))) throw new Error(`${tool} missing: run \`bash scripts/toolchain.sh bench\` first`);
  }
  const port = await freePort();
  const server = spawn(join(bin, "versitygw"), ["--port", `127.0.0.1:${port}`, "--quiet", "posix", root], {
    env: { ...env, ROOT_ACCESS_KEY_ID: ACCESS.AWS_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY: ACCESS.AWS_SECRET_ACCESS_KEY },
    stdio: "ignore",
  });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (spawnSync("s5cmd", ["--endpoint-url", endpoint, "ls"], { env }).status === 0)
      return { endpoint, pid: server.pid ?? 0, stop: () => server.kill() };
    await new Promise((r) => setTimeout(r, 100));
  }
  server.kill();
  throw new Error("versitygw did not start");
}

export function rate(seconds: number, bytes: number): string {
  return `${(bytes / 2 ** 30 / seconds).toFixed(2)} GiB/s`;
}

export function fmt(seconds: number, bytes: number): string {
  return `${seconds.toFixed(2).padStart(7)} s  ${rate(seconds, bytes).padStart(11)}`;
}

/** A venv's python (scripts/python.sh: created once per version of the requirements file). */
export function venvPython(requirements: string, prefix: string): string {
  const r = spawnSync("bash", ["-c", `source scripts/python.sh && venv_for ${requirements} ${prefix}`], {
    cwd: resolve(__dirname, ".."),
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0) throw new Error(`could not create the venv of ${requirements}`);
  return r.stdout.toString().trim();
}

const MIRROR_DIR = resolve(__dirname, "..", "components", "mirror");

/** The mirror Job's hashing pass over WORK/model: manifest.sha256, manifest.json and the upload's part digests. */
export function writeMirrorManifests(python: string, work: string, partMiB: number): void {
  const code = `import pathlib, sys; sys.path.insert(0, sys.argv[1]); import mirror_download as m
w = pathlib.Path(sys.argv[2]); m.write_manifests(w, w / "model", "bench/Synthetic-7B", sys.argv[3], int(sys.argv[4]) * m.MIB)`;
  run([python, "-c", code, MIRROR_DIR, work, PREFIX.split("/").pop() as string, String(partMiB)]);
}

/** The mirror Job's upload step (every part with its SHA-256, manifest.json last): command and env. */
export function mirrorUpload(python: string, work: string, endpoint: string, concurrency: number): [string[], Record<string, string>] {
  return [
    [python, join(MIRROR_DIR, "mirror_upload.py"), "--concurrency", String(concurrency)],
    { AWS_ENDPOINT_URL: endpoint, BUCKET, PREFIX, MIRROR_WORK: work, S3_PATH_STYLE: "1" },
  ];
}
