/**
 * Each storage strategy and engine that can run on this node, through the real engine with await on:
 * up → a completion through the Service → a preview with no changes → a revision roll onto new
 * weights → destroy, keeping the data. The engines are the CPU STAND-INS of test/node/standin (not
 * vLLM, not SGLang); s3Streaming's stand-in streams from MinIO with the Run:ai streamer's C++ core and
 * S3 backend and the environment the program renders. hostPath × vLLM runs in localStack.test.ts.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, startEngine } from "../integration/engine";
import { COMMIT, failingUp, KUBECONFIG, kubectl, MODEL, modelConfig, NEXT_COMMIT, NodeRun, REPO } from "./nodeStack";

interface Scenario {
  readonly title: string;
  readonly engine: "vllm" | "sglang";
  readonly storage: (run: NodeRun) => Record<string, unknown>;
  readonly apiKey?: string;
  /** Keys of the model's config besides the test model's (rollout, mirror). */
  readonly model?: Record<string, unknown>;
  /** Compile caches in a node directory: kept across a restart of the server pod. */
  readonly compileCache?: boolean;
  /** The kubelet stopped and started while the revision rolls. */
  readonly restartKubeletMidRoll?: boolean;
  /** After the roll: an object replaced in the bucket fails the next server pod's object check. */
  readonly objectCheckFault?: boolean;
  /** What `up` leaves on the node besides the answer: checked after the first up and after the roll. */
  readonly served: (run: NodeRun, commit: string) => void;
  /** The data that outlives `destroy` besides the bucket's. */
  readonly kept: (run: NodeRun, commit: string) => void;
}

const SERVER_PODS = `app.kubernetes.io/name=${MODEL},app.kubernetes.io/component=inference-server`;

/** A container's log in the server pods (the init step's or the engine's), as the kubelet ran it. */
function serverLogs(run: NodeRun, container: string): string {
  return run.kubectl(
    "logs",
    "-l",
    `app.kubernetes.io/name=${MODEL},app.kubernetes.io/component=inference-server`,
    "-c",
    container,
    "--tail=-1",
  );
}

/** The init step checked the bucket's objects, and the engine streamed the revision from the bucket. */
const streamed =
  (engine: Scenario["engine"]): Scenario["served"] =>
  (run, commit) => {
    expect(serverLogs(run, "verify-objects")).toMatch(/files match the manifest \(.*SHA-256 checksums\)/);
    const server = serverLogs(run, engine);
    expect(server).toMatch(/loaded [0-9]+ tensors/);
    expect(server).toMatch(
      new RegExp(`streamed [0-9]+ objects from s3://llm-models/models/${REPO}/${commit}/ with the Run:ai streamer \\(concurrency 4\\)`),
    );
  };

/** The node directory local-path-provisioner made for the server's claim (StorageClass local-path). */
function claimDirectory(run: NodeRun): string {
  const claims = JSON.parse(run.kubectl("get", "pvc", "-o", "json")) as {
    items: { metadata: { name: string }; spec: { storageClassName: string; volumeName: string } }[];
  };
  const claim = claims.items.find((c) => c.metadata.name.startsWith("models-"));
  expect(claim?.spec.storageClassName).toBe("local-path");
  const volume = JSON.parse(kubectl("get", "pv", claim!.spec.volumeName, "-o", "json")) as {
    metadata: { annotations: Record<string, string> };
    spec: { hostPath: { path: string } };
  };
  expect(volume.metadata.annotations["pv.kubernetes.io/provisioned-by"]).toBe("rancher.io/local-path");
  return volume.spec.hostPath.path;
}

const SCENARIOS: Scenario[] = [
  {
    title: "localPath × vLLM (rancher's local-path-provisioner)",
    engine: "vllm",
    storage: () => ({ strategy: "localPath" }),
    served: (run, commit) => {
      const dir = claimDirectory(run);
      expect(existsSync(join(dir, REPO, commit, ".verified"))).toBe(true);
      // The init step pruned the superseded revision: the claim holds the served one only.
      expect(readdirSync(join(dir, REPO))).toEqual([commit]);
    },
    kept: (run, commit) => expect(existsSync(join(claimDirectory(run), REPO, commit, ".verified"))).toBe(true),
  },
  {
    title: "s3Streaming × vLLM, rollout: surge",
    engine: "vllm",
    storage: () => ({ strategy: "s3Streaming" }),
    model: { rollout: "surge" },
    served: streamed("vllm"),
    kept: () => undefined,
  },
  {
    title: "s3Streaming × SGLang",
    engine: "sglang",
    storage: () => ({ strategy: "s3Streaming" }),
    // Recreate rolls: no previous pod answers while the new one's object check fails.
    objectCheckFault: true,
    served: streamed("sglang"),
    kept: () => undefined,
  },
  {
    title: "hostPath × SGLang, with an API key",
    engine: "sglang",
    storage: () => ({ strategy: "hostPath" }),
    apiKey: "node-test-key-0123456789",
    compileCache: true,
    restartKubeletMidRoll: true,
    served: (run, commit) => expect(existsSync(join(run.cacheDir, REPO, commit, ".verified"))).toBe(true),
    kept: (run, commit) => expect(existsSync(join(run.cacheDir, REPO, commit, ".verified"))).toBe(true),
  },
  {
    title: "mirror: false × vLLM (the engine downloads from the Hub emulator)",
    engine: "vllm",
    storage: () => ({ strategy: "hostPath" }),
    model: { mirror: false },
    served: (run, commit) => expect(serverLogs(run, "vllm")).toContain(`downloaded ${REPO}@${commit} to /`),
    // Nothing of it is on the node: the pod's download went with it.
    kept: (run) => expect(existsSync(join(run.cacheDir, REPO))).toBe(false),
  },
];

function serverPods(run: NodeRun): number {
  return run.kubectl("get", "pods", "-l", SERVER_PODS, "-o", "name").split("\n").filter(Boolean).length;
}

/** Once the server's Deployment or StatefulSet takes the new template, the kubelet stopped and started. */
async function restartKubeletOnceRolling(run: NodeRun): Promise<string> {
  const generation = () =>
    run.kubectl("get", "deployment,statefulset", "-l", SERVER_PODS, "-o", "jsonpath={.items[0].metadata.generation}");
  const before = generation();
  for (let i = 0; i < 600 && generation() === before; i++) await new Promise((resolve) => setTimeout(resolve, 500));
  // Not execFileSync: the inline program answers the engine from this process meanwhile.
  const { stderr } = await promisify(execFile)("bash", ["scripts/node-cluster.sh", "restart-kubelet"]);
  return stderr;
}

/** Completions through the Service, one after another, until stopped: the failed ones with when and why. */
function pollCompletions(run: NodeRun, apiKey?: string): { stop: () => Promise<{ answered: number; failed: string[] }> } {
  let stopped = false;
  let answered = 0;
  const failed: string[] = [];
  const started = Date.now();
  const loop = (async () => {
    while (!stopped) {
      try {
        const { status, body } = await run.completion(apiKey);
        if (status === 200) answered += 1;
        else failed.push(`${(Date.now() - started) / 1000} s: HTTP ${status} ${body.slice(0, 200)}`);
      } catch (error) {
        failed.push(`${(Date.now() - started) / 1000} s: ${String(error)} ${String((error as Error).cause ?? "")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { answered, failed };
    },
  };
}

describe.each(SCENARIOS)("$title on a real node (CPU stand-in engine)", (scenario) => {
  let engine: Engine;
  let stack: Stack;
  let run: NodeRun;
  let first = "";
  const models = (revision: string) => [{ ...modelConfig(run.images, scenario.engine), ...scenario.model, revision }];

  beforeAll(async () => {
    run = new NodeRun();
    // A surge roll needs both of the node's GPUs (CI once saw a roll here find neither free).
    await run.nodeFree();
    await run.startHub(COMMIT, 1);
    engine = await startEngine(KUBECONFIG);
    const compileCache = scenario.compileCache ? { compileCache: { enabled: true, hostPath: join(run.work, "compile") } } : {};
    const config = run.stackConfig({ storage: scenario.storage(run), models: models(COMMIT), extra: compileCache });
    stack = await engine.stack("node", config, scenario.apiKey ? { apiKey: scenario.apiKey } : {});
  });

  afterAll(async () => {
    engine?.cleanup();
    await run?.cleanup();
  });

  it("pulumi up returns with the model served", async () => {
    const output: string[] = [];
    const result = await stack.up({ onOutput: (line) => output.push(line) });
    expect(result.summary.result, output.join("")).toBe("succeeded");
    scenario.served(run, COMMIT);
  });

  it("a completion through the Service answers from the loaded weights", async () => {
    const { status, body } = await run.completion(scenario.apiKey);
    expect(status, body).toBe(200);
    first = JSON.parse(body).choices[0].text;
    expect(first).toMatch(/^( t[0-9]+){4}$/);
  });

  if (scenario.apiKey) {
    it("the API key guards the API and leaves /health open", async () => {
      expect((await run.completion()).status).toBe(401);
      expect((await run.completion("not-the-key")).status).toBe(401);
      expect((await fetch(`${run.serviceUrl()}/health`)).status).toBe(200);
    });
  }

  if (scenario.compileCache) {
    it("the compile cache in the node directory outlives the server pod", async () => {
      expect(serverLogs(run, scenario.engine)).toMatch(/compile cache: wrote \/\S+\/llm-serving-standin\/[0-9a-f]{16}\.graph/);
      const [pod] = run.kubectl("get", "pods", "-l", SERVER_PODS, "-o", "name").split("\n");
      run.kubectl("delete", pod, "--wait=true");
      run.kubectl("wait", "--for=condition=Ready", "pods", "-l", SERVER_PODS, "--timeout=120s");
      expect(serverLogs(run, scenario.engine)).toMatch(/compile cache: reused \//);
    });
  }

  it("a preview of the unchanged stack shows no changes", async () => {
    const preview = await stack.preview();
    const changes = Object.entries(preview.changeSummary).filter(([op]) => op !== "same");
    expect(changes).toEqual([]);
  });

  it("a revision bump rolls the server onto the new weights", async () => {
    await run.startHub(NEXT_COMMIT, 2);
    await engine.setConfig(stack, "models", models(NEXT_COMMIT));
    // rollout: surge promises no moment without a Ready server: ask all through the roll.
    const poll = scenario.model?.rollout === "surge" ? pollCompletions(run, scenario.apiKey) : undefined;
    const restart = scenario.restartKubeletMidRoll ? restartKubeletOnceRolling(run) : undefined;
    const output: string[] = [];
    const result = await stack.up({ onOutput: (line) => output.push(line) });
    expect(result.summary.result, output.join("")).toBe("succeeded");
    if (poll) {
      // Until the old pod is gone: its termination is the moment a Service can still route to it.
      for (let i = 0; i < 120 && serverPods(run) > 1; i++) await new Promise((resolve) => setTimeout(resolve, 500));
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const { answered, failed } = await poll.stop();
      expect(failed).toEqual([]);
      expect(answered).toBeGreaterThan(10);
    }
    if (restart) expect(await restart).toContain("node: kubelet restarted");
    scenario.served(run, NEXT_COMMIT);
    const after = await run.completion(scenario.apiKey);
    expect(after.status, after.body).toBe(200);
    expect(JSON.parse(after.body).choices[0].text).not.toBe(first);
  });

  if (scenario.objectCheckFault) {
    it("fault: an object replaced in the bucket fails pulumi up naming the server pod's object check", async () => {
      // A writer replaces a shard behind the mirror's back (the writer may put, never delete).
      const shard = join(run.work, "replaced.safetensors");
      writeFileSync(shard, randomBytes(4096));
      run.s5cmd("cp", shard, `s3://llm-models/models/${REPO}/${NEXT_COMMIT}/model-00002-of-00002.safetensors`);
      // Another startup budget: a new pod template, whose pod's init step checks the bucket's objects
      // again, while the previous template's pod still serves the same revision as the roll begins
      // (the smoke check once passed against it in 3 s: it waits for the rollout of this template).
      // Room for two failures of the init step (the kubelet's back-off: 10 s, then 20 s) within the server's await.
      const quick = { startup: { budgetSeconds: 60, pullSeconds: 10 } };
      await engine.setConfig(stack, "models", [{ ...models(NEXT_COMMIT)[0], ...quick }]);
      const { message, seconds } = await failingUp(stack);
      // Pulumi's await shows the pod's init step only as "incomplete status"; the smoke check says which and why.
      expect(message).toMatch(new RegExp(`\\[Pod ${run.namespace}/${MODEL}-smoke-check-[a-z0-9]+-[a-z0-9]+\\]`));
      expect(message).toMatch(
        new RegExp(`the server pod ${MODEL}-[a-z0-9]+-[a-z0-9]+: its init step verify-objects failed [0-9]+ times \\(exit code 1\\)`),
      );
      expect(message).toContain("model-00002-of-00002.safetensors: 4096 bytes, manifest: ");
      expect(seconds).toBeLessThan(60 + 60 + 90);
    });
  }

  it("destroy keeps the bucket's data and the cache", async () => {
    await stack.destroy();
    expect(readdirSync(join(run.minioDir)).length).toBeGreaterThan(0);
    expect(run.kubectl("get", "pvc", "-o", "name")).toMatch(/persistentvolumeclaim\/data-minio-0/);
    scenario.kept(run, NEXT_COMMIT);
  });
});
