/**
 * Every storage strategy × engine against a real kube-apiserver (+ etcd), with Fluid's, the
 * Prometheus Operator's PodMonitor and KEDA's ScaledObject CRDs installed, and every optional
 * feature on (metrics, autoscaling, NetworkPolicies, compile caches, an API key, per-model placement):
 * server-side apply with strict validation creates every object; applying the same program again
 * changes nothing; a new revision of one model touches only that model's objects; deleting what
 * `pulumi destroy` deletes leaves the protected and retained data in place.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STORAGE_STRATEGIES } from "../../components/config/schema";
import { imageFor, runProgram, repoStackConfig, stackFileConfig } from "../harness";
import { ApiServer, startApiServer, toolchainBin } from "./apiServer";
import { installCrds } from "./crds";
import { KubeClient, KubeObject } from "./kubeClient";
import { DesiredObject, desiredObjects, objectKey } from "./manifests";

const REV_A = "7ae557604adf67be50417f59c2c2f167def9a775";
const SPREADABLE = ["longhorn", "juicefs", "s3Streaming"];
const REV_B1 = "a09a35458c702b33eeacc393d103063234e8bc28";
const REV_B2 = "bb46c15ee4bb56c5b63245ef50fd7637234d6f75";

const bin = toolchainBin();
let server: ApiServer;
let kube: KubeClient;

beforeAll(async () => {
  if (!bin) throw new Error("no toolchain: run `bash scripts/toolchain.sh cluster` first");
  server = await startApiServer(bin);
  kube = new KubeClient(server);
  await installCrds(kube);
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

function stackConfig(strategy: string, engine: string, revisionB: string) {
  return {
    environment: "dev",
    kubernetes: {
      namespace: `it-${strategy.toLowerCase()}-${engine}`,
      // Off, as in a real `up`: the revision-cleanup Jobs are rendered and applied too.
      skipAwait: false,
      // Placement reaches every object that takes it (Fluid's Runtime and Dataset too), schema-checked.
      nodeSelector: { "nvidia.com/gpu.present": "true" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    },
    objectStore: { provider: "minio", bucket: "llm-models" },
    storage: { strategy },
    networkPolicy: { enabled: true, clientNamespaceLabels: { team: "apps" } },
    compileCache: { enabled: true },
    // Model a requires a key: its Secret and the engine's reference to it are applied too.
    apiKeys: { a: "integration-key-0123456789abcdef" },
    // Metrics on: the PodMonitors are schema-checked against the Prometheus Operator's CRD.
    observability: {
      prometheus: {
        enabled: true,
        labels: { release: "kube-prometheus-stack" },
        serverAddress: "http://prometheus-operated.monitoring.svc:9090",
      },
    },
    models: [
      {
        name: "a",
        huggingFace: "Qwen/Qwen2.5-0.5B-Instruct",
        revision: REV_A,
        engine,
        sizeGiB: 1,
        // Its own placement and GPU resource (a MIG profile), over the stack's.
        nodeSelector: { "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB" },
        tolerations: [{ key: "mig", operator: "Exists", effect: "NoSchedule" }],
        priorityClassName: "llm-high",
        gpuResource: "nvidia.com/mig-1g.10gb",
        ...imageFor(strategy, engine),
      },
      {
        name: "b",
        huggingFace: "Qwen/Qwen2.5-7B-Instruct",
        revision: revisionB,
        engine,
        sizeGiB: 16,
        ...imageFor(strategy, engine),
        // A KEDA ScaledObject wherever the strategy can spread replicas, schema-checked.
        ...(SPREADABLE.includes(strategy) ? { autoscaling: { maxReplicas: 3, target: 4 } } : {}),
      },
    ],
  };
}

async function render(strategy: string, engine: string, revisionB: string): Promise<DesiredObject[]> {
  return desiredObjects((await runProgram(stackConfig(strategy, engine, revisionB), ["apiKeys"], { preview: false })).resources);
}

/**
 * The stored state of an object, minus bookkeeping. Not the resourceVersion: admission re-adds the
 * PVC protection finalizer on every apply, which bumps it without changing anything that matters.
 */
function stored(o: KubeObject): string {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = o.metadata;
  return JSON.stringify({ ...o, metadata });
}

/** Applies namespaces first (everything else lives in one), then the rest; returns what is stored. */
async function applyAll(objects: DesiredObject[]): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  const ordered = [...objects].sort((x, y) => Number(y.object.kind === "Namespace") - Number(x.object.kind === "Namespace"));
  for (const { object } of ordered) versions.set(objectKey(object), stored(await kube.apply(object)));
  return versions;
}

/** Whether an object belongs to model `name` (its labels, or its Pulumi resource name). */
function belongsTo(d: DesiredObject | undefined, name: string): boolean {
  if (!d) return false;
  const l = d.object.metadata.labels ?? {};
  return l["app.kubernetes.io/name"] === name || l["app.kubernetes.io/instance"] === name || d.resourceName.startsWith(`${name}-`);
}

const matrix = STORAGE_STRATEGIES.flatMap((strategy) => ["vllm", "sglang"].map((engine) => [strategy, engine] as const));

describe.each(matrix)("%s × %s on a real API server", (strategy, engine) => {
  it("creates every object, re-applies as a no-op, rolls one model, destroys all but the data", async () => {
    // up: every object passes server-side validation (strict fields, CRD schemas) and exists.
    const first = await render(strategy, engine, REV_B1);
    expect(first.length).toBeGreaterThan(10);
    const v1 = await applyAll(first);
    for (const { object } of first) expect(await kube.get(object), objectKey(object)).toBeDefined();

    // a second preview/up of the same program: nothing changes on the server.
    const again = await render(strategy, engine, REV_B1);
    expect(again.map((d) => objectKey(d.object)).sort()).toEqual(first.map((d) => objectKey(d.object)).sort());
    const v2 = await applyAll(again);
    expect([...v2].filter(([key, state]) => v1.get(key) !== state).map(([key]) => key)).toEqual([]);

    // a new revision of model b: only b's objects are added, changed or removed.
    const rolled = await render(strategy, engine, REV_B2);
    const before = new Map(again.map((d) => [objectKey(d.object), d]));
    const after = new Map(rolled.map((d) => [objectKey(d.object), d]));
    const v3 = await applyAll(rolled);
    const removed = [...before.keys()].filter((k) => !after.has(k));
    for (const key of removed) await kube.delete(before.get(key)!.object);
    const touched = [
      ...[...after.keys()].filter((k) => !before.has(k)),
      ...removed,
      ...[...v3].filter(([key, state]) => v2.has(key) && v2.get(key) !== state).map(([key]) => key),
    ];
    expect(touched.length).toBeGreaterThan(0);
    expect(touched.filter((k) => !belongsTo(after.get(k) ?? before.get(k), "b"))).toEqual([]);

    // destroy: everything goes except what is protected or retained (namespace, weight claims).
    for (const d of rolled.filter((x) => !x.retained)) await kube.delete(d.object);
    for (const d of rolled) {
      const live = await kube.get(d.object);
      const gone = !live || (live.metadata as { deletionTimestamp?: string }).deletionTimestamp !== undefined;
      expect(gone, `${objectKey(d.object)} after destroy`).toBe(!d.retained);
    }
    expect(rolled.some((d) => d.retained && d.object.kind === "Namespace")).toBe(true);
  }, 120_000);
});

const DYNAMO_MATRIX = STORAGE_STRATEGIES.flatMap((strategy) =>
  ["vllm", "sglang"].filter((b) => !(strategy === "s3Streaming" && b === "sglang")).map((b) => [strategy, b] as const),
);

describe.each(DYNAMO_MATRIX)("dynamo × %s × %s on a real API server", (strategy, backend) => {
  it("applies the graph against the v1beta1 schema, and each component's podTemplate as a Pod (dry run)", async () => {
    const namespace = `it-dynamo-${strategy.toLowerCase()}-${backend}`;
    const raw = {
      environment: "dev",
      kubernetes: { namespace, nodeSelector: { "nvidia.com/gpu.present": "true" } },
      objectStore: { provider: "minio", bucket: "llm-models" },
      storage: { strategy },
      compileCache: { enabled: true },
      observability: { prometheus: { enabled: true } },
      models: [
        {
          name: "graph",
          huggingFace: "Qwen/Qwen2.5-7B-Instruct",
          revision: REV_A,
          engine: "dynamo",
          sizeGiB: 16,
          gpus: 2,
          dynamo: { backend },
        },
      ],
    };
    const objects = desiredObjects((await runProgram(raw, [], { preview: false })).resources);
    await applyAll(objects);
    const graphs = objects.filter((d) => d.object.kind === "DynamoGraphDeployment");
    expect(graphs.length).toBe(1);
    const stored = (await kube.get(graphs[0].object)) as unknown as {
      spec: { components: Array<{ name: string; podTemplate: { metadata?: object; spec: object } }> };
    };
    // Nothing pruned: the stored graph is what the program rendered.
    expect(stored.spec).toEqual(graphs[0].object.spec);
    // The admission chain needs the namespace's default ServiceAccount (no controller makes it here).
    await kube.apply({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace } });
    for (const c of stored.spec.components) {
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `graph-${c.name}`, namespace, ...c.podTemplate.metadata },
        spec: c.podTemplate.spec,
      };
      await expect(kube.apply(pod as KubeObject, { dryRun: true }), c.name).resolves.toBeDefined();
    }
    expect(await kube.get({ apiVersion: "v1", kind: "Pod", metadata: { name: "graph-worker", namespace } })).toBeUndefined();
  });
});

const GROUP_MATRIX = STORAGE_STRATEGIES.filter((s) => s !== "hostPath").flatMap((strategy) =>
  ["vllm", "sglang"].map((engine) => [strategy, engine] as const),
);

describe.each(GROUP_MATRIX)("%s × %s on 2 nodes on a real API server", (strategy, engine) => {
  it("applies the LeaderWorkerSet strictly against LWS v0.9.0's CRD, and its leader and worker templates as Pods (dry run)", async () => {
    const namespace = `it-group-${strategy.toLowerCase()}-${engine}`;
    const raw = {
      environment: "dev",
      kubernetes: { namespace, nodeSelector: { "nvidia.com/gpu.present": "true" } },
      objectStore: { provider: "minio", bucket: "llm-models" },
      storage: { strategy, ...(strategy === "fluid" ? { fluid: { replicas: 2 } } : {}) },
      networkPolicy: { enabled: true, clientNamespaceLabels: { team: "apps" } },
      apiKey: "integration-key-0123456789abcdef",
      models: [
        {
          name: "group",
          huggingFace: "Qwen/Qwen2.5-7B-Instruct",
          revision: REV_A,
          engine,
          sizeGiB: 16,
          gpus: 2,
          nodes: 2,
          replicas: strategy === "localPath" ? 1 : 2,
          multiNode: { resources: { "rdma/ib": "1" } },
          ...imageFor(strategy, engine),
        },
      ],
    };
    const objects = desiredObjects((await runProgram(raw, ["apiKey"], { preview: false })).resources);
    await applyAll(objects);
    const groups = objects.filter((d) => d.object.kind === "LeaderWorkerSet");
    expect(groups.length).toBe(1);
    const stored = (await kube.get(groups[0].object)) as unknown as {
      spec: {
        leaderWorkerTemplate: {
          size: number;
          leaderTemplate: { metadata: object; spec: { volumes?: object[] } };
          workerTemplate: { metadata: object; spec: { volumes?: object[] } };
          volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
        };
      };
    };
    const template = stored.spec.leaderWorkerTemplate;
    expect(template.size).toBe(2);
    await kube.apply({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace } });
    // The volumes the controller adds from the claim templates, as a StatefulSet's does (`<template>-<pod>`).
    const claims = (template.volumeClaimTemplates ?? []).map((t) => ({
      name: t.metadata.name,
      persistentVolumeClaim: { claimName: `${t.metadata.name}-group-0` },
    }));
    for (const [role, member] of Object.entries({ leader: template.leaderTemplate, worker: template.workerTemplate })) {
      const spec = { ...member.spec, volumes: [...(member.spec.volumes ?? []), ...claims] };
      const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: `group-${role}`, namespace, ...member.metadata }, spec };
      await expect(kube.apply(pod as KubeObject, { dryRun: true }), role).resolves.toBeDefined();
    }
  });
});

describe("the DynamoGraphDeployment schema", () => {
  it("is refused by the schema where a field is unknown (the schema is strict but for podTemplate)", async () => {
    const namespace = "it-dynamo-refusals";
    await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    const graph = (spec: object) => ({
      apiVersion: "nvidia.com/v1beta1",
      kind: "DynamoGraphDeployment",
      metadata: { name: "bad", namespace },
      spec,
    });
    await expect(kube.apply(graph({ components: [{ name: "w", type: "worker", replica: 1 }] }))).rejects.toThrow(
      /replica: field not declared in schema/,
    );
    await expect(kube.apply(graph({ pvcs: [], components: [{ name: "w" }] }))).rejects.toThrow(/pvcs: field not declared in schema/);
    await expect(kube.apply(graph({ components: [{ name: "w", type: "server" }] }))).rejects.toThrow(
      /components\[0\]\.type: Unsupported value/,
    );
  });
});

describe.each(["local", "dev", "prod"])("repo stack %s on a real API server", (stack) => {
  it("is accepted object by object", async () => {
    const raw = {
      ...repoStackConfig(stack),
      kubernetes: { ...(stackFileConfig(stack).kubernetes as object), namespace: `it-stack-${stack}` },
    };
    const objects = desiredObjects((await runProgram(raw, ["hfToken", "apiKey"], { preview: false })).resources);
    const stored = await applyAll(objects);
    expect(stored.size).toBe(objects.length);
  });
});

describe("the API server really validates", () => {
  it("refuses an unknown field and a value outside a CRD's schema", async () => {
    await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "it-refusals" } });
    const typo = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "typo", namespace: "it-refusals" }, dta: { a: "b" } };
    await expect(kube.apply(typo)).rejects.toThrow(/\.dta: field not declared in schema/);
    const dataset = {
      apiVersion: "data.fluid.io/v1alpha1",
      kind: "Dataset",
      metadata: { name: "bad", namespace: "it-refusals" },
      spec: { mounts: "s3://b/p/" },
    };
    await expect(kube.apply(dataset)).rejects.toThrow(/\.spec\.mounts: expected list/);
  });
});
