/**
 * The docs' commands, run as written: "Listing the models in the bucket" (docs/storage.md) lists the mirrored
 * models with the image's s5cmd, against a real S3 server, from the env the reader Secret gives the
 * pod (the `$(VAR)` references in its args expanded as the kubelet does).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProgram, stackFileConfig } from "../harness";
import { S3Server, s3ToolsBin, startS3Server } from "./s3Server";

const STORAGE_DOC = readFileSync(join(__dirname, "..", "..", "docs", "storage.md"), "utf8");
const root = mkdtempSync(join(tmpdir(), "llm-serving-readme-s3-"));
let s3: S3Server;

beforeAll(async () => {
  s3 = await startS3Server(root);
});
afterAll(() => {
  s3?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** The fenced sh block right after a heading of docs/storage.md. */
function commandUnder(heading: string): string {
  const at = STORAGE_DOC.search(new RegExp(`^#+ ${heading}$`, "m"));
  if (at < 0) throw new Error(`no heading "${heading}" in docs/storage.md`);
  const match = /```sh\n([\s\S]*?)```/.exec(STORAGE_DOC.slice(at));
  if (!match) throw new Error(`no sh block under "${heading}" in docs/storage.md`);
  return match[1].replace(/\\\n\s*/g, "");
}

/** `$(VAR)` in container args, expanded from the container's env as the kubelet does. */
function expand(arg: string, env: Record<string, string>): string {
  return arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
}

describe("docs/storage.md: listing the models in the bucket", () => {
  it("names the dev stack's reader Secret and lists exactly the complete models", async () => {
    const command = commandUnder("Listing the models in the bucket");
    const overrides = JSON.parse(/--overrides='([^']+)'/.exec(command)![1]) as {
      spec: { containers: Array<{ image: string; args: string[]; envFrom: Array<{ secretRef: { name: string } }> }> };
    };
    const container = overrides.spec.containers[0];
    const secretName = container.envFrom[0].secretRef.name;

    // The Secret the command reads is the one the dev stack creates, with the keys s5cmd needs.
    const dev = await runProgram(stackFileConfig("dev"), ["hfToken"]);
    const secret = dev.resources.find((r) => r.type === "kubernetes:core/v1:Secret" && r.inputs.metadata.name === secretName);
    expect(secret, `a Secret named ${secretName} in the dev stack`).toBeDefined();
    // (the whole stringData arrives as one secret value)
    const stringData = secret!.inputs.stringData.value ?? secret!.inputs.stringData;
    expect(Object.keys(stringData).sort()).toEqual(["AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_SECRET_ACCESS_KEY"]);

    // The bucket: two complete mirrors (manifest.json written last) and one unfinished one.
    const bucket = "llm-models-dev";
    for (const [prefix, complete] of [
      ["models/Qwen/Qwen2.5-0.5B-Instruct/7ae557604adf67be50417f59c2c2f167def9a775", true],
      ["models/meta-llama/Llama-3.1-8B-Instruct/0e9e39f249a16976918f6564b8830bc894c89659", true],
      ["models/Qwen/Qwen2.5-7B-Instruct/a09a35458c702b33eeacc393d103063234e8bc28", false],
    ] as const) {
      mkdirSync(join(root, bucket, prefix), { recursive: true });
      writeFileSync(join(root, bucket, prefix, "model.safetensors"), "weights");
      if (complete) writeFileSync(join(root, bucket, prefix, "manifest.json"), "{}");
    }

    // The pod's env: what the Secret holds, pointing at this server.
    const env = { ...s3.env, AWS_ENDPOINT_URL: s3.endpoint };
    const args = container.args.map((a) => expand(a.replace("BUCKET", bucket), env));
    const run = spawnSync(join(s3ToolsBin(), "s5cmd"), args, {
      env: { ...env, PATH: "/usr/bin:/bin", HOME: root },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    const listed = run.stdout
      .trim()
      .split("\n")
      .map((line) => line.split(/\s+/).pop());
    expect(listed.sort()).toEqual([
      "Qwen/Qwen2.5-0.5B-Instruct/7ae557604adf67be50417f59c2c2f167def9a775/manifest.json",
      "meta-llama/Llama-3.1-8B-Instruct/0e9e39f249a16976918f6564b8830bc894c89659/manifest.json",
    ]);
  });
});
