/**
 * The local stack's shape (MinIO store, hostPath cache, vLLM) on a real node: the one-node cluster of
 * `scripts/node-cluster.sh`, the local images of `scripts/node_images.py` (the engine is the CPU
 * STAND-IN of test/node/standin, not vLLM), the Hub emulator serving a model this test makes, and the
 * real Pulumi engine with await on. Runs inside the cluster's network namespace (`npm run test:node`).
 */
import { Stack } from "@pulumi/pulumi/automation";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, startEngine } from "../integration/engine";
import { COMMIT, KUBECONFIG, MODEL, modelConfig, NodeRun, REPO } from "./nodeStack";

const NEXT_COMMIT = "2222222222222222222222222222222222222222";

/** `pulumi up` that must fail: its error text (the engine's diagnostics) and how long it took. */
async function failingUp(stack: Stack): Promise<{ message: string; seconds: number }> {
  const started = Date.now();
  const output: string[] = [];
  try {
    await stack.up({ onOutput: (line) => output.push(line) });
  } catch (error) {
    return { message: `${String(error)}\n${output.join("")}`, seconds: (Date.now() - started) / 1000 };
  }
  throw new Error(`pulumi up succeeded, expected a failure:\n${output.join("")}`);
}

describe("the local stack on a real node (vLLM CPU stand-in)", () => {
  let engine: Engine;
  let stack: Stack;
  let run: NodeRun;

  beforeAll(async () => {
    run = new NodeRun();
    await run.startHub(COMMIT, 1);
    engine = await startEngine(KUBECONFIG);
    stack = await engine.stack("node", run.stackConfig());
  });

  afterAll(async () => {
    engine?.cleanup();
    await run?.cleanup();
  });

  it("pulumi up returns once MinIO, its setup, the mirror, the preload, the server and the smoke check have run", async () => {
    const output: string[] = [];
    const result = await stack.up({ onOutput: (line) => output.push(line) });
    expect(result.summary.result, output.join("")).toBe("succeeded");
    const jobs = JSON.parse(run.kubectl("get", "jobs", "-o", "json")) as {
      items: { metadata: { name: string }; status: { succeeded?: number } }[];
    };
    const succeeded = jobs.items.filter((j) => j.status.succeeded === 1).map((j) => j.metadata.name.replace(/-[0-9a-f]{8}$/, ""));
    const expected = ["minio-setup", `${MODEL}-mirror`, `${MODEL}-preload`, `${MODEL}-smoke-check`, `${MODEL}-prune-revisions`];
    expect(succeeded.sort()).toEqual(expected.sort());
    // The served revision sits in the node directory, verified.
    expect(readdirSync(join(run.cacheDir, REPO, COMMIT)).sort()).toContain("model-00001-of-00002.safetensors");
  });

  it("a completion through the Service answers from the stand-in's loaded weights", async () => {
    const { status, body } = await run.completion();
    expect(status, body).toBe(200);
    const parsed = JSON.parse(body) as { choices: { text: string }[]; system_fingerprint: string };
    expect(parsed.choices[0].text).toMatch(/^( t[0-9]+){4}$/);
    expect(parsed.system_fingerprint).toContain("stand-in");
  });

  it("a second up changes nothing", async () => {
    const result = await stack.up();
    const changes = Object.entries(result.summary.resourceChanges ?? {}).filter(([op]) => op !== "same");
    expect(changes).toEqual([]);
  });

  it("a revision bump mirrors, preloads, rolls the server onto the new weights and prunes the old revision", async () => {
    await run.startHub(NEXT_COMMIT, 2);
    const before = await run.completion();
    await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: NEXT_COMMIT }]);
    const output: string[] = [];
    const result = await stack.up({ onOutput: (line) => output.push(line) });
    expect(result.summary.result, output.join("")).toBe("succeeded");
    expect(existsSync(join(run.cacheDir, REPO, NEXT_COMMIT, "model-00001-of-00002.safetensors"))).toBe(true);
    // storage.keepRevisions (1): the superseded revision is gone from the node directory.
    expect(existsSync(join(run.cacheDir, REPO, COMMIT))).toBe(false);
    // Other weights, other tokens: once `up` returns, the new revision is what answers.
    const after = await run.completion();
    expect(after.status, after.body).toBe(200);
    expect(JSON.parse(after.body).choices[0].text).not.toBe(JSON.parse(before.body).choices[0].text);
  });

  // Before the faults: they run on the stack that the next `up` recreates around the kept data.
  it("destroy keeps the bucket's data, the cache directory and the claims", async () => {
    await stack.destroy();
    // MinIO's objects stay on its volume (the claim outlives the StatefulSet), the weights in the node directory.
    expect(readdirSync(run.minioDir).length).toBeGreaterThan(0);
    expect(existsSync(join(run.cacheDir, REPO, NEXT_COMMIT, ".verified"))).toBe(true);
    expect(run.kubectl("get", "pvc", "-o", "name")).toMatch(/persistentvolumeclaim\/data-minio-0/);
  });

  it("fault: a server that exits at start fails pulumi up naming its pod and reason", async () => {
    await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: NEXT_COMMIT, extraArgs: ["--no-such-vllm-flag"] }]);
    const { message, seconds } = await failingUp(stack);
    // The pod, the exit, and the engine's own words (the end of its log, as the termination message).
    expect(message).toMatch(new RegExp(`\\[Pod ${run.namespace}/${MODEL}-[a-z0-9]+-[a-z0-9]+\\]`));
    expect(message).toContain("exit code 2");
    expect(message).toContain("vllm serve: error: unrecognized arguments: --no-such-vllm-flag");
    // Within the await the program computed (the 120 s startup budget + 60 s for scheduling and the image),
    // after the Jobs that the up recreates around the kept data.
    expect(seconds).toBeLessThan(120 + 60 + 90);
    await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: NEXT_COMMIT }]);
  });

  it("fault: an object corrupted in the bucket after the mirror fails the preload within a minute, naming the file", async () => {
    // A writer overwrites a shard behind the mirror's back; the node no longer holds the revision.
    const shard = join(run.work, "corrupt.safetensors");
    writeFileSync(shard, randomBytes(4096));
    run.s5cmd("cp", shard, `s3://llm-models/models/${REPO}/${NEXT_COMMIT}/model-00001-of-00002.safetensors`);
    rmSync(join(run.cacheDir, REPO, NEXT_COMMIT), { recursive: true, force: true });
    // Another copier setting: a new preload Job.
    await engine.setConfig(
      stack,
      "storage",
      run.stackConfig({ storage: { preload: { image: run.images.s5cmd, numWorkers: 63 } } }).storage,
    );
    const { message, seconds } = await failingUp(stack);
    expect(message).toMatch(new RegExp(`${run.namespace}/${MODEL}-preload-[0-9a-f]{8}`));
    expect(message).toContain("sha256 verification failed twice for model-00001-of-00002.safetensors");
    // Two retries, seconds apart: the Job fails with BackoffLimitExceeded, which ends Pulumi's await.
    expect(seconds).toBeLessThan(120);
  });

  it("fault: store credentials the store refuses fail the preload within a minute, saying so", async () => {
    const wrong = JSON.stringify({ stringData: { AWS_SECRET_ACCESS_KEY: "not-the-key" } });
    run.kubectl("patch", "secret", "minio-reader", "--type=merge", "-p", wrong);
    await engine.setConfig(
      stack,
      "storage",
      run.stackConfig({ storage: { preload: { image: run.images.s5cmd, numWorkers: 62 } } }).storage,
    );
    const { message, seconds } = await failingUp(stack);
    expect(message).toMatch(new RegExp(`${run.namespace}/${MODEL}-preload-[0-9a-f]{8}`));
    expect(message).toContain("the store refuses these credentials");
    expect(seconds).toBeLessThan(120);
  });
});
