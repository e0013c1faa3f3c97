/**
 * What the node tests and `bench:node` share: the one-node cluster of `scripts/node-cluster.sh`, the
 * local images of `scripts/node_images.py` (the engine is the CPU STAND-IN of test/node/standin, not
 * vLLM), the Hub emulator serving a model made here, and a run of its own on the cluster (namespace,
 * MinIO volume, node directory). Everything runs inside the cluster's network namespace.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toolchainBinDir } from "../../scripts/localTools";

export const NODE_IP = "10.77.0.2";
const NODE_NAME = "llm-node";
const NODE_STATE = process.env.LLM_SERVING_NODE_STATE ?? "/var/lib/llm-serving-node";
export const KUBECONFIG = join(NODE_STATE, "kubeconfig");
const CACHE = process.env.LLM_SERVING_CACHE ?? join(process.env.HOME ?? "/root", ".cache", "llm-serving");
const PYTHON = process.env.LLM_SERVING_PYTHON ?? "";
export const REPO = "llm-serving-tests/tiny-standin";
export const COMMIT = "1111111111111111111111111111111111111111";
export const NEXT_COMMIT = "2222222222222222222222222222222222222222";
export const MODEL = "tiny";

export function kubectl(...args: string[]): string {
  return execFileSync(join(toolchainBinDir(), "kubectl"), ["--kubeconfig", KUBECONFIG, ...args], { encoding: "utf8" });
}

/** Stops here, naming what is missing, when the node or its images are not up: never a silent skip. */
export function nodeImages(): Record<string, string> {
  if (!existsSync(KUBECONFIG)) throw new Error(`no ${KUBECONFIG}: start the node first (bash scripts/dev.sh node up)`);
  if (!PYTHON) throw new Error("LLM_SERVING_PYTHON is unset: run through `npm run test:node` or `npm run bench:node`");
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

/** `pulumi up` that must fail: its error text (the engine's diagnostics) and how long it took. */
export async function failingUp(stack: Stack): Promise<{ message: string; seconds: number }> {
  const started = Date.now();
  const output: string[] = [];
  try {
    await stack.up({ onOutput: (line) => output.push(line) });
  } catch (error) {
    return { message: `${String(error)}\n${output.join("")}`, seconds: (Date.now() - started) / 1000 };
  }
  throw new Error(`pulumi up succeeded, expected a failure:\n${output.join("")}`);
}

export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill();
  await exited;
}

/** The model: a test repo from the Hub emulator, served by an engine's stand-in with small resources. */
export function modelConfig(images: Record<string, string>, engine: "vllm" | "sglang" = "vllm"): Record<string, unknown> {
  return {
    name: MODEL,
    huggingFace: REPO,
    revision: COMMIT,
    engine,
    sizeGiB: 1,
    maxModelLen: 2048,
    image: images[engine],
    cpu: "250m",
    // The program sizes vLLM's memory (8Gi runtime + 2Gi /dev/shm) whatever the image: a request, not a use.
    memory: "10Gi",
    // The stand-in loads in a second and its image is on the node: fail a server that does not start within 3 minutes.
    startup: { budgetSeconds: 120, pullSeconds: 60 },
  };
}

/**
 * One run on the node: its namespace and MinIO volume (named for the run, so a killed run's
 * leftovers, such as a namespace still terminating, never meet the next), a node directory for the
 * cache, and the Hub emulator.
 */
export class NodeRun {
  readonly id = randomBytes(3).toString("hex");
  readonly namespace: string;
  readonly minioVolume: string;
  readonly work = mkdtempSync(join(tmpdir(), "llm-serving-node-"));
  readonly cacheDir = join(this.work, "models");
  readonly minioDir = join(this.work, "minio");
  readonly images = nodeImages();
  hub?: ChildProcess;
  hubEndpoint = "";

  constructor(prefix = "llm-node") {
    this.namespace = `${prefix}-${this.id}`;
    this.minioVolume = `${prefix}-minio-${this.id}`;
    mkdirSync(this.minioDir, { recursive: true });
    // MinIO runs as uid 1000 (the program's pod securityContext); the volume is its to write.
    execFileSync("chown", ["1000:1000", this.minioDir]);
    execFileSync(join(toolchainBinDir(), "kubectl"), ["--kubeconfig", KUBECONFIG, "apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: this.minioVolume },
        spec: {
          capacity: { storage: "1Gi" },
          accessModes: ["ReadWriteOnce"],
          storageClassName: "node-local",
          persistentVolumeReclaimPolicy: "Retain",
          // Only this run's claim binds it.
          claimRef: { namespace: this.namespace, name: "data-minio-0" },
          local: { path: this.minioDir },
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [NODE_NAME] }] }],
            },
          },
        },
      }),
    });
  }

  /** Serves REPO at `commit` (a model made with `seed`), on the port it had before when restarted; gated behind `token` if given. */
  async startHub(commit: string, seed: number, token?: string): Promise<string> {
    await stopProcess(this.hub);
    const port = this.hubEndpoint ? new URL(this.hubEndpoint).port : "0";
    const model = join(this.work, "hub", commit, REPO);
    execFileSync(PYTHON, ["test/node/make_model.py", model, String(seed)]);
    const argv = ["test/python/hub_emulator.py", REPO, commit, model, NODE_IP, port, ...(token ? [token] : [])];
    this.hub = spawn(PYTHON, argv, { stdio: ["ignore", "pipe", "pipe"] });
    this.hubEndpoint = await waitForLine(this.hub, /at (http:\S+)/, "the Hub emulator");
    return this.hubEndpoint;
  }

  /** The stack's config: the local stack's shape with the node's images and small resources. */
  stackConfig(
    overrides: { storage?: Record<string, unknown>; models?: Record<string, unknown>[]; extra?: Record<string, unknown> } = {},
  ): Record<string, unknown> {
    return {
      ...overrides.extra,
      environment: "local",
      kubernetes: { namespace: this.namespace },
      images: { python: this.images.python },
      huggingFace: { endpoint: this.hubEndpoint },
      objectStore: {
        provider: "minio",
        bucket: "llm-models",
        protect: false,
        minio: { image: this.images.minio, clientImage: this.images.mc, storageClassName: "node-local", storageSize: "1Gi" },
      },
      storage: { ...this.storageDefaults(String(overrides.storage?.strategy ?? "hostPath")), ...overrides.storage },
      models: overrides.models ?? [modelConfig(this.images)],
    };
  }

  /** A strategy's settings on this node: hostPath in the run's directory; the copier's local image (the mirror's too). */
  storageDefaults(strategy: string): Record<string, unknown> {
    const preload = { preload: { image: this.images.s5cmd } };
    if (strategy === "hostPath") return { strategy, hostPath: { root: this.cacheDir }, ...preload };
    if (strategy === "localPath") return { strategy, localPath: { storageClassName: "local-path" }, ...preload };
    return { strategy, ...preload };
  }

  kubectl(...args: string[]): string {
    return kubectl(...args, "-n", this.namespace);
  }

  /** The model Service's address, `http://IP:PORT` (the engine's port). */
  serviceUrl(): string {
    const [ip, port] = this.kubectl("get", "service", MODEL, "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].port}").split(" ");
    return `http://${ip}:${port}`;
  }

  /** A completion through the model's Service (from inside the network namespace, as a client pod would call it). */
  async completion(apiKey?: string): Promise<{ status: number; body: string }> {
    const response = await fetch(`${this.serviceUrl()}/v1/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify({ model: MODEL, prompt: "Hello", max_tokens: 4 }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, body: await response.text() };
  }

  /** s5cmd (the toolchain's) against the run's MinIO as its writer. */
  s5cmd(...args: string[]): string {
    const secret = (key: string) =>
      Buffer.from(this.kubectl("get", "secret", "minio-writer", "-o", `jsonpath={.data.${key}}`), "base64").toString();
    const endpoint = `http://${this.kubectl("get", "service", "minio", "-o", "jsonpath={.spec.clusterIP}")}:9000`;
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

  /**
   * Waits until no pod of an earlier run still holds one of the node's GPUs (a server pod of a
   * namespace still terminating): a roll here counts on the node's two. Fails naming the pods.
   */
  async nodeFree(seconds = 180): Promise<void> {
    interface Pod {
      metadata: { namespace: string; name: string; deletionTimestamp?: string };
      spec: { containers: { resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }[] };
      status: { phase: string };
    }
    const holding = () =>
      (JSON.parse(kubectl("get", "pods", "--all-namespaces", "-o", "json")) as { items: Pod[] }).items.filter(
        (pod) =>
          pod.metadata.namespace !== this.namespace &&
          !["Succeeded", "Failed"].includes(pod.status.phase) &&
          pod.spec.containers.some((c) => c.resources?.limits?.["nvidia.com/gpu"] ?? c.resources?.requests?.["nvidia.com/gpu"]),
      );
    for (let waited = 0; ; waited += 2) {
      const pods = holding();
      if (pods.length === 0) return;
      if (waited >= seconds) {
        const names = pods.map(
          (p) => `${p.metadata.namespace}/${p.metadata.name} (${p.status.phase}${p.metadata.deletionTimestamp ? ", terminating" : ""})`,
        );
        throw new Error(`the node's GPUs are still held after ${seconds} s by pods of another run: ${names.join(", ")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  async cleanup(): Promise<void> {
    await stopProcess(this.hub);
    kubectl("delete", "namespace", this.namespace, "--ignore-not-found", "--wait=true", "--timeout=180s");
    kubectl("delete", "persistentvolume", this.minioVolume, "--ignore-not-found");
    rmSync(this.work, { recursive: true, force: true });
  }
}
