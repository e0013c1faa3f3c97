/**
 * The real Pulumi engine (CLI 3.274.1 + the kubernetes and random plugins built by
 * `scripts/toolchain.sh pulumi`) against a real control plane (etcd, kube-apiserver,
 * kube-controller-manager; Fluid CRDs): `pulumi up`, `preview`, `destroy` and the policy pack,
 * as users run them. `kubernetes.skipAwait: true`, since no pod ever runs here (no kubelet).
 */
import { Deployment, Stack } from "@pulumi/pulumi/automation";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STORAGE_STRATEGIES } from "../../components/config/schema";
import { renderedManifests } from "../../scripts/localTools";
import { imageFor, kubernetesFor, REPO_STACK_SECRETS, stackFileConfig } from "../harness";
import { ApiServer, startApiServer, toolchainBin } from "./apiServer";
import { installCrds } from "./crds";
import { Engine, engineBin, programAt, programWithEdit, startEngine, stepRecorder } from "./engine";
import { KubeClient, KubeObject } from "./kubeClient";

const REV_A = "7ae557604adf67be50417f59c2c2f167def9a775";
const REV_B1 = "a09a35458c702b33eeacc393d103063234e8bc28";
const REV_B2 = "bb46c15ee4bb56c5b63245ef50fd7637234d6f75";
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const HF_TOKEN = "hf_integrationTokenValue0123456789";
/** Secret keys that hold credentials (endpoints and bucket names in the same Secrets are not secret). */
const CREDENTIAL_KEY = /\/(.*PASSWORD|.*SECRET.*|.*TOKEN|AWS_ACCESS_KEY_ID|API_KEY|access-key|secret-key|metaurl|password)$/;
const API_KEY = "integration-api-key-0123456789abcdef";

let server: ApiServer;
let kube: KubeClient;
let engine: Engine;

beforeAll(async () => {
  const bin = toolchainBin();
  if (!bin) throw new Error("no control plane: run `bash scripts/toolchain.sh cluster` first");
  engineBin();
  server = await startApiServer(bin, { controllers: true });
  kube = new KubeClient(server);
  await installCrds(kube);
  engine = await startEngine(server);
}, 240_000);

afterAll(async () => {
  await server?.stop();
  engine?.cleanup();
});

/** A Kubernetes object the engine's state says it manages. */
interface ManagedObject {
  readonly key: string;
  readonly ref: Pick<KubeObject, "apiVersion" | "kind" | "metadata">;
  /** The Pulumi resource name. */
  readonly name: string;
  readonly urn: string;
}

function managedObjects(deployment: Deployment): ManagedObject[] {
  const resources = (deployment.deployment as { resources?: Array<{ urn: string; type: string; outputs?: any }> }).resources ?? [];
  return resources
    .filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:providers:") && r.outputs?.metadata)
    .map((r) => {
      const { apiVersion, kind, metadata } = r.outputs as KubeObject;
      const ref = { apiVersion, kind, metadata: { name: metadata.name, namespace: metadata.namespace } };
      return {
        key: `${kind} ${metadata.namespace ?? ""}/${metadata.name}`,
        ref,
        name: r.urn.slice(r.urn.lastIndexOf("::") + 2),
        urn: r.urn,
      };
    });
}

/** Every value of every Secret in a namespace, decoded, with where it is (`secret/key`). */
async function secretValues(namespace: string): Promise<Array<{ where: string; value: string }>> {
  const secrets = await kube.list("v1", "Secret", namespace);
  return secrets.flatMap((s) =>
    Object.entries((s.data as Record<string, string> | undefined) ?? {}).map(([key, v]) => ({
      where: `${s.metadata.name}/${key}`,
      value: Buffer.from(v, "base64").toString("utf8"),
    })),
  );
}

function models(engineName: string, revisionB: string, strategy = "longhorn") {
  return [
    {
      name: "a",
      huggingFace: "Qwen/Qwen2.5-0.5B-Instruct",
      revision: REV_A,
      engine: engineName,
      sizeGiB: 1,
      ...imageFor(strategy, engineName),
    },
    {
      name: "b",
      huggingFace: "Qwen/Qwen2.5-7B-Instruct",
      revision: revisionB,
      engine: engineName,
      sizeGiB: 16,
      ...imageFor(strategy, engineName),
    },
  ];
}

/** The claims that hold data and outlive `pulumi destroy`: created by us (retained) or by StatefulSets (Retain policy). */
const KEPT_CLAIMS: Record<string, string[]> = {
  hostPath: ["data-minio-0"],
  localPath: ["data-minio-0", "models-a-0", "models-b-0"],
  longhorn: ["a-weights", "b-weights", "data-minio-0"],
  fluid: ["data-minio-0"],
  juicefs: ["a-weights", "b-weights", "data-juicefs-redis-0", "data-minio-0"],
  s3Streaming: ["data-minio-0"],
};

const belongsToB = (name: string) => name === "b" || name.startsWith("b-");

async function isGone(ref: ManagedObject["ref"]): Promise<boolean> {
  const live = await kube.get(ref);
  return !live || (live.metadata as { deletionTimestamp?: string }).deletionTimestamp !== undefined;
}

/** Waits (bounded) until the garbage collector has removed what `destroy` deleted in the background. */
async function settled(refs: ManagedObject[]): Promise<string[]> {
  for (let i = 0; i < 40; i++) {
    const left: string[] = [];
    for (const o of refs) if (!(await isGone(o.ref))) left.push(o.key);
    if (left.length === 0) return [];
    await new Promise((r) => setTimeout(r, 250));
  }
  return refs.map((o) => o.key);
}

const matrix = STORAGE_STRATEGIES.flatMap((strategy) => ["vllm", "sglang"].map((e) => [strategy, e] as const));

describe.each(matrix)("pulumi up / preview / destroy: %s × %s", (strategy, engineName) => {
  it("creates everything, previews no change, rolls only model b, destroys all but the data, keeps secrets encrypted", async () => {
    const namespace = `e2e-${strategy.toLowerCase()}-${engineName}`;
    const raw = {
      environment: "dev",
      kubernetes: { ...kubernetesFor(strategy, namespace), skipAwait: true },
      objectStore: { provider: "minio", bucket: "llm-models" },
      storage: { strategy },
      models: models(engineName, REV_B1, strategy),
    };
    // Every model requires an API key: its Secret's value is one more credential the state must not hold.
    const stack: Stack = await engine.stack(`${strategy}-${engineName}`, raw, { hfToken: HF_TOKEN, apiKey: API_KEY });

    // up: every object the state lists exists in the API server.
    const up = await stack.up();
    expect(up.summary.result).toBe("succeeded");
    const managed = managedObjects(await stack.exportStack());
    expect(managed.length).toBeGreaterThan(10);
    for (const o of managed) expect(await kube.get(o.ref), o.key).toBeDefined();

    // The state holds every credential only as a ciphertext.
    const state = await engine.stateText(stack);
    const values = (await secretValues(namespace)).filter((v) => CREDENTIAL_KEY.test(v.where));
    expect(values.length).toBeGreaterThanOrEqual(6);
    expect(values.filter((v) => v.where.endsWith("-api-key/API_KEY")).map((v) => v.value)).toEqual([API_KEY, API_KEY]);
    for (const { where, value } of values) {
      expect(state.includes(value), `${where} in the state`).toBe(false);
      expect(state.includes(Buffer.from(value).toString("base64")), `${where} (base64) in the state`).toBe(false);
    }
    const stored = JSON.parse(state) as { checkpoint: { latest: { resources: Array<{ type: string; outputs: { result?: object } }> } } };
    const passwords = stored.checkpoint.latest.resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
    expect(passwords.length).toBeGreaterThanOrEqual(3);
    for (const p of passwords) expect(Object.keys(p.outputs.result ?? {}).sort()).toEqual([SECRET_SIG, "ciphertext"]);

    // A second preview of the same program: no changes.
    const again = await stack.preview();
    expect(Object.entries(again.changeSummary).filter(([op, n]) => op !== "same" && n > 0)).toEqual([]);

    // A new revision of model b: the plan touches b's resources only, and does touch its server.
    await engine.setConfig(stack, "models", models(engineName, REV_B2, strategy));
    const recorder = stepRecorder();
    await stack.preview({ onEvent: recorder.onEvent });
    const changed = recorder.steps.filter((s) => s.op !== "same").map((s) => s.name);
    expect(changed).toContain("b-server");
    expect(changed.filter((n) => !belongsToB(n))).toEqual([]);
    await engine.setConfig(stack, "models", models(engineName, REV_B1, strategy));

    // destroy of the serving layer: protected credentials stay in the state, the namespace and the
    // claims stay in the cluster; everything else is gone.
    const destroyed = await stack.destroy({ excludeProtected: true });
    expect(destroyed.summary.result).toBe("succeeded");
    const kept = managed.filter((o) => o.name === "namespace" || o.ref.kind === "PersistentVolumeClaim");
    expect(kept.map((o) => o.key).sort()).toEqual(
      [
        `Namespace /${namespace}`,
        ...KEPT_CLAIMS[strategy].filter((c) => c.endsWith("-weights")).map((c) => `PersistentVolumeClaim ${namespace}/${c}`),
      ].sort(),
    );
    for (const o of kept) expect(await isGone(o.ref), `${o.key} after destroy`).toBe(false);
    expect(await settled(managed.filter((o) => !kept.includes(o)))).toEqual([]);
    const claims = (await kube.list("v1", "PersistentVolumeClaim", namespace)).map((c) => c.metadata.name).sort();
    expect(claims).toEqual(KEPT_CLAIMS[strategy]);
    const left = ((await stack.exportStack()).deployment.resources as Array<{ type: string; protect?: boolean }>).filter(
      (r) => !r.type.startsWith("pulumi:providers:") && r.type !== "pulumi:pulumi:Stack",
    );
    expect(left.length).toBeGreaterThan(0);
    expect(left.filter((r) => !r.protect && !r.type.startsWith("llm-serving:"))).toEqual([]);
  }, 300_000);
});

describe("the preview identity through the engine", () => {
  it("previews the up-to-date stack with no changes, previews a change, and is refused applying it", async () => {
    const namespace = "e2e-preview-identity";
    const raw = {
      environment: "dev",
      kubernetes: { namespace, skipAwait: true },
      objectStore: { provider: "minio", bucket: "llm-models" },
      storage: { strategy: "hostPath" },
      previewIdentity: { enabled: true },
      models: models("vllm", REV_B1, "hostPath"),
    };
    const stack = await engine.stack("preview-identity", raw, { hfToken: HF_TOKEN });
    const up = await stack.up();
    expect(up.summary.result).toBe("succeeded");
    const output = (await stack.outputs()).previewKubeconfig;
    expect(output.secret).toBe(true);
    const kubeconfig = JSON.parse(output.value as string);
    // The identity reads what the stack manages, and no Secret.
    const reader = new KubeClient({
      url: kubeconfig.clusters[0].cluster.server,
      token: kubeconfig.users[0].user.token,
      ca: Buffer.from(kubeconfig.clusters[0].cluster["certificate-authority-data"], "base64").toString(),
    });
    expect((await reader.raw("GET", `/apis/apps/v1/namespaces/${namespace}/deployments`)).status).toBe(200);
    expect((await reader.raw("GET", `/api/v1/namespaces/${namespace}/secrets`)).status).toBe(403);
    // The token is in the state only as a ciphertext.
    const state = await engine.stateText(stack);
    const token = kubeconfig.users[0].user.token as string;
    expect(token.length).toBeGreaterThan(100);
    expect(state.includes(token)).toBe(false);
    expect(state.includes(Buffer.from(token).toString("base64"))).toBe(false);

    // As the workflows do (.github/actions/prepare): one path holds the deploy's or the preview's
    // kubeconfig (the provider records the path, so another path would preview as a provider change).
    const file = process.env.KUBECONFIG!;
    const admin = readFileSync(file, "utf8");
    writeFileSync(file, output.value as string, { mode: 0o600 });
    try {
      const recorder = stepRecorder();
      const unchanged = await stack.preview({ onEvent: recorder.onEvent, diff: true });
      expect(
        recorder.steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${s.type} ${s.name}`),
        unchanged.stdout,
      ).toEqual([]);
      expect(Object.entries(unchanged.changeSummary).filter(([op, n]) => op !== "same" && n > 0)).toEqual([]);
      // A pull request's change previews with the read-only identity (the provider's dry run is
      // refused, and it falls back to a client-side diff) ...
      await engine.setConfig(stack, "models", models("vllm", REV_B2, "hostPath"));
      const change = await stack.preview();
      expect(Object.entries(change.changeSummary).filter(([op, n]) => op !== "same" && n > 0).length).toBeGreaterThan(0);
      // ... and applying it is refused by the API server, naming the resource and the identity.
      const refused = await stack.up().then(
        () => "",
        (error: unknown) => String(error),
      );
      expect(refused).toMatch(
        /is forbidden: User "system:serviceaccount:e2e-preview-identity:llm-serving-preview" cannot (create|patch|delete)/,
      );
      expect(refused).toMatch(/kubernetes:(batch\/v1:Job|apps\/v1:Deployment|core\/v1:ConfigMap) \(b-/);
    } finally {
      writeFileSync(file, admin, { mode: 0o600 });
    }
    await engine.setConfig(stack, "models", models("vllm", REV_B1, "hostPath"));
    expect((await stack.destroy({ excludeProtected: true })).summary.result).toBe("succeeded");
  }, 300_000);
});

describe("models[].rollout: surge through the engine", () => {
  it("a new revision caches it first: the preload Job for it completes before the server changes", async () => {
    const raw = {
      environment: "dev",
      kubernetes: { namespace: "e2e-surge", skipAwait: true },
      objectStore: { provider: "minio", bucket: "llm-models" },
      storage: { strategy: "longhorn" },
      models: models("vllm", REV_B1).map((m) => ({ ...m, rollout: "surge" })),
    };
    const stack: Stack = await engine.stack("surge", raw, { hfToken: HF_TOKEN });
    expect((await stack.up()).summary.result).toBe("succeeded");

    await engine.setConfig(
      stack,
      "models",
      models("vllm", REV_B2).map((m) => ({ ...m, rollout: "surge" })),
    );
    // The engine's own event stream: when each step starts (pre) and when it is done (outputs).
    const events: string[] = [];
    const up = await stack.up({
      onEvent: (e) => {
        const pre = e.resourcePreEvent?.metadata;
        const done = e.resOutputsEvent?.metadata;
        const m = pre ?? done;
        if (m) events.push(`${pre ? "start" : "done"} ${m.op} ${m.urn.slice(m.urn.lastIndexOf("::") + 2)}`);
      },
    });
    expect(up.summary.result).toBe("succeeded");
    const at = (event: string) => {
      const i = events.indexOf(event);
      expect(i, `${event} in\n${events.join("\n")}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    // The Job's template carries the revision, so it is replaced: the new one first, then the server.
    expect(at("done create-replacement b-preload")).toBeLessThan(at("start update b-server"));
    const deployment = await kube.get({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "b", namespace: "e2e-surge" } });
    expect((deployment as unknown as { spec: { strategy: unknown } }).spec.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    expect((await stack.destroy({ excludeProtected: true })).summary.result).toBe("succeeded");
  }, 300_000);
});

describe("a model on two nodes through the engine", () => {
  it("creates the LeaderWorkerSet, previews no change, rolls a revision, destroys it and keeps the weights", async () => {
    const namespace = "e2e-group";
    const group = (revision: string) => [{ ...models("sglang", revision)[1], name: "g", nodes: 2, gpus: 2 }];
    const raw = {
      environment: "dev",
      kubernetes: { namespace, skipAwait: true },
      objectStore: { provider: "minio", bucket: "llm-models" },
      storage: { strategy: "longhorn" },
      lws: { install: { enabled: false } },
      models: group(REV_B1),
    };
    const stack = await engine.stack("group", raw, { hfToken: HF_TOKEN });
    expect((await stack.up()).summary.result).toBe("succeeded");
    const lws = await kube.get({ apiVersion: "leaderworkerset.x-k8s.io/v1", kind: "LeaderWorkerSet", metadata: { name: "g", namespace } });
    expect((lws as unknown as { spec: { leaderWorkerTemplate: { size: number } } }).spec.leaderWorkerTemplate.size).toBe(2);
    const again = await stack.preview();
    expect(Object.entries(again.changeSummary).filter(([op, n]) => op !== "same" && n > 0)).toEqual([]);
    await engine.setConfig(stack, "models", group(REV_B2));
    const recorder = stepRecorder();
    expect((await stack.up({ onEvent: recorder.onEvent })).summary.result).toBe("succeeded");
    expect(recorder.steps.filter((s) => s.op === "update").map((s) => s.name)).toContain("g-server");
    const managed = managedObjects(await stack.exportStack());
    expect((await stack.destroy({ excludeProtected: true })).summary.result).toBe("succeeded");
    const kept = managed.filter((o) => o.name === "namespace" || o.ref.kind === "PersistentVolumeClaim");
    expect(kept.map((o) => o.key).sort()).toEqual([`Namespace /${namespace}`, `PersistentVolumeClaim ${namespace}/g-weights`]);
    expect(await settled(managed.filter((o) => !kept.includes(o)))).toEqual([]);
  }, 300_000);
});

describe("engine: dynamo through the engine", () => {
  it("creates the DynamoGraphDeployment on the v1beta1 schema, previews no change, destroys it and keeps the weights", async () => {
    const namespace = "e2e-dynamo";
    const raw = {
      environment: "dev",
      kubernetes: { namespace, skipAwait: true },
      objectStore: { provider: "minio", bucket: "llm-models" },
      storage: { strategy: "longhorn" },
      models: [{ ...models("vllm", REV_B1)[0], engine: "dynamo", dynamo: { backend: "vllm" } }],
    };
    const stack = await engine.stack("dynamo", raw, { hfToken: HF_TOKEN });
    expect((await stack.up()).summary.result).toBe("succeeded");
    const graph = await kube.get({ apiVersion: "nvidia.com/v1beta1", kind: "DynamoGraphDeployment", metadata: { name: "a", namespace } });
    const components = (
      graph as unknown as { spec: { components: Array<{ name: string; podTemplate: { spec: { containers: Array<{ name: string }> } } }> } }
    ).spec.components;
    expect(components.map((c) => [c.name, c.podTemplate.spec.containers[0].name])).toEqual([
      ["frontend", "main"],
      ["worker", "main"],
    ]);
    const again = await stack.preview();
    expect(Object.entries(again.changeSummary).filter(([op, n]) => op !== "same" && n > 0)).toEqual([]);
    const managed = managedObjects(await stack.exportStack());
    expect((await stack.destroy({ excludeProtected: true })).summary.result).toBe("succeeded");
    const kept = managed.filter((o) => o.name === "namespace" || o.ref.kind === "PersistentVolumeClaim");
    expect(kept.map((o) => o.key).sort()).toEqual([`Namespace /${namespace}`, `PersistentVolumeClaim ${namespace}/a-weights`]);
    expect(await settled(managed.filter((o) => !kept.includes(o)))).toEqual([]);
  }, 300_000);
});

/** The last main before ServedModel grouped each model's resources (they were LlmServing's children). */
const BEFORE_SERVED_MODEL = "ecdf293f2317ab5a3d4e47de0c26bffc539bda1e";

describe("upgrading a stack made before ServedModel", () => {
  it("moves each model's resources under its ServedModel: nothing created anew or deleted, no server replaced, only what changed since written to", async () => {
    const namespace = "e2e-upgrade";
    const raw = {
      environment: "dev",
      kubernetes: { namespace, skipAwait: true },
      objectStore: { provider: "minio", bucket: "llm-models" },
      storage: { strategy: "longhorn" },
      observability: { prometheus: { enabled: true, serverAddress: "http://prometheus-operated.monitoring.svc:9090" } },
      networkPolicy: { enabled: true, clientPodLabels: { app: "chat" } },
      models: [
        { ...models("vllm", REV_B1)[0], autoscaling: { maxReplicas: 2, target: 4 } },
        { ...models("sglang", REV_B1)[1], mirror: false },
      ],
    };
    const secrets = { hfToken: HF_TOKEN, apiKey: API_KEY };
    const old = await engine.stack("upgrade", raw, secrets, await programAt(BEFORE_SERVED_MODEL, engine.workDir));
    expect((await old.up()).summary.result).toBe("succeeded");
    const before = managedObjects(await old.exportStack());
    const liveBefore = new Map<string, unknown>();
    for (const o of before) liveBefore.set(o.key, (await kube.get(o.ref))?.metadata);

    const stack = await engine.stack("upgrade", raw, secrets);
    const recorder = stepRecorder();
    const up = await stack.up({ onEvent: recorder.onEvent });
    expect(up.summary.result).toBe("succeeded");
    // Only the two new components are created and nothing is deleted: every moved resource is the
    // same one under its alias (a missing alias would create it anew and delete the old).
    const steps = recorder.steps.filter((s) => s.op !== "same");
    const createdOrDeleted = steps.filter((s) => s.op === "create" || s.op === "delete").map((s) => `${s.op} ${s.type} ${s.name}`);
    expect(createdOrDeleted.sort()).toEqual(["create llm-serving:index:ServedModel a", "create llm-serving:index:ServedModel b"]);
    // Besides the move, what changed in the program since (its pod scripts): their ConfigMap and the
    // Jobs that run them are replaced, a server mounting them rolls; no server is replaced.
    const changed = (s: { op: string }) => ["update", "replace"].includes(s.op);
    for (const step of steps.filter(changed)) {
      expect(`${step.op} ${step.type} ${step.name}`).toMatch(
        /^(replace kubernetes:(batch\/v1:Job|core\/v1:ConfigMap)|update kubernetes:apps\/v1:Deployment) /,
      );
    }
    const untouched = new Set(recorder.steps.filter((s) => s.op === "same").map((s) => s.urn));

    // The state's URNs moved (mirror, cache, key, server and their children of both models) ...
    const resources = ((await stack.exportStack()).deployment.resources as Array<{ urn: string }>).map((r) => r.urn);
    const moved = resources.filter((urn) => urn.includes("llm-serving:index:ServedModel$"));
    for (const name of ["a-mirror", "a-weights", "a-api-key", "a-server", "a-autoscaling", "b-api-key", "b-server"]) {
      expect(
        moved.some((urn) => urn.endsWith(`::${name}`)),
        `${name} under ServedModel in\n${moved.join("\n")}`,
      ).toBe(true);
    }
    // ... and nothing else in the cluster did: the same objects (the replaced ConfigMap and Jobs
    // under their new content's names), those of unchanged resources not written to.
    const after = managedObjects(await stack.exportStack());
    const named = (key: string) => key.replace(/^((ConfigMap|Job) \S+?)(-[0-9a-f]{8})?$/, "$1");
    expect(after.map((o) => named(o.key)).sort()).toEqual(before.map((o) => named(o.key)).sort());
    // Written to: a new spec generation, or a new resourceVersion where there is no generation (a
    // controller's status writes, as a PDB's while the server rolls, bump only the resourceVersion).
    type Meta = { uid: string; resourceVersion: string; generation?: number };
    const identity = (m: Meta | undefined) => ({ uid: m?.uid, written: m?.generation ?? m?.resourceVersion });
    for (const o of after.filter((o) => untouched.has(o.urn))) {
      const live = (await kube.get(o.ref))?.metadata as unknown as Meta | undefined;
      expect(identity(live), o.key).toEqual(identity(liveBefore.get(o.key) as Meta));
    }
    const again = await stack.preview();
    expect(Object.entries(again.changeSummary).filter(([op, n]) => op !== "same" && n > 0)).toEqual([]);
    expect((await stack.destroy({ excludeProtected: true })).summary.result).toBe("succeeded");
  }, 300_000);
});

describe("a release of the program that changes a pod script", () => {
  it("rolls the servers mounting the scripts and replaces their ConfigMap new-first: no server is replaced", async () => {
    const namespace = "e2e-script-change";
    const raw = {
      environment: "dev",
      kubernetes: { namespace, skipAwait: true },
      objectStore: { provider: "minio", bucket: "llm-models" },
      storage: { strategy: "longhorn" },
      models: models("vllm", REV_B1).map((m) => ({ ...m, rollout: "surge" })),
    };
    const secrets = { hfToken: HF_TOKEN, apiKey: API_KEY };
    const stack = await engine.stack("script-change", raw, secrets);
    expect((await stack.up()).summary.result).toBe("succeeded");
    const server = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "a", namespace } };
    const before = (await kube.get(server))?.metadata as unknown as { uid: string };

    // The next release: one pod script a line longer (the scripts ConfigMap every such pod mounts changes).
    const release = await programWithEdit(engine.workDir, "storage/wait_for_verified.sh", (text) => `${text}\n# the next release\n`);
    const next = await engine.stack("script-change", raw, secrets, release);
    const recorder = stepRecorder();
    expect((await next.up({ onEvent: recorder.onEvent })).summary.result).toBe("succeeded");
    const ops = recorder.steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${s.type} ${s.name}`);
    expect(ops).toContain("update kubernetes:apps/v1:Deployment a-server");
    expect(ops.filter((op) => / kubernetes:apps\/v1:(Deployment|StatefulSet) /.test(op) && !op.startsWith("update "))).toEqual([]);
    // The new ConfigMap first, the old one deleted last (a new name: never delete-before-replace).
    const scripts = ops.filter((op) => op.endsWith(" kubernetes:core/v1:ConfigMap scripts"));
    expect(scripts).toEqual([
      "create-replacement kubernetes:core/v1:ConfigMap scripts",
      "replace kubernetes:core/v1:ConfigMap scripts",
      "delete-replaced kubernetes:core/v1:ConfigMap scripts",
    ]);
    expect(((await kube.get(server))?.metadata as unknown as { uid: string }).uid).toBe(before.uid);
    expect((await next.destroy({ excludeProtected: true })).summary.result).toBe("succeeded");
  }, 300_000);
});

describe("the local stack through the engine", () => {
  it("renders to a directory: every file parses, and its objects are exactly what the state manages", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-serving-render-"));
    const local = stackFileConfig("local");
    const stack = await engine.stack("local", { ...local, kubernetes: { ...(local.kubernetes as object), renderYamlTo: dir } });
    const up = await stack.up();
    expect(up.summary.result).toBe("succeeded");
    const rendered = renderedManifests(dir);
    expect(rendered.length).toBeGreaterThan(10);
    const managed = managedObjects(await stack.exportStack());
    expect(rendered.map((m) => `${m.kind} ${m.namespace ?? ""}/${m.name}`).sort()).toEqual(managed.map((o) => o.key).sort());
  }, 120_000);
});

describe("the policy pack through the engine", () => {
  const pack = join(__dirname, "..", "..", "policies", "analyzer");
  const packConfig = (stack: string) => join(__dirname, "..", "..", "policies", "config", `${stack}.json`);

  // dev and prod keep their strategy, models and environment; their object store becomes MinIO,
  // since the Cloudflare provider plugin cannot be built here (docs/development.md).
  const repoStack = (stack: string) => ({
    ...stackFileConfig(stack),
    kubernetes: { ...(stackFileConfig(stack).kubernetes as object), namespace: `policy-${stack}`, skipAwait: true },
    ...(stack === "local" ? {} : { objectStore: { provider: "minio", bucket: `llm-models-${stack}` } }),
  });

  it.each(["local", "dev", "prod"])(
    "passes for the %s stack with its pack config",
    async (name) => {
      const stack = await engine.stack(`policy-${name}`, repoStack(name), {
        hfToken: "hf_integration_token_value",
        ...REPO_STACK_SECRETS[name],
      });
      let output = "";
      await stack.preview({ policyPacks: [pack], policyPackConfigs: [packConfig(name)], onOutput: (l) => (output += l) });
      expect(output).toContain("llm-serving@v");
      expect(output).not.toMatch(/mandatory|advisory/);
    },
    120_000,
  );

  it("fails a hostPath stack with a branch revision under the prod config, naming both policies", async () => {
    // environment "prod" would be refused by the program itself; a stack that calls itself dev on a
    // prod cluster is caught by the pack.
    const violating = {
      ...repoStack("dev"),
      models: [{ name: "m", huggingFace: "Qwen/Qwen2.5-0.5B-Instruct", revision: "main", engine: "vllm", sizeGiB: 1 }],
    };
    const stack = await engine.stack("policy-violating", violating);
    let output = "";
    await expect(
      stack.preview({ policyPacks: [pack], policyPackConfigs: [packConfig("prod")], onOutput: (l) => (output += l) }),
    ).rejects.toThrow();
    expect(output).toMatch(/mandatory/);
    expect(output).toContain("hostpath-only-in-dev");
    expect(output).toContain("models-pinned-to-commit");
  }, 120_000);
});
