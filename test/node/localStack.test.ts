/**
 * The local stack's shape (MinIO store, hostPath cache, vLLM) on a real node: the one-node cluster of
 * `scripts/node-cluster.sh`, the local images of `scripts/node_images.py` (the engine is the CPU
 * STAND-IN of test/node/standin, not vLLM), the Hub emulator serving a model this test makes, and the
 * real Pulumi engine with await on. Runs inside the cluster's network namespace (`npm run test:node`).
 */
import { Stack } from "@pulumi/pulumi/automation";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, startEngine } from "../integration/engine";
import { COMMIT, failingUp, KUBECONFIG, kubectl, MODEL, modelConfig, NEXT_COMMIT, NodeRun, REPO } from "./nodeStack";

/**
 * The first pod of `component` not yet done, evicted through the Eviction API (what `kubectl drain`
 * does): its name and the phase it had.
 */
async function evictOnce(run: NodeRun, component: string): Promise<{ pod: string; phase: string }> {
  for (let i = 0; i < 1200; i++) {
    const pods = JSON.parse(run.kubectl("get", "pods", "-l", `app.kubernetes.io/component=${component}`, "-o", "json")) as {
      items: { metadata: { name: string; deletionTimestamp?: string }; status: { phase: string } }[];
    };
    const target = pods.items.find((p) => !p.metadata.deletionTimestamp && ["Pending", "Running"].includes(p.status.phase));
    if (target) {
      const eviction = join(run.work, "eviction.json");
      writeFileSync(
        eviction,
        JSON.stringify({ apiVersion: "policy/v1", kind: "Eviction", metadata: { name: target.metadata.name, namespace: run.namespace } }),
      );
      kubectl("create", "--raw", `/api/v1/namespaces/${run.namespace}/pods/${target.metadata.name}/eviction`, "-f", eviction);
      return { pod: target.metadata.name, phase: target.status.phase };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no ${component} pod to evict within 2 minutes`);
}

/**
 * A server pod (`<model>-<replicaset>-<pod>`) named by whichever reports it first: Pulumi's await of
 * the Deployment (`[Pod ns/name]`) or the smoke check watching beside it (`the server pod name`).
 * Either may: with `maxUnavailable: 100%` the provider's await can take the old ReplicaSet scaled to
 * zero for the new one and call the rollout complete at once (seen in CI), and then only the check says why.
 */
function serverPodNamed(namespace: string): RegExp {
  const pod = `${MODEL}-[a-z0-9]+-[a-z0-9]+`;
  return new RegExp(`\\[Pod ${namespace}/${pod}\\]|the server pod ${pod}[ :]`);
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

  it("a revision bump mirrors, preloads (its pod evicted once, as a node drain does), rolls and prunes the old revision", async () => {
    await run.startHub(NEXT_COMMIT, 2);
    const before = await run.completion();
    await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: NEXT_COMMIT }]);
    const evicted = evictOnce(run, "model-preload");
    const output: string[] = [];
    const result = await stack.up({ onOutput: (line) => output.push(line) });
    expect(result.summary.result, output.join("")).toBe("succeeded");
    // The Job ignored the disruption (not counted against its retries) and its next pod did the copy.
    const { pod, phase } = await evicted;
    expect(["Pending", "Running"]).toContain(phase);
    const preload = JSON.parse(run.kubectl("get", "pods", "-l", `app.kubernetes.io/component=model-preload`, "-o", "json")) as {
      items: { metadata: { name: string }; status: { phase: string } }[];
    };
    const succeeded = preload.items.filter((p) => p.status.phase === "Succeeded").map((p) => p.metadata.name);
    expect(succeeded.length).toBeGreaterThan(0);
    expect(succeeded).not.toContain(pod);
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

  // Short budgets: each server fault fails within the await the program computes from them.
  const quick = { startup: { budgetSeconds: 30, pullSeconds: 10 } };

  it("fault: a server that exits at start fails pulumi up naming its pod and reason", async () => {
    const failing = { ...modelConfig(run.images), revision: NEXT_COMMIT, ...quick, extraArgs: ["--no-such-vllm-flag"] };
    await engine.setConfig(stack, "models", [failing]);
    const { message, seconds } = await failingUp(stack);
    // The pod, the exit, and the engine's own words (the end of its log, as the termination message).
    expect(message).toMatch(serverPodNamed(run.namespace));
    expect(message).toContain("exit code 2");
    expect(message).toContain("vllm serve: error: unrecognized arguments: --no-such-vllm-flag");
    // Within the await the program computed (30 s of startup budget and 10 s for the image, in whole
    // minutes), after the Jobs that the up recreates around the kept data.
    expect(seconds).toBeLessThan(60 + 60 + 90);
    await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: NEXT_COMMIT }]);
  });

  it("fault: an engine image that does not exist fails pulumi up naming the pod and the pull error", async () => {
    const image = "llm-serving.local/no-such-engine:0.0.0";
    await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: NEXT_COMMIT, ...quick, image }]);
    const { message, seconds } = await failingUp(stack);
    expect(message).toMatch(serverPodNamed(run.namespace));
    expect(message).toMatch(/ErrImagePull|ImagePullBackOff/);
    expect(message).toContain(image);
    // Nothing prunes the cache for a server that never answered, however Pulumi's await judged it.
    expect(message).not.toMatch(new RegExp(`Job ${MODEL}-prune-revisions (creating|created|updating|replac)`));
    // The await: 30 s of startup budget and 10 s for the pull, in whole minutes.
    expect(seconds).toBeLessThan(60 + 60);
  });

  it("fault: a server no node can hold fails pulumi up naming its pod and the scheduler's reason", async () => {
    // More memory than the node has: the scheduler leaves the pod Pending (Unschedulable), which
    // Pulumi's await of the Deployment does not report; the smoke check beside it watches and says so.
    const huge = { ...modelConfig(run.images), revision: NEXT_COMMIT, ...quick, memory: "512Gi" };
    await engine.setConfig(stack, "models", [huge]);
    try {
      const { message, seconds } = await failingUp(stack);
      expect(message).toMatch(new RegExp(`\\[Pod ${run.namespace}/${MODEL}-smoke-check-[a-z0-9]+-[a-z0-9]+\\]`));
      expect(message).toMatch(
        new RegExp(`the server pod ${MODEL}-[a-z0-9]+-[a-z0-9]+ cannot be scheduled \\([0-9]+ s, UNSCHEDULABLE_SECONDS 10\\)`),
      );
      expect(message).toContain("Insufficient memory");
      expect(message).toMatch(/It requests .*memory=512Gi/);
      expect(message).toContain("so lower llm-serving:models[0].memory, .cpu or .gpus");
      // Within the server's await (30 s of startup budget and 10 s for scheduling, in whole minutes).
      expect(seconds).toBeLessThan(60 + 60 + 90);
    } finally {
      await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: NEXT_COMMIT }]);
    }
  });

  it("fault: the Hub refusing the token for a gated model fails the mirror naming the setting", async () => {
    const third = "3333333333333333333333333333333333333333";
    await run.startHub(third, 3, "hf_granted");
    await stack.setConfig("llm-serving:hfToken", { value: "hf_revoked", secret: true });
    await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: third }]);
    try {
      const { message, seconds } = await failingUp(stack);
      expect(message).toMatch(new RegExp(`\\[Pod ${run.namespace}/${MODEL}-mirror-[0-9a-f]{8}-[a-z0-9]+\\]`));
      // The download step's refusal, as the upload step (the pod's main container) reports it.
      expect(message).toContain("refuses the token in llm-serving:hfToken (HTTP 401: Invalid credentials in Authorization header)");
      // The mirror Job's retries (backoffLimit 4, the kubelet's back-off doubling from 10 s), then BackoffLimitExceeded.
      expect(seconds).toBeLessThan(300);
    } finally {
      await stack.removeConfig("llm-serving:hfToken");
      await run.startHub(NEXT_COMMIT, 2);
      await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: NEXT_COMMIT }]);
    }
  });

  it("fault: the bucket unreachable fails the mirror naming its pod, the endpoint and the answer", async () => {
    const fourth = "4444444444444444444444444444444444444444";
    await run.startHub(fourth, 4);
    // MinIO down: its Service has no endpoint, so every connection to the store is refused.
    run.kubectl("scale", "statefulset", "minio", "--replicas=0");
    run.kubectl("wait", "--for=delete", "pod/minio-0", "--timeout=120s");
    await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: fourth }]);
    try {
      const { message, seconds } = await failingUp(stack);
      expect(message).toMatch(new RegExp(`\\[Pod ${run.namespace}/${MODEL}-mirror-[0-9a-f]{8}-[a-z0-9]+\\]`));
      // The check step's words, as the upload step (the pod's main container) reports them.
      expect(message).toMatch(
        new RegExp(
          `the mirror's bucket check: put s3://llm-models/\\S+ failed with the credentials of Secret minio-writer at http://minio\\.\\S+: endpoint unreachable`,
        ),
      );
      // Five attempts of a few seconds each, the kubelet's back-off doubling from 10 s, then BackoffLimitExceeded.
      expect(seconds).toBeLessThan(300);
    } finally {
      run.kubectl("scale", "statefulset", "minio", "--replicas=1");
      run.kubectl("rollout", "status", "statefulset/minio", "--timeout=180s");
      await run.startHub(NEXT_COMMIT, 2);
      await engine.setConfig(stack, "models", [{ ...modelConfig(run.images), revision: NEXT_COMMIT }]);
    }
  });

  it("fault: a cache volume too small for the model fails the preload before copying, naming the setting", async () => {
    // A 64 KiB filesystem as the node directory: the model's shards do not fit.
    const small = join(run.work, "small");
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0755", "llm-serving-small", small]);
    try {
      await engine.setConfig(stack, "storage", run.stackConfig({ storage: { hostPath: { root: small } } }).storage);
      const { message, seconds } = await failingUp(stack);
      expect(message).toMatch(new RegExp(`${run.namespace}/${MODEL}-preload-[0-9a-f]{8}`));
      expect(message).toContain("free; raise the free disk of the node under llm-serving:storage.hostPath.root");
      expect(seconds).toBeLessThan(120);
    } finally {
      await engine.setConfig(stack, "storage", run.stackConfig().storage);
      execFileSync("umount", ["--lazy", small]);
    }
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
