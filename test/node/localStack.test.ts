/**
 * The local stack's shape (MinIO store, hostPath cache, vLLM) on a real node: the one-node cluster of
 * `scripts/node-cluster.sh`, the local images of `scripts/node_images.py` (the engine is the CPU
 * STAND-IN of test/node/standin, not vLLM), the Hub emulator serving a model this test makes, and the
 * real Pulumi engine with await on. Runs inside the cluster's network namespace (`npm run test:node`).
 */
import { Stack } from "@pulumi/pulumi/automation";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolchainBinDir } from "../../scripts/localTools";
import { Engine, startEngine } from "../integration/engine";

const NODE_IP = "10.77.0.2";
const NODE_STATE = process.env.LLM_SERVING_NODE_STATE ?? "/var/lib/llm-serving-node";
const KUBECONFIG = join(NODE_STATE, "kubeconfig");
const CACHE = process.env.LLM_SERVING_CACHE ?? join(process.env.HOME ?? "/root", ".cache", "llm-serving");
const PYTHON = process.env.LLM_SERVING_PYTHON ?? "";
const REPO = "llm-serving-tests/tiny-standin";
const COMMIT = "1111111111111111111111111111111111111111";
const NEXT_COMMIT = "2222222222222222222222222222222222222222";
// A namespace and volume of this run's own: a killed run's leftovers (a namespace still terminating) never meet the next.
const RUN_ID = randomBytes(3).toString("hex");
const NAMESPACE = `llm-node-${RUN_ID}`;
const MINIO_VOLUME = `llm-node-minio-${RUN_ID}`;
const MODEL = "tiny";

/** s5cmd (the toolchain's) against the stack's MinIO as its writer, from inside the cluster's network namespace. */
function s5cmd(...args: string[]): string {
  const secret = (key: string) =>
    Buffer.from(kubectl("get", "secret", "minio-writer", "-n", NAMESPACE, "-o", `jsonpath={.data.${key}}`), "base64").toString();
  const endpoint = `http://${kubectl("get", "service", "minio", "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}")}:9000`;
  return execFileSync(join(toolchainBinDir(), "s5cmd"), ["--endpoint-url", endpoint, ...args], {
    encoding: "utf8",
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: secret("AWS_ACCESS_KEY_ID"),
      AWS_SECRET_ACCESS_KEY: secret("AWS_SECRET_ACCESS_KEY"),
      AWS_REGION: "us-east-1",
    },
  });
}

function kubectl(...args: string[]): string {
  return execFileSync(join(toolchainBinDir(), "kubectl"), ["--kubeconfig", KUBECONFIG, ...args], { encoding: "utf8" });
}

/** Stops here, naming what is missing, when the node or its images are not up: never a silent skip. */
function nodeImages(): Record<string, string> {
  if (!existsSync(KUBECONFIG)) throw new Error(`no ${KUBECONFIG}: start the node first (bash scripts/dev.sh node up)`);
  if (!PYTHON) throw new Error("LLM_SERVING_PYTHON is unset: run through `npm run test:node`");
  return JSON.parse(readFileSync(join(CACHE, "images", "current", "images.json"), "utf8")) as Record<string, string>;
}

async function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen}`)), 30_000);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${what} exited (${code}): ${seen}`)));
  });
}

/** The model: a test repo from the Hub emulator, served by the vLLM stand-in with small resources. */
function modelConfig(images: Record<string, string>): Record<string, unknown> {
  return {
    name: MODEL,
    huggingFace: REPO,
    revision: COMMIT,
    engine: "vllm",
    sizeGiB: 1,
    maxModelLen: 2048,
    image: images.vllm,
    cpu: "250m",
    // The program sizes vLLM's memory (8Gi runtime + 2Gi /dev/shm) whatever the image: a request, not a use.
    memory: "10Gi",
    // The stand-in loads in a second: fail a server that does not start within 2 minutes.
    startup: { budgetSeconds: 120 },
  };
}

/** The stack's config: the local stack's shape with the node's images and small resources. */
function stackConfig(images: Record<string, string>, dirs: { cache: string }, hub: string): Record<string, unknown> {
  return {
    environment: "local",
    kubernetes: { namespace: NAMESPACE },
    images: { python: images.python },
    huggingFace: { endpoint: hub },
    objectStore: {
      provider: "minio",
      bucket: "llm-models",
      protect: false,
      minio: { image: images.minio, clientImage: images.mc, storageClassName: "node-local", storageSize: "1Gi" },
    },
    storage: { strategy: "hostPath", hostPath: { root: dirs.cache }, preload: { image: images.s5cmd } },
    models: [modelConfig(images)],
  };
}

async function completion(serviceIp: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://${serviceIp}:8000/v1/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: MODEL, prompt: "Hello", max_tokens: 4 }),
  });
  return { status: response.status, body: await response.text() };
}

/** The Hub emulator serving REPO at `commit` (a model made with `seed`) on the node IP. */
async function startHub(work: string, commit: string, seed: number, port: number): Promise<{ hub: ChildProcess; endpoint: string }> {
  const model = join(work, "hub", commit, REPO);
  execFileSync(PYTHON, ["test/node/make_model.py", model, String(seed)]);
  const hub = spawn(PYTHON, ["test/python/hub_emulator.py", REPO, commit, model, NODE_IP, String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { hub, endpoint: await waitForLine(hub, /at (http:\S+)/, "the Hub emulator") };
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill();
  await exited;
}

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
  let hub: ChildProcess | undefined;
  let hubPort: number;
  let work: string;
  let dirs: { cache: string; minio: string };
  let images: Record<string, string>;

  beforeAll(async () => {
    images = nodeImages();
    work = mkdtempSync(join(tmpdir(), "llm-serving-node-"));
    dirs = { cache: join(work, "models"), minio: join(work, "minio") };
    mkdirSync(dirs.minio, { recursive: true });
    // MinIO runs as uid 1000 (the program's pod securityContext); the volume is its to write.
    execFileSync("chown", ["1000:1000", dirs.minio]);
    const started = await startHub(work, COMMIT, 1, 0);
    hub = started.hub;
    hubPort = Number(new URL(started.endpoint).port);
    const endpoint = started.endpoint;
    execFileSync(join(toolchainBinDir(), "kubectl"), ["--kubeconfig", KUBECONFIG, "apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: MINIO_VOLUME },
        spec: {
          capacity: { storage: "1Gi" },
          accessModes: ["ReadWriteOnce"],
          storageClassName: "node-local",
          persistentVolumeReclaimPolicy: "Retain",
          local: { path: dirs.minio },
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: ["llm-node"] }] }],
            },
          },
        },
      }),
    });
    engine = await startEngine(KUBECONFIG);
    stack = await engine.stack("node", stackConfig(images, dirs, endpoint));
  });

  afterAll(async () => {
    await stopProcess(hub);
    engine?.cleanup();
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=120s");
    kubectl("delete", "persistentvolume", MINIO_VOLUME, "--ignore-not-found");
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("pulumi up returns once MinIO, its setup, the mirror, the preload, the server and the smoke check have run", async () => {
    const output: string[] = [];
    const result = await stack.up({ onOutput: (line) => output.push(line) });
    expect(result.summary.result, output.join("")).toBe("succeeded");
    const jobs = JSON.parse(kubectl("get", "jobs", "-n", NAMESPACE, "-o", "json")) as {
      items: { metadata: { name: string }; status: { succeeded?: number } }[];
    };
    const succeeded = jobs.items.filter((j) => j.status.succeeded === 1).map((j) => j.metadata.name.replace(/-[0-9a-f]{8}$/, ""));
    const expected = ["minio-setup", `${MODEL}-mirror`, `${MODEL}-preload`, `${MODEL}-smoke-check`, `${MODEL}-prune-revisions`];
    expect(succeeded.sort()).toEqual(expected.sort());
    // The served revision sits in the node directory, verified.
    expect(readdirSync(join(dirs.cache, REPO, COMMIT)).sort()).toContain("model-00001-of-00002.safetensors");
  });

  it("a completion through the Service answers from the stand-in's loaded weights", async () => {
    const ip = kubectl("get", "service", MODEL, "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}");
    const { status, body } = await completion(ip);
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

  it("a revision bump mirrors, preloads, rolls the server and prunes the old revision", async () => {
    await stopProcess(hub);
    hub = (await startHub(work, NEXT_COMMIT, 2, hubPort)).hub;
    const before = await completion(kubectl("get", "service", MODEL, "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}"));
    await engine.setConfig(stack, "models", [{ ...modelConfig(images), revision: NEXT_COMMIT }]);
    const output: string[] = [];
    const result = await stack.up({ onOutput: (line) => output.push(line) });
    expect(result.summary.result, output.join("")).toBe("succeeded");
    expect(existsSync(join(dirs.cache, REPO, NEXT_COMMIT, "model-00001-of-00002.safetensors"))).toBe(true);
    // storage.keepRevisions (1): the superseded revision is gone from the node directory.
    expect(existsSync(join(dirs.cache, REPO, COMMIT))).toBe(false);
    const after = await completion(kubectl("get", "service", MODEL, "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}"));
    expect(after.status, after.body).toBe(200);
    // Other weights, other tokens: the server rolled onto the new revision.
    expect(JSON.parse(after.body).choices[0].text).not.toBe(JSON.parse(before.body).choices[0].text);
  });

  it("fault: a server that exits at start fails pulumi up naming its pod and reason", async () => {
    await engine.setConfig(stack, "models", [{ ...modelConfig(images), revision: NEXT_COMMIT, extraArgs: ["--no-such-vllm-flag"] }]);
    const { message, seconds } = await failingUp(stack);
    // The pod, the exit, and the engine's own words (the end of its log, as the termination message).
    expect(message).toMatch(new RegExp(`\\[Pod ${NAMESPACE}/tiny-[a-z0-9]+-[a-z0-9]+\\]`));
    expect(message).toContain("exit code 2");
    expect(message).toContain("vllm serve: error: unrecognized arguments: --no-such-vllm-flag");
    // Within the await the program computed: the 120 s startup budget + 300 s for scheduling and the image.
    expect(seconds).toBeLessThan(120 + 300 + 60);
    await engine.setConfig(stack, "models", [{ ...modelConfig(images), revision: NEXT_COMMIT }]);
  });

  it("fault: an object corrupted in the bucket after the mirror fails the preload at once, naming the file", async () => {
    // A writer overwrites a shard behind the mirror's back; the node no longer holds the revision.
    const shard = join(work, "corrupt.safetensors");
    writeFileSync(shard, randomBytes(4096));
    s5cmd("cp", shard, `s3://llm-models/models/${REPO}/${NEXT_COMMIT}/model-00001-of-00002.safetensors`);
    rmSync(join(dirs.cache, REPO, NEXT_COMMIT), { recursive: true, force: true });
    // Another copier setting: a new preload Job.
    await engine.setConfig(stack, "storage", {
      ...(stackConfig(images, dirs, "").storage as object),
      preload: { image: images.s5cmd, numWorkers: 63 },
    });
    const { message, seconds } = await failingUp(stack);
    expect(message).toMatch(/Job "?[a-z0-9-]*\/?tiny-preload-[0-9a-f]{8}/);
    expect(message).toContain("sha256 verification failed twice for model-00001-of-00002.safetensors");
    // podFailurePolicy: no retries with back-off (minutes), the Job fails on the first give-up.
    expect(seconds).toBeLessThan(120);
  });

  it("fault: store credentials the store refuses fail the preload at once, saying so", async () => {
    kubectl(
      "patch",
      "secret",
      "minio-reader",
      "-n",
      NAMESPACE,
      "--type=merge",
      "-p",
      JSON.stringify({ stringData: { AWS_SECRET_ACCESS_KEY: "not-the-key" } }),
    );
    await engine.setConfig(stack, "storage", {
      ...(stackConfig(images, dirs, "").storage as object),
      preload: { image: images.s5cmd, numWorkers: 62 },
    });
    const { message, seconds } = await failingUp(stack);
    expect(message).toMatch(/tiny-preload-[0-9a-f]{8}/);
    expect(message).toContain("the store refuses these credentials");
    expect(seconds).toBeLessThan(120);
  });

  it("destroy keeps the bucket's data, the cache directory and the claims", async () => {
    await stack.destroy();
    // MinIO's objects stay on its volume (the claim outlives the StatefulSet), the weights in the node directory.
    expect(readdirSync(dirs.minio).length).toBeGreaterThan(0);
    expect(existsSync(join(dirs.cache, REPO, NEXT_COMMIT, "model-00002-of-00002.safetensors"))).toBe(true);
    expect(kubectl("get", "pvc", "-n", NAMESPACE, "-o", "name")).toMatch(/persistentvolumeclaim\/data-minio-0/);
  });
});
