/** A real S3 server for integration tests: versitygw (posix backend) on loopback, from `scripts/toolchain.sh s3`. */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { freePort, toolchainBinDir } from "../../scripts/localTools";

export interface S3Server {
  readonly endpoint: string;
  /** The root user's credentials, as the AWS_* variables any S3 client reads. */
  readonly env: Record<string, string>;
  stop(): void;
}

/** The bin dir with s5cmd and versitygw; throws naming the command that builds them. */
export function s3ToolsBin(): string {
  const bin = toolchainBinDir();
  for (const tool of ["s5cmd", "versitygw"]) {
    if (!existsSync(join(bin, tool))) throw new Error(`${tool} missing in ${bin}: run \`bash scripts/toolchain.sh s3\` first`);
  }
  return bin;
}

/** Serves the directory `root` (each subdirectory a bucket) over S3 on a free loopback port. */
export async function startS3Server(root: string): Promise<S3Server> {
  const bin = s3ToolsBin();
  const port = await freePort();
  const env = { AWS_ACCESS_KEY_ID: "integration", AWS_SECRET_ACCESS_KEY: randomBytes(12).toString("hex"), AWS_REGION: "us-east-1" };
  const server: ChildProcess = spawn(join(bin, "versitygw"), ["--port", `127.0.0.1:${port}`, "--quiet", "posix", root], {
    env: { PATH: process.env.PATH ?? "", ROOT_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY },
    stdio: "ignore",
  });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const probe = spawnSync(join(bin, "s5cmd"), ["--endpoint-url", endpoint, "ls"], { env: { ...env, PATH: process.env.PATH ?? "" } });
    if (probe.status === 0) return { endpoint, env, stop: () => server.kill() };
    await new Promise((r) => setTimeout(r, 100));
  }
  server.kill();
  throw new Error("versitygw did not start");
}
