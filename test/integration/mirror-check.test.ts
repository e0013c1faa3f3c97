/**
 * The mirror Job's first step (mirror_check.sh) with real s5cmd against a real S3 server: only a
 * missing manifest starts a mirror; a wrong key, a missing bucket or an unreachable endpoint stop
 * the Job, naming the Secret, the endpoint and the answer.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIRROR_CHECK_SH } from "../../components/scripts";
import { freePort } from "../../scripts/localTools";
import { S3Server, s3ToolsBin, startS3Server } from "./s3Server";

const PREFIX = "models/Qwen/Qwen2.5-0.5B-Instruct/7ae557604adf67be50417f59c2c2f167def9a775";
const root = mkdtempSync(join(tmpdir(), "llm-serving-mirror-check-"));
const work = join(root, "work");
let s3: S3Server;

beforeAll(async () => {
  mkdirSync(join(root, "bucket", PREFIX), { recursive: true });
  mkdirSync(work);
  s3 = await startS3Server(join(root));
});
afterAll(() => {
  s3?.stop();
  rmSync(root, { recursive: true, force: true });
});

function check(env: Record<string, string> = {}): { status: number | null; output: string } {
  const script = join(root, "check.sh");
  writeFileSync(script, MIRROR_CHECK_SH);
  const run = spawnSync("sh", [script], {
    env: {
      PATH: `${s3ToolsBin()}:/usr/bin:/bin`,
      HOME: root,
      TMPDIR: root,
      BUCKET: "bucket",
      PREFIX,
      S3_ACCESS_FROM: "minio-writer",
      MIRROR_WORK: work,
      ...s3.env,
      AWS_ENDPOINT_URL: s3.endpoint,
      ...env,
    },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe("the mirror's check step", () => {
  it("mirrors when there is no manifest, even if a longer key shares its prefix", () => {
    writeFileSync(join(root, "bucket", PREFIX, "manifest.json.partial"), "{}");
    const run = check();
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain(`no manifest yet at s3://bucket/${PREFIX}/: mirroring`);
  });

  it("fetches an existing manifest for the idempotency check", () => {
    writeFileSync(join(root, "bucket", PREFIX, "manifest.json"), '{"repo":"Qwen/Qwen2.5-0.5B-Instruct"}');
    const run = check();
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain(`found s3://bucket/${PREFIX}/manifest.json`);
    expect(readFileSync(join(work, "remote-manifest.json"), "utf8")).toContain("Qwen2.5-0.5B");
  });

  it.each<[string, () => Promise<Record<string, string>> | Record<string, string>, RegExp]>([
    ["a wrong secret key", () => ({ AWS_SECRET_ACCESS_KEY: "wrong" }), /access denied \(SignatureDoesNotMatch\)/],
    ["a missing bucket", () => ({ BUCKET: "no-such-bucket" }), /bucket no-such-bucket does not exist \(NoSuchBucket\)/],
    ["an unreachable endpoint", async () => ({ AWS_ENDPOINT_URL: `http://127.0.0.1:${await freePort()}` }), /endpoint unreachable/],
  ])("stops on %s, naming the Secret, the endpoint and the answer", async (_what, env, answer) => {
    const overrides = await env();
    const run = check(overrides);
    expect(run.status, run.output).toBe(1);
    expect(run.output).toMatch(answer);
    expect(run.output).toContain("with the credentials of Secret minio-writer at");
    expect(run.output).toContain(overrides.AWS_ENDPOINT_URL ?? s3.endpoint);
    expect(run.output).not.toContain("mirroring");
  });
});
