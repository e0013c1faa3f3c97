import { describe, expect, it } from "vitest";
import { STORAGE_STRATEGIES, strategyDefaults } from "../components/config/schema";
import { MIRROR_PYTHON_IMAGE } from "../components/mirror/modelMirror";
import {
  COMPILE_CACHE_GC,
  PRELOAD,
  PRUNE_REVISIONS,
  s5cmdCopyFlags,
  SMOKE_CHECK,
  VERIFY_READ_ONLY,
  VERIFY_STREAMED,
  WAIT_FOR_VERIFIED,
} from "../components/scripts";
import { shortHash } from "../components/naming";
import { MODEL_CONFIG_ANNOTATION, POD_TEMPLATE_ANNOTATION } from "../components/serving/smokeCheck";
import { parseStackConfig } from "../components/stackConfig";
import { sglangArgs } from "../components/engines/sglang";
import { vllmArgs } from "../components/engines/vllm";
import { cpuCores } from "../components/cluster";
import { deploymentStrategy } from "../components/serving/modelServer";
import { estimateStartup } from "../components/serving/startup";
import {
  baseConfig,
  expectConfigError,
  GPU_NODES,
  imageFor,
  isSecret,
  kubernetesFor,
  resolve,
  runProgram,
  SGLANG_RUNAI_IMAGE,
  repoStackConfig,
} from "./harness";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const STORES: Record<string, Record<string, unknown>> = {
  r2: { provider: "r2", bucket: "weights", r2: { accountId: ACCOUNT } },
  s3: { provider: "s3", bucket: "weights", s3: { region: "eu-west-1" } },
  minio: { provider: "minio", bucket: "weights" },
};
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const WORKLOADS = ["kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:batch/v1:Job"];
const CREDENTIAL_NAME = /KEY|SECRET|TOKEN|PASSWORD/i;
const REV = "7ae557604adf67be50417f59c2c2f167def9a775";
/** Every old pod stops first, the new ReplicaSet exists at once (recreate without `Recreate`). */
const ALL_AT_ONCE = { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: "100%" } };

function rawFor(strategy: string, engine: string, store: string, model: Record<string, unknown> = {}) {
  return baseConfig({
    objectStore: STORES[store],
    storage: { strategy },
    models: [
      { name: "m", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: REV, engine, sizeGiB: 16, ...imageFor(strategy, engine), ...model },
    ],
  });
}

/** The preload pair: s5cmd handed over from its image, then the verifying copy in the Python image. */
function expectPreload(init: any[], main: any[]) {
  expect(init.map((c) => [c.name, c.image])).toEqual([["s5cmd", "peakcom/s5cmd:v2.3.0"]]);
  expect(main.map((c) => [c.name, c.image])).toEqual([["preload", MIRROR_PYTHON_IMAGE]]);
  expect(main[0].command).toEqual(["python3", `/scripts/${PRELOAD.file}`, ...s5cmdCopyFlags(strategyDefaults.preload()).split(" ")]);
  expect(main[0].env[0]).toEqual({ name: "PATH", value: "/tools:/usr/local/bin:/usr/bin:/bin" });
}

function podSpecOf(resource: { inputs: any }) {
  return resource.inputs.spec.template.spec;
}
function containers(spec: any): any[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

const matrix = STORAGE_STRATEGIES.flatMap((strategy) =>
  ["vllm", "sglang"].flatMap((engine) => Object.keys(STORES).map((store) => [strategy, engine, store] as const)),
);

describe.each(matrix)("%s × %s × %s", (strategy, engine, store) => {
  it("serves with GPU limits = requests, probes within budget, no inline credentials", async () => {
    const run = await runProgram(rawFor(strategy, engine, store));
    const server = run.resources.find((r) => r.name === "m-server")!;
    expect(server.type).toBe(strategy === "localPath" ? "kubernetes:apps/v1:StatefulSet" : "kubernetes:apps/v1:Deployment");
    const spec = podSpecOf(server);
    const main = spec.containers[0];
    expect(main.resources.requests["nvidia.com/gpu"]).toBe("1");
    expect(main.resources.limits["nvidia.com/gpu"]).toBe("1");
    expect(main.startupProbe.httpGet.path).toBe("/health");
    expect(main.readinessProbe.httpGet.path).toBe("/health");
    const annotations = server.inputs.spec.template.metadata.annotations;
    expect(Number(annotations["llm-serving.io/startup-budget-seconds"])).toBeGreaterThanOrEqual(
      Number(annotations["llm-serving.io/load-estimate-seconds"]),
    );
    expect(main.startupProbe.periodSeconds * main.startupProbe.failureThreshold).toBe(
      Number(annotations["llm-serving.io/startup-budget-seconds"]),
    );
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(main.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });

    for (const workload of run.resources.filter((r) => WORKLOADS.includes(r.type))) {
      for (const c of containers(podSpecOf(workload))) {
        for (const env of c.env ?? []) {
          if (CREDENTIAL_NAME.test(env.name)) expect(env.valueFrom?.secretKeyRef, `${workload.name}/${c.name}/${env.name}`).toBeDefined();
        }
        expect(c.securityContext?.allowPrivilegeEscalation, `${workload.name}/${c.name}`).toBe(false);
      }
    }
    const loads = engine === "vllm" ? main.args[0] : main.args[main.args.indexOf("--model-path") + 1];
    if (strategy === "s3Streaming") {
      expect(loads).toBe(`s3://weights/models/Qwen/Qwen2.5-7B-Instruct/${REV}`);
      expect(main.args).toContain("runai_streamer");
      expect(main.env).toContainEqual({ name: "RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING", value: store === "s3" ? "1" : "0" });
      expect(main.env.find((e: any) => e.name === "AWS_ENDPOINT_URL").valueFrom.secretKeyRef.name).toBe(`${store}-reader`);
    } else {
      expect(loads).toBe(strategy === "fluid" ? "/models" : `/models/Qwen/Qwen2.5-7B-Instruct/${REV}`);
      expect(main.volumeMounts.find((m: any) => m.mountPath === "/models").readOnly).toBe(true);
    }
  });
});

describe("revision cleanup (storage.keepRevisions)", () => {
  const JOB = "kubernetes:batch/v1:Job";
  const pruneArgs = (keep: number) => ["/models/Qwen/Qwen2.5-7B-Instruct", REV, String(keep)];

  it.each([
    ["hostPath", 0, { "llm-serving.io/model-host": "true" }],
    ["longhorn", 1000, undefined],
    ["juicefs", 1000, undefined],
  ] as const)("%s: a Job after the server removes superseded revisions from the shared cache", async (strategy, uid, nodeSelector) => {
    const run = await runProgram(rawFor(strategy, "vllm", "minio"));
    const job = run.one(JOB, "m-prune-revisions");
    // Created after the server is Ready (Pulumi awaits it) and after the smoke check has seen the new
    // revision answer: Pulumi's Deployment await alone can call a rollout complete whose pods never
    // came up (seen on the node with an image that does not exist), and the old revision must stay.
    expect(job.parent).toBe("llm-serving:serving:ModelServer::m");
    expect(job.opts.dependsOn).toEqual([
      expect.objectContaining({ __name: "m-server" }),
      expect.objectContaining({ __name: "m-smoke-check" }),
    ]);
    expect(job.inputs.spec.ttlSecondsAfterFinished).toBeUndefined();
    const pod = podSpecOf(job);
    const [prune] = pod.containers;
    expect(prune.command).toEqual(["python3", `/scripts/${PRUNE_REVISIONS.file}`, ...pruneArgs(1)]);
    expect(prune.volumeMounts).toEqual([
      { name: "models", mountPath: "/models" },
      { name: "scripts", mountPath: "/scripts", readOnly: true },
    ]);
    // The same cache the preload filled, written by the same uid.
    const preload = podSpecOf(run.one(JOB, strategy === "juicefs" ? "m-warmup" : "m-preload"));
    expect(pod.volumes[0]).toEqual(preload.volumes[0]);
    expect(pod.securityContext.runAsUser).toBe(preload.securityContext.runAsUser);
    expect(pod.securityContext.runAsUser).toBe(uid);
    expect(pod.nodeSelector).toEqual(nodeSelector ?? preload.nodeSelector);
    expect(prune.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
  });

  it("keeps as many revisions as storage.keepRevisions says", async () => {
    const raw = rawFor("longhorn", "vllm", "minio");
    (raw.storage as Record<string, unknown>).keepRevisions = 3;
    const run = await runProgram(raw);
    expect(podSpecOf(run.one(JOB, "m-prune-revisions")).containers[0].command.slice(2)).toEqual(pruneArgs(3));
  });

  it("localPath: prunes in the pod, right after its own claim is filled and verified", async () => {
    const run = await runProgram(rawFor("localPath", "vllm", "minio"));
    const init = podSpecOf(run.one("kubernetes:apps/v1:StatefulSet", "m-server")).initContainers;
    expect(init.map((c: any) => c.name)).toEqual(["s5cmd", "preload", "prune-revisions"]);
    expect(init[2].command).toEqual(["python3", `/scripts/${PRUNE_REVISIONS.file}`, ...pruneArgs(1)]);
    expect(init[2].volumeMounts).toEqual([
      { name: "models", mountPath: "/models" },
      { name: "scripts", mountPath: "/scripts", readOnly: true },
    ]);
    expect(run.resources.filter((r) => r.name === "m-prune-revisions")).toEqual([]);
  });

  it.each(["fluid", "s3Streaming"])("%s: no cleanup Job (the cache bounds itself, or there is none)", async (strategy) => {
    const run = await runProgram(rawFor(strategy, "vllm", "minio"));
    expect(run.resources.filter((r) => r.name === "m-prune-revisions")).toEqual([]);
  });

  it("is not applied with kubernetes.skipAwait, where nothing waits for the new revision to serve", async () => {
    const raw = rawFor("hostPath", "vllm", "minio");
    (raw.kubernetes as Record<string, unknown>) = { ...(raw.kubernetes as Record<string, unknown>), skipAwait: true };
    const run = await runProgram(raw);
    expect(run.resources.filter((r) => r.name === "m-prune-revisions")).toEqual([]);
  });
});

describe("per-model placement", () => {
  const JOB = "kubernetes:batch/v1:Job";
  const TAINT = { key: "pool", operator: "Equal", value: "h100", effect: "NoSchedule" };

  it("models[].nodeSelector / tolerations / priorityClassName / runtimeClassName / gpuResource override the stack's for the server and its Jobs", async () => {
    const raw = rawFor("longhorn", "vllm", "minio", {
      nodeSelector: { pool: "h100" },
      tolerations: [TAINT],
      priorityClassName: "llm-high",
      runtimeClassName: "nvidia",
      gpuResource: "nvidia.com/mig-1g.10gb",
    });
    raw.kubernetes = { namespace: "llm", nodeSelector: { gpu: "true", pool: "a100" }, tolerations: [{ key: "gpu", operator: "Exists" }] };
    (raw.models as Record<string, unknown>[]).push({
      ...(raw.models as Record<string, unknown>[])[0],
      name: "other",
      nodeSelector: undefined,
      tolerations: undefined,
      priorityClassName: undefined,
      runtimeClassName: undefined,
      gpuResource: undefined,
    });
    const run = await runProgram(raw);
    const server = podSpecOf(run.one("kubernetes:apps/v1:Deployment", "m-server"));
    expect(server.nodeSelector).toEqual({ gpu: "true", pool: "h100" });
    expect(server.tolerations).toEqual([TAINT]);
    expect(server.priorityClassName).toBe("llm-high");
    expect(server.runtimeClassName).toBe("nvidia");
    const limits = server.containers[0].resources.limits;
    expect(limits["nvidia.com/mig-1g.10gb"]).toBe("1");
    expect(limits["nvidia.com/gpu"]).toBeUndefined();
    for (const job of ["m-preload", "m-smoke-check", "m-prune-revisions"]) {
      expect(podSpecOf(run.one(JOB, job)).nodeSelector, job).toEqual({ gpu: "true", pool: "h100" });
      expect(podSpecOf(run.one(JOB, job)).tolerations, job).toEqual([TAINT]);
    }
    const other = podSpecOf(run.one("kubernetes:apps/v1:Deployment", "other-server"));
    expect(other.nodeSelector).toEqual({ gpu: "true", pool: "a100" });
    expect(other.tolerations).toEqual([{ key: "gpu", operator: "Exists" }]);
    expect(other.priorityClassName).toBeUndefined();
    expect(other.containers[0].resources.limits["nvidia.com/gpu"]).toBe("1");
  });

  it("hostPath: a model's nodeSelector may not move it off the node holding its weights", async () => {
    const { error } = await expectConfigError(
      rawFor("hostPath", "vllm", "minio", { nodeSelector: { "llm-serving.io/model-host": "false" } }),
    );
    expect(error.message).toMatch(
      /llm-serving:models\[0\]\.nodeSelector.*found "false"; hostPath weights live on the node with llm-serving.io\/model-host=true \(storage.hostPath.nodeLabel\)/,
    );
  });

  it("hostPath: other keys narrow the node choice and are kept", async () => {
    const run = await runProgram(rawFor("hostPath", "vllm", "minio", { nodeSelector: { zone: "a" } }));
    expect(podSpecOf(run.one("kubernetes:apps/v1:Deployment", "m-server")).nodeSelector).toEqual({
      zone: "a",
      "llm-serving.io/model-host": "true",
    });
  });

  it("refuses a malformed models[].gpuResource, naming the key", async () => {
    const { error } = await expectConfigError(rawFor("longhorn", "vllm", "minio", { gpuResource: "mig-1g" }));
    expect(error.message).toContain("llm-serving:models[0].gpuResource");
    expect(error.message).toContain("nvidia.com/mig-1g.10gb");
  });
});

describe("s3Streaming × sglang", () => {
  it("refuses the default SGLang image, which has no S3 backend for the streamer, naming models[i].image", async () => {
    const raw = rawFor("s3Streaming", "sglang", "r2");
    delete (raw.models as Record<string, unknown>[])[0].image;
    const { error } = await expectConfigError(raw);
    expect(error.message).toContain("llm-serving:models[0].image: is required for engine sglang with storage.strategy s3Streaming");
    expect(error.message).toContain('pip install "sglang[runai]==0.5.23"');
  });

  it("accepts an image of the user's, and every other strategy with the default image", async () => {
    expect(
      podSpecOf((await runProgram(rawFor("s3Streaming", "sglang", "r2"))).one("kubernetes:apps/v1:Deployment", "m-server")).containers[0]
        .image,
    ).toBe(SGLANG_RUNAI_IMAGE);
    await expect(runProgram(rawFor("longhorn", "sglang", "r2"))).resolves.toBeDefined();
  });
});

describe("models[].rollout", () => {
  it("surge: the server rolls one extra pod at a time and depends on the Job that caches the new revision", async () => {
    const run = await runProgram(rawFor("longhorn", "vllm", "minio", { rollout: "surge" }));
    const deployment = run.one("kubernetes:apps/v1:Deployment", "m-server");
    expect(deployment.inputs.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(deployment.opts.dependsOn).toContainEqual(expect.objectContaining({ __name: "m-preload" }));
  });

  it("a terminating server keeps serving while its endpoint leaves the Services (no request sent to a gone pod)", async () => {
    for (const strategy of ["longhorn", "localPath"]) {
      const run = await runProgram(rawFor(strategy, "vllm", "minio", strategy === "longhorn" ? { rollout: "surge" } : {}));
      const workload = run.resources.find((r) => r.name === "m-server")!;
      const [server] = workload.inputs.spec.template.spec.containers;
      // A sleep action, not an exec of `sleep`: nothing assumed of the image.
      expect(server.lifecycle).toEqual({ preStop: { sleep: { seconds: 10 } } });
      expect(workload.inputs.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(10);
    }
  });

  it("refuses surge on localPath, whose StatefulSet pod owns its claim, naming the key", async () => {
    const { error } = await expectConfigError(rawFor("localPath", "vllm", "minio", { rollout: "surge" }));
    expect(error.message).toContain('llm-serving:models[0].rollout: found "surge"; localPath serves from a StatefulSet');
  });
});

describe("compileCache", () => {
  const PRODUCT = { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" };
  const withCache = (engine: string, model: Record<string, unknown> = {}) => {
    const raw = rawFor("longhorn", engine, "minio", model);
    raw.compileCache = { enabled: true, sizeGiB: 40 };
    raw.kubernetes = { namespace: "llm", nodeSelector: PRODUCT };
    return raw;
  };
  const pod = async (raw: Record<string, unknown>) => podSpecOf((await runProgram(raw)).one("kubernetes:apps/v1:Deployment", "m-server"));

  it("is off by default: the engines' caches stay in the pod's scratch volume", async () => {
    const spec = await pod(rawFor("longhorn", "vllm", "minio"));
    expect(spec.volumes.map((v: any) => v.name)).not.toContain("compile-cache");
    expect(spec.containers[0].env).toContainEqual({ name: "TRITON_CACHE_DIR", value: "/cache/triton" });
  });

  it("vllm: every compile and JIT cache under the node directory, keyed by engine, image, revision, TP size and GPU product", async () => {
    const spec = await pod(withCache("vllm", { gpus: 2 }));
    expect(spec.volumes).toContainEqual({
      name: "compile-cache",
      hostPath: { path: "/var/cache/llm-serving/compile", type: "DirectoryOrCreate" },
    });
    const key = `vllm-${shortHash("vllm/vllm-openai:v0.33.0")}-${REV}-tp2-nvidia-h100-80gb-hbm3`;
    const env = Object.fromEntries(spec.containers[0].env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      VLLM_CACHE_ROOT: `/compile-cache/${key}/vllm`,
      TRITON_CACHE_DIR: `/compile-cache/${key}/triton`,
      TORCHINDUCTOR_CACHE_DIR: `/compile-cache/${key}/inductor`,
      FLASHINFER_WORKSPACE_BASE: `/compile-cache/${key}/flashinfer`,
      CUDA_CACHE_PATH: `/compile-cache/${key}/cuda`,
    });
    const names = spec.containers[0].env.map((e: any) => e.name);
    expect(names.length).toBe(new Set(names).size);
    const init = spec.initContainers.slice(-2);
    expect(init.map((c: any) => [c.name, c.securityContext.runAsUser])).toEqual([
      ["compile-cache-permissions", 0],
      ["compile-cache-gc", 61000],
    ]);
    // The engine runs as the same dedicated uid that owns its cache directory (not 1000, a login user on many hosts).
    expect(spec.containers[0].securityContext).toMatchObject({ runAsUser: 61000, runAsGroup: 61000, runAsNonRoot: true });
    expect(init[1].command).toEqual(["python3", `/scripts/${COMPILE_CACHE_GC.file}`, "/compile-cache", key, "40"]);
    for (const c of init) expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: "compile-cache", mountPath: "/compile-cache" });
  });

  it("a new image, revision or TP size gets a new directory, never a stale cache", async () => {
    const keyOf = async (model: Record<string, unknown>) => (await pod(withCache("vllm", model))).initContainers.at(-1).command[3];
    const base = await keyOf({});
    expect(await keyOf({})).toBe(base);
    for (const change of [{ image: "vllm/vllm-openai:v0.33.1" }, { revision: "a09a35458c702b33eeacc393d103063234e8bc28" }, { gpus: 4 }])
      expect(await keyOf(change), JSON.stringify(change)).not.toBe(base);
  });

  it("sglang: the shared caches (no VLLM_CACHE_ROOT)", async () => {
    const env = (await pod(withCache("sglang"))).containers[0].env.map((e: any) => e.name);
    expect(env).toContain("FLASHINFER_WORKSPACE_BASE");
    expect(env).not.toContain("VLLM_CACHE_ROOT");
  });

  it("refuses a relative compileCache.hostPath, naming the key", async () => {
    const raw = withCache("vllm");
    raw.compileCache = { enabled: true, hostPath: "var/cache" };
    const { error } = await expectConfigError(raw);
    expect(error.message).toContain("llm-serving:compileCache.hostPath");
  });
});

describe("smoke check after deploy", () => {
  const JOB = "kubernetes:batch/v1:Job";

  it.each(["vllm", "sglang"])(
    "%s: a Job beside the server watches its pods, then calls its Service: /v1/models, then a 1-token completion",
    async (engine) => {
      const run = await runProgram(rawFor("hostPath", engine, "minio"));
      const job = run.one(JOB, "m-smoke-check");
      expect(job.parent).toBe("llm-serving:serving:ModelServer::m");
      // Not after the server (it says why the server's pods do not serve while Pulumi awaits them), but
      // after what the server waits for: the preload that fills its cache.
      expect(job.opts.dependsOn).toEqual([expect.objectContaining({ __name: "m-preload" })]);
      expect(run.one("kubernetes:apps/v1:Deployment", "m-server").opts.dependsOn).toEqual(job.opts.dependsOn);
      const [check] = podSpecOf(job).containers;
      const port = engine === "vllm" ? 8000 : 30000;
      expect(check.command).toEqual(["python3", `/scripts/${SMOKE_CHECK.file}`, `http://m.llm.svc.cluster.local:${port}/v1`, "m"]);
      expect(await resolve(run.serving.models.m.baseUrl)).toBe(`http://m.llm.svc.cluster.local:${port}/v1`);
      expect(check.terminationMessagePolicy).toBe("FallbackToLogsOnError");
      expect(check.securityContext).toMatchObject({ allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
      // No key on an open endpoint: how long the Service may refuse connections, and the revision it must serve.
      expect(check.env.map((e: any) => e.name)).toEqual([
        "CONNECT_WAIT_SECONDS",
        "SERVER_POD_SELECTOR",
        "UNSCHEDULABLE_SECONDS",
        "READY_SECONDS",
        "POD_NAMESPACE",
        "CONFIG_PATH",
        "SERVER_WORKLOAD",
        "POD_TEMPLATE_DIGEST",
        "EXPECTED_MODEL",
        "SERVED_MODEL_URL",
        "SERVED_MODEL_FIELD",
      ]);
      const env = Object.fromEntries(check.env.map((e: any) => [e.name, e.value]));
      // The server's own pod labels, and the scheduling margin of its await (startup.pullSeconds).
      const server = podSpecOf(run.one("kubernetes:apps/v1:Deployment", "m-server"));
      expect(env.SERVER_POD_SELECTOR).toBe("app.kubernetes.io/name=m,app.kubernetes.io/component=inference-server");
      expect(run.one("kubernetes:apps/v1:Deployment", "m-server").inputs.spec.template.metadata.labels).toMatchObject({
        "app.kubernetes.io/name": "m",
        "app.kubernetes.io/component": "inference-server",
      });
      expect(server.containers[0].name).toBe(engine);
      expect(env.UNSCHEDULABLE_SECONDS).toBe("300");
      // The server's own await: the check never outwaits what `pulumi up` waits for anyway.
      expect(env.READY_SECONDS).toBe(String(run.serving.models.m.startupBudgetSeconds + 300));
      expect(env.CONFIG_PATH).toBe("llm-serving:models[0]");
      expect(job.inputs.spec.ttlSecondsAfterFinished).toBeUndefined();
    },
  );

  it("reads the namespace's pods and the server's own workload with an account of its own, and nothing else", async () => {
    const run = await runProgram(rawFor("hostPath", "vllm", "minio"));
    const pod = podSpecOf(run.one(JOB, "m-smoke-check"));
    expect(pod.serviceAccountName).toBe("m-smoke-check");
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(run.one("kubernetes:rbac.authorization.k8s.io/v1:Role", "m-smoke-check-role").inputs.rules).toEqual([
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
      { apiGroups: ["apps"], resources: ["deployments"], resourceNames: ["m"], verbs: ["get"] },
    ]);
    const binding = run.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "m-smoke-check-role-binding").inputs;
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "m-smoke-check" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "m-smoke-check", namespace: "llm" }]);
    // The server's pods never get a token: only the check's do.
    expect(podSpecOf(run.one("kubernetes:apps/v1:Deployment", "m-server")).automountServiceAccountToken).toBe(false);
  });

  // A real node: Pulumi saw the previous pod as the rolled-out one and the check passed against it.
  it.each([
    ["vllm", "hostPath", `/models/Qwen/Qwen2.5-7B-Instruct/${REV}`, "http://m.llm.svc.cluster.local:8000/v1/models", "root"],
    ["sglang", "hostPath", `/models/Qwen/Qwen2.5-7B-Instruct/${REV}`, "http://m.llm.svc.cluster.local:30000/model_info", "model_path"],
    ["vllm", "s3Streaming", `s3://weights/models/Qwen/Qwen2.5-7B-Instruct/${REV}`, "http://m.llm.svc.cluster.local:8000/v1/models", "root"],
  ])("%s on %s: waits until the server reports this revision's model (%s)", async (engine, strategy, expected, url, field) => {
    const run = await runProgram(rawFor(strategy, engine, "minio"));
    const env = Object.fromEntries(podSpecOf(run.one(JOB, "m-smoke-check")).containers[0].env.map((e: any) => [e.name, e.value]));
    expect(await resolve(env.EXPECTED_MODEL)).toBe(expected);
    expect(await resolve(env.SERVED_MODEL_URL)).toBe(url);
    expect(env.SERVED_MODEL_FIELD).toBe(field);
  });

  it("sglang streaming from the bucket: not checked (ModelConfig reports a local config directory for s3://)", async () => {
    const run = await runProgram(rawFor("s3Streaming", "sglang", "minio", { image: SGLANG_RUNAI_IMAGE }));
    expect(podSpecOf(run.one(JOB, "m-smoke-check")).containers[0].env.map((e: any) => e.name)).not.toContain("EXPECTED_MODEL");
  });

  it("runs again after any change of the model's config (its template carries a digest of it)", async () => {
    const digest = async (model: Record<string, unknown>) =>
      (await runProgram(rawFor("longhorn", "vllm", "minio", model))).one(JOB, "m-smoke-check").inputs.spec.template.metadata.annotations[
        MODEL_CONFIG_ANNOTATION
      ];
    const base = await digest({});
    expect(await digest({})).toBe(base);
    expect(await digest({ revision: "a09a35458c702b33eeacc393d103063234e8bc28" })).not.toBe(base);
    expect(await digest({ image: "vllm/vllm-openai:v0.33.1" })).not.toBe(base);
  });

  // A real node: the check passed in 3 s against the previous template's Ready pod (same revision)
  // while the new pods' init step failed, and Pulumi's Deployment await had called the rollout done.
  it.each([
    ["hostPath", "Deployment", "deployments"],
    ["localPath", "StatefulSet", "statefulsets"],
  ])(
    "on %s: waits for its %s to roll out the pod template Pulumi applies (its digest on the workload)",
    async (strategy, kind, resource) => {
      const rendered = async (model: Record<string, unknown>) => {
        const run = await runProgram(rawFor(strategy, "vllm", "minio", model));
        const workload = run.one(`kubernetes:apps/v1:${kind}`, "m-server").inputs;
        const env = Object.fromEntries(podSpecOf(run.one(JOB, "m-smoke-check")).containers[0].env.map((e: any) => [e.name, e.value]));
        const rules = run.one("kubernetes:rbac.authorization.k8s.io/v1:Role", "m-smoke-check-role").inputs.rules;
        return { workload, env, rules };
      };
      const base = await rendered({});
      expect(base.env.SERVER_WORKLOAD).toBe(`${resource}/m`);
      const digest = await resolve(base.env.POD_TEMPLATE_DIGEST);
      expect(digest).toMatch(/^[0-9a-f]{8}$/);
      expect(await resolve(base.workload.metadata.annotations[POD_TEMPLATE_ANNOTATION])).toBe(digest);
      // On the workload, not in its pod template: adding it rolls no server.
      expect(base.workload.spec.template.metadata.annotations[POD_TEMPLATE_ANNOTATION]).toBeUndefined();
      expect(base.rules[1]).toEqual({ apiGroups: ["apps"], resources: [resource], resourceNames: ["m"], verbs: ["get"] });
      expect(await resolve((await rendered({})).env.POD_TEMPLATE_DIGEST)).toBe(digest);
      // Any change of the template changes it (and so replaces the check), the revision's or not.
      for (const change of [
        { image: "vllm/vllm-openai:v0.33.1" },
        { extraArgs: ["--enforce-eager"] },
        { startup: { budgetSeconds: 900 } },
      ]) {
        expect(await resolve((await rendered(change)).env.POD_TEMPLATE_DIGEST), JSON.stringify(change)).not.toBe(digest);
      }
    },
  );

  it("with kubernetes.skipAwait the workload carries no template digest (no check reads it; an upgrade writes nothing)", async () => {
    const raw = rawFor("hostPath", "vllm", "minio");
    (raw.kubernetes as Record<string, unknown>) = { ...(raw.kubernetes as Record<string, unknown>), skipAwait: true };
    const workload = (await runProgram(raw)).one("kubernetes:apps/v1:Deployment", "m-server").inputs;
    expect(Object.keys(workload.metadata.annotations)).toEqual(["pulumi.com/skipAwait"]);
  });

  it("is not created with kubernetes.skipAwait (nothing waits for Ready)", async () => {
    const raw = rawFor("hostPath", "vllm", "minio");
    (raw.kubernetes as Record<string, unknown>) = { ...(raw.kubernetes as Record<string, unknown>), skipAwait: true };
    expect((await runProgram(raw)).resources.filter((r) => r.name === "m-smoke-check")).toEqual([]);
  });
});

describe("preload Job failures", () => {
  it("end the Job after two retries (Pulumi's await ends on BackoffLimitExceeded), disruptions not counted; a waiting preload holds little CPU", async () => {
    const run = await runProgram(rawFor("hostPath", "vllm", "minio"));
    const job = run.one("kubernetes:batch/v1:Job", "m-preload");
    expect(job.inputs.spec.template.spec.restartPolicy).toBe("Never");
    expect(job.inputs.spec.backoffLimit).toBe(2);
    // A preload that waits for its mirror holds little CPU: with cpu "1" on a 2-core node, kubectl apply
    // of the rendered stack left the mirror Pending behind it (bench:node), a deadlock until the wait ran out.
    expect(cpuCores(job.inputs.spec.template.spec.containers[0].resources.requests.cpu)).toBeLessThanOrEqual(0.25);
    expect(job.inputs.spec.template.spec.containers[0].resources.limits.cpu).toBeUndefined();
    // No FailJob rule: its Failed reason (PodFailurePolicy) would keep Pulumi waiting for the whole budget.
    expect(job.inputs.spec.podFailurePolicy).toEqual({
      rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }],
    });
  });
});

describe("storage strategies", () => {
  it("hostPath: DirectoryOrCreate, a pinned verifying preload Job, read-only mounts", async () => {
    const run = await runProgram(rawFor("hostPath", "vllm", "minio"));
    const job = run.one("kubernetes:batch/v1:Job", "m-preload");
    const pod = podSpecOf(job);
    expect(pod.volumes[0].hostPath).toEqual({ path: "/var/lib/llm-models", type: "DirectoryOrCreate" });
    expect(pod.nodeSelector).toEqual({ "llm-serving.io/model-host": "true" });
    expectPreload(pod.initContainers, pod.containers);
    expect(job.inputs.spec.parallelism).toBe(1);
    const server = podSpecOf(run.one("kubernetes:apps/v1:Deployment", "m-server"));
    expect(server.nodeSelector).toEqual({ "llm-serving.io/model-host": "true" });
    // Bounded by the mirror's and the preload's budgets (16 GiB: 62 + 47 min), as Pulumi's awaits of their Jobs are.
    expect(server.initContainers[0].command).toEqual([
      "/bin/sh",
      "/scripts/wait-for-verified.sh",
      `/models/Qwen/Qwen2.5-7B-Instruct/${REV}`,
      String((62 + 47) * 60),
    ]);
    expect(pod.containers[0].env).toContainEqual({ name: "MANIFEST_WAIT_SECONDS", value: String(62 * 60) });
    expect(job.opts.customTimeouts).toEqual({ create: "47m" });
    expect(run.one("kubernetes:batch/v1:Job", "m-mirror").opts.customTimeouts).toEqual({ create: "62m" });
    expect(WAIT_FOR_VERIFIED.text).toContain(".verified");
    expect(run.one("kubernetes:apps/v1:Deployment", "m-server").inputs.spec.strategy).toEqual(ALL_AT_ONCE);
  });

  it("localPath: a StatefulSet with one RWO claim per pod, filled and verified by an init container", async () => {
    const run = await runProgram(rawFor("localPath", "vllm", "minio"));
    const sts = run.one("kubernetes:apps/v1:StatefulSet", "m-server");
    expect(sts.inputs.spec.volumeClaimTemplates[0].spec).toMatchObject({
      accessModes: ["ReadWriteOnce"],
      storageClassName: "local-path",
      resources: { requests: { storage: "21Gi" } },
    });
    expect(sts.inputs.spec.persistentVolumeClaimRetentionPolicy.whenDeleted).toBe("Retain");
    expectPreload(podSpecOf(sts).initContainers.slice(0, 1), podSpecOf(sts).initContainers.slice(1, 2));
  });

  it("longhorn: one retained RWX claim on a Retain StorageClass, filled once, spread replicas", async () => {
    const run = await runProgram(rawFor("longhorn", "vllm", "minio", { replicas: 3 }));
    const sc = run.one("kubernetes:storage.k8s.io/v1:StorageClass", "longhorn-models");
    expect(sc.inputs).toMatchObject({
      // Named per namespace: two stacks on one cluster never own the same StorageClass.
      metadata: { name: "longhorn-models-llm" },
      provisioner: "driver.longhorn.io",
      reclaimPolicy: "Retain",
      parameters: { numberOfReplicas: "2", dataLocality: "best-effort" },
    });
    const claim = run.one("kubernetes:core/v1:PersistentVolumeClaim", "m-weights");
    expect(claim.inputs.spec.accessModes).toEqual(["ReadWriteMany"]);
    expect(claim.opts.retainOnDelete).toBe(true);
    const deployment = run.one("kubernetes:apps/v1:Deployment", "m-server");
    expect(deployment.inputs.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
    expect(podSpecOf(deployment).topologySpreadConstraints[0].topologyKey).toBe("kubernetes.io/hostname");
    expect(run.one("kubernetes:policy/v1:PodDisruptionBudget", "m-pdb").inputs.spec.maxUnavailable).toBe(1);
    expect(run.byType("kubernetes:batch/v1:Job").filter((j) => j.name === "m-preload")).toHaveLength(1);
  });

  it("fluid: Dataset with encryptOptions only, AlluxioRuntime quota from size, DataLoad, cache-node affinity", async () => {
    const run = await runProgram(rawFor("fluid", "vllm", "r2"));
    const dataset = run.one("kubernetes:data.fluid.io/v1alpha1:Dataset", "m-dataset");
    const mount = dataset.inputs.spec.mounts[0];
    expect(mount.mountPoint).toBe(`s3://weights/models/Qwen/Qwen2.5-7B-Instruct/${REV}/`);
    expect(mount.options["alluxio.underfs.s3.endpoint"]).toBe(`https://${ACCOUNT}.r2.cloudflarestorage.com`);
    expect(Object.keys(mount.options).some((k) => /secret|accessKey/i.test(k))).toBe(false);
    expect(mount.encryptOptions.map((o: any) => o.valueFrom.secretKeyRef)).toEqual([
      { name: "r2-reader", key: "AWS_ACCESS_KEY_ID" },
      { name: "r2-reader", key: "AWS_SECRET_ACCESS_KEY" },
    ]);
    const runtime = run.one("kubernetes:data.fluid.io/v1alpha1:AlluxioRuntime", "m-runtime");
    expect(runtime.inputs.spec.tieredstore.levels[0]).toMatchObject({ mediumtype: "SSD", quota: "18Gi" });
    expect(run.one("kubernetes:data.fluid.io/v1alpha1:DataLoad", "m-dataload").inputs.spec.dataset).toEqual({
      name: "m-weights",
      namespace: "llm",
    });
    const server = podSpecOf(run.one("kubernetes:apps/v1:Deployment", "m-server"));
    expect(server.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]).toEqual({
      key: "fluid.io/s-llm-m-weights",
      operator: "In",
      values: ["true"],
    });
    expect(server.volumes.find((v: any) => v.name === "models").persistentVolumeClaim).toEqual({ claimName: "m-weights", readOnly: true });
    expect(podSpecOf(run.one("kubernetes:batch/v1:Job", "m-verify")).containers[0].command).toEqual([
      "/bin/sh",
      "/scripts/verify-read-only.sh",
      "/models",
    ]);
    expect(VERIFY_READ_ONLY.text).toContain("sha256sum -c manifest.sha256");
  });

  it("juicefs: Redis with AOF, noeviction, a PVC and a random password from a Secret; CSI StorageClass; RWX claims", async () => {
    const run = await runProgram(rawFor("juicefs", "sglang", "r2", { replicas: 2, sglang: { hicache: { storageBackend: "file" } } }));
    const redis = run.one("kubernetes:apps/v1:StatefulSet", "juicefs-redis");
    const container = podSpecOf(redis).containers[0];
    expect(container.args).toEqual(expect.arrayContaining(["--appendonly", "yes", "--maxmemory-policy", "noeviction"]));
    // The password from a config file on the Secret volume, the probe's from REDISCLI_AUTH: never in argv.
    expect(container.args[0]).toBe("/etc/redis-auth/auth.conf");
    expect(container.args).not.toContain("--requirepass");
    expect(podSpecOf(redis).volumes).toEqual([
      { name: "auth", secret: { secretName: "juicefs-redis", items: [{ key: "auth.conf", path: "auth.conf" }], defaultMode: 0o440 } },
    ]);
    const secret = run.one("kubernetes:core/v1:Secret", "juicefs-redis");
    expect(await isSecret(secret.props.stringData)).toBe(true);
    expect(await resolve(secret.props.stringData["auth.conf"])).toBe("requirepass generated-redis-password\n");
    expect(container.readinessProbe.exec.command).toEqual(["redis-cli", "-e", "ping"]);
    expect(container.env).toEqual([
      { name: "REDISCLI_AUTH", valueFrom: { secretKeyRef: { name: "juicefs-redis", key: "REDIS_PASSWORD" } } },
    ]);
    expect(redis.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("10Gi");
    expect(redis.inputs.spec.persistentVolumeClaimRetentionPolicy.whenDeleted).toBe("Retain");
    const sc = run.one("kubernetes:storage.k8s.io/v1:StorageClass", "juicefs-models");
    expect(sc.inputs.metadata.name).toBe("juicefs-llm");
    expect(sc.inputs.provisioner).toBe("csi.juicefs.com");
    expect(sc.inputs.mountOptions).toEqual(["cache-dir=/var/jfsCache", "cache-size=204800", "backup-meta=0"]);
    expect(sc.inputs.parameters["csi.storage.k8s.io/node-publish-secret-name"]).toBe("juicefs-llm-models");
    expect(run.one("kubernetes:core/v1:PersistentVolumeClaim", "m-weights").inputs.spec.accessModes).toEqual(["ReadWriteMany"]);
    expect(run.one("kubernetes:core/v1:PersistentVolumeClaim", "m-kv-cache").inputs.spec.accessModes).toEqual(["ReadWriteMany"]);
    const warmup = podSpecOf(run.one("kubernetes:batch/v1:Job", "m-warmup"));
    expectPreload(warmup.initContainers, warmup.containers);
  });

  it("s3Streaming: the streamer's readers follow the server's CPU request unless set (bench:load)", async () => {
    const reads = async (model: Record<string, unknown>, s3Streaming: Record<string, unknown> = {}) => {
      const raw = rawFor("s3Streaming", "vllm", "r2", model);
      raw.storage = { strategy: "s3Streaming", s3Streaming };
      const container = podSpecOf((await runProgram(raw)).one("kubernetes:apps/v1:Deployment", "m-server")).containers[0];
      const extra = JSON.parse(container.args[container.args.indexOf("--model-loader-extra-config") + 1]);
      const chunk = container.env.find((e: any) => e.name === "RUNAI_STREAMER_CHUNK_BYTESIZE").value;
      return [extra.concurrency, Number(chunk) / 2 ** 20];
    };
    expect(await reads({})).toEqual([4, 32]); // 1 GPU: 2 CPUs
    expect(await reads({ cpu: "500m" })).toEqual([4, 32]); // never fewer than 4 readers
    expect(await reads({ cpu: "12" })).toEqual([24, 8]); // chunks never below the streamer's 8 MiB
    expect(await reads({ cpu: "64" })).toEqual([64, 8]);
    expect(await reads({ cpu: "4" }, { concurrency: 16, chunkSizeMiB: 64 })).toEqual([16, 64]);
    expect(await reads({ cpu: "4" }, { concurrency: 2 })).toEqual([2, 64]);
  });

  it("juicefs on MinIO keeps metadata backups on (only R2 needs backup-meta=0)", async () => {
    const run = await runProgram(rawFor("juicefs", "vllm", "minio"));
    expect(run.one("kubernetes:storage.k8s.io/v1:StorageClass", "juicefs-models").inputs.mountOptions).not.toContain("backup-meta=0");
  });

  it("s3Streaming: no weight volume; every object checked against the manifest before the engine streams", async () => {
    const run = await runProgram(rawFor("s3Streaming", "vllm", "r2", { gpus: 2 }));
    const spec = podSpecOf(run.one("kubernetes:apps/v1:Deployment", "m-server"));
    expect(spec.volumes.map((v: any) => v.name).sort()).toEqual(["cache", "dshm", "scripts", "tmp"]);
    // One init step, standard-library Python: signed HEADs compare sizes and stored SHA-256s.
    expect(spec.initContainers.map((c: any) => [c.name, c.image])).toEqual([["verify-objects", MIRROR_PYTHON_IMAGE]]);
    const verify = spec.initContainers[0];
    expect(verify.command).toEqual(["python3", `/scripts/${VERIFY_STREAMED.file}`]);
    expect(verify.env).toContainEqual({ name: "S3_PATH_STYLE", value: "1" }); // R2
    expect(
      verify.env.filter((e: any) => e.name.startsWith("AWS_")).every((e: any) => e.valueFrom?.secretKeyRef?.name === "r2-reader"),
    ).toBe(true);
    // 2 GPUs → 4 CPUs requested → 8 readers of 16 MiB requests (128 MiB in flight).
    expect(spec.containers[0].args).toContain('{"concurrency":8,"distributed":true}');
    expect(spec.containers[0].env).toContainEqual({ name: "RUNAI_STREAMER_CHUNK_BYTESIZE", value: String(16 << 20) });
    expect(spec.volumes.find((v: any) => v.name === "dshm").emptyDir).toEqual({ medium: "Memory", sizeLimit: "16Gi" });
    // The streamer's 1000 ms request timeout is raised; connections stay the SDK's unless set.
    expect(spec.containers[0].env).toContainEqual({ name: "RUNAI_STREAMER_S3_REQUEST_TIMEOUT_MS", value: "30000" });
    expect(spec.containers[0].env.find((e: any) => e.name === "RUNAI_STREAMER_S3_MAX_CONNECTIONS")).toBeUndefined();
    const raw = rawFor("s3Streaming", "vllm", "r2");
    raw.storage = { strategy: "s3Streaming", s3Streaming: { requestTimeoutMs: 60000, maxConnections: 32 } };
    const tuned = podSpecOf((await runProgram(raw)).one("kubernetes:apps/v1:Deployment", "m-server"));
    expect(tuned.containers[0].env).toEqual(
      expect.arrayContaining([
        { name: "RUNAI_STREAMER_S3_REQUEST_TIMEOUT_MS", value: "60000" },
        { name: "RUNAI_STREAMER_S3_MAX_CONNECTIONS", value: "32" },
      ]),
    );
  });
});

describe("engines", () => {
  const model = parseStackConfig(
    baseConfig({
      models: [
        {
          name: "m",
          huggingFace: "a/b",
          engine: "sglang",
          sizeGiB: 8,
          gpus: 2,
          maxModelLen: 4096,
          gpuMemoryUtilization: 0.85,
          extraArgs: ["--enable-metrics"],
          sglang: {
            hicache: { ratio: 2, memLayout: "page_first", storageBackend: "file", prefetchPolicy: "timeout", extraConfig: { a: 1 } },
          },
        },
      ],
    }),
  ).models[0];

  it.each([
    [
      "vllm from a path",
      vllmArgs({ model: { ...model, sglang: undefined }, source: { kind: "path", path: "/models/a/b/main" } }),
      [
        "/models/a/b/main",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--served-model-name",
        "m",
        "--tensor-parallel-size",
        "2",
        "--max-model-len",
        "4096",
        "--gpu-memory-utilization",
        "0.85",
        "--enable-metrics",
      ],
    ],
    [
      "vllm from the Hub",
      vllmArgs({
        model: { ...model, maxModelLen: undefined, gpuMemoryUtilization: undefined, extraArgs: [] },
        source: { kind: "huggingFace", repo: "a/b", revision: "main" },
      }),
      [
        "a/b",
        "--revision",
        "main",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--served-model-name",
        "m",
        "--tensor-parallel-size",
        "2",
        "--download-dir",
        "/cache/huggingface/hub",
      ],
    ],
    [
      "sglang from a path with HiCache",
      sglangArgs({ model, source: { kind: "path", path: "/models/a/b/main" } }),
      [
        "-m",
        "sglang.launch_server",
        "--model-path",
        "/models/a/b/main",
        "--host",
        "0.0.0.0",
        "--port",
        "30000",
        "--served-model-name",
        "m",
        "--tp-size",
        "2",
        "--context-length",
        "4096",
        "--mem-fraction-static",
        "0.85",
        "--enable-hierarchical-cache",
        "--hicache-write-policy",
        "write_through",
        "--hicache-ratio",
        "2",
        "--hicache-mem-layout",
        "page_first",
        "--hicache-storage-backend",
        "file",
        "--hicache-storage-prefetch-policy",
        "timeout",
        "--hicache-storage-backend-extra-config",
        '{"a":1}',
        "--enable-metrics",
      ],
    ],
  ])("%s", (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

describe("startup budget", () => {
  const model = parseStackConfig(baseConfig({ models: [{ name: "m", huggingFace: "a/b", engine: "vllm", sizeGiB: 140 }] })).models[0];

  it("follows the documented formula and never goes below the minimum", () => {
    const e = estimateStartup(model, { fillMiBps: 200, serveMiBps: 300, warmMiBps: 1000 }, 120, "job");
    expect(e.loadSeconds).toBe(478);
    expect(e.budgetSeconds).toBe(1200);
    expect(e.coldStartSeconds).toBe(717 + 478 + 120);
    expect(e.warmStartSeconds).toBe(144 + 120);
    const small = estimateStartup({ ...model, sizeGiB: 1 }, { fillMiBps: 200, serveMiBps: 1500, warmMiBps: 1500 }, 120, "job");
    expect(small.budgetSeconds).toBe(300);
  });

  it("honours overrides and adds in-pod fills to the await timeout", () => {
    const e = estimateStartup(
      { ...model, startup: { budgetSeconds: 905 } },
      { fillMiBps: 200, serveMiBps: 300, warmMiBps: 1000 },
      120,
      "initContainer",
    );
    expect(e.budgetSeconds).toBe(910);
    expect(e.awaitSeconds).toBe(717 + 910 + 300);
    // Images pre-pulled or served locally: a shorter margin, so a server that cannot start fails sooner.
    const local = estimateStartup(
      { ...model, startup: { budgetSeconds: 905, pullSeconds: 30 } },
      { fillMiBps: 200, serveMiBps: 300, warmMiBps: 1000 },
      120,
      "job",
    );
    expect(local.awaitSeconds).toBe(910 + 30);
  });

  it("rolls without a spare GPU, never as Recreate (Pulumi's await took its scale-down for a finished rollout on a real node)", () => {
    expect(deploymentStrategy({ ...model, replicas: 1 }, true)).toEqual(ALL_AT_ONCE);
    // surge: the old pods serve until a new one is Ready (a spare GPU is the user's promise).
    const surge = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    expect(deploymentStrategy({ ...model, replicas: 1, rollout: "surge" }, true)).toEqual(surge);
    expect(deploymentStrategy({ ...model, replicas: 1, rollout: "surge" }, false)).toEqual(surge);
    expect(deploymentStrategy({ ...model, replicas: 2 }, false)).toEqual(ALL_AT_ONCE);
    expect(deploymentStrategy({ ...model, replicas: 2 }, true)).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: 0, maxUnavailable: 1 },
    });
  });
});

describe("startup budget when the engine downloads from the Hub itself (mirror: false)", () => {
  it.each([30, 140])("covers the download, load and warm-up at %i GiB, in the probe and the policy's annotation", async (sizeGiB) => {
    const run = await runProgram(rawFor("hostPath", "vllm", "minio", { mirror: false, sizeGiB }));
    const server = run.resources.find((r) => r.name === "m-server")!;
    const probe = podSpecOf(server).containers[0].startupProbe;
    const cold = run.serving.models.m.coldStartSeconds;
    // The Hub download happens inside the engine container, while the startup probe counts.
    expect(probe.periodSeconds * probe.failureThreshold).toBeGreaterThanOrEqual(cold);
    expect(run.serving.models.m.startupBudgetSeconds).toBe(probe.periodSeconds * probe.failureThreshold);
    expect(Number(server.inputs.spec.template.metadata.annotations["llm-serving.io/load-estimate-seconds"])).toBe(cold);
  });

  it("requests the download's ephemeral storage, so the scheduler places it and the kubelet does not evict it", async () => {
    const run = await runProgram(rawFor("hostPath", "vllm", "minio", { mirror: false, sizeGiB: 140 }));
    const spec = podSpecOf(run.resources.find((r) => r.name === "m-server")!);
    const cache = spec.volumes.find((v: any) => v.name === "cache").emptyDir.sizeLimit;
    expect(cache).toBe(`${Math.ceil(140 * 1.2) + 10}Gi`);
    expect(spec.containers[0].resources.requests["ephemeral-storage"]).toBe(cache);
    // A mirrored model reads from its cache volume: no download, no request.
    const mirrored = podSpecOf((await runProgram(rawFor("hostPath", "vllm", "minio", { sizeGiB: 140 }))).one(DEPLOYMENT, "m-server"));
    expect(mirrored.containers[0].resources.requests["ephemeral-storage"]).toBeUndefined();
  });

  it("the smoke check waits for the Service as long as the mirror, the preload and the server may take (no ordering without Pulumi)", async () => {
    const run = await runProgram(rawFor("hostPath", "vllm", "minio", { sizeGiB: 16 }));
    const server = run.resources.find((r) => r.name === "m-server")!;
    const job = run.one("kubernetes:batch/v1:Job", "m-smoke-check");
    const wait = Number(job.inputs.spec.template.spec.containers[0].env.find((e: any) => e.name === "CONNECT_WAIT_SECONDS").value);
    // mirror 62 min + preload 47 min, then the server's await budget (its Pulumi timeout).
    const awaitMinutes = Number(/^(\d+)m$/.exec(server.opts.customTimeouts!.create!)![1]);
    expect(wait).toBeGreaterThan((62 + 47) * 60);
    expect(wait).toBeLessThanOrEqual((62 + 47 + awaitMinutes) * 60);
    expect(job.inputs.spec.activeDeadlineSeconds).toBe(wait + 900);
  });

  it("refuses a download no node's root disk holds, pointing to mirror: true", async () => {
    const { error, registered } = await expectConfigError(rawFor("hostPath", "vllm", "minio", { mirror: false, sizeGiB: 400 }));
    expect(error.message).toContain("llm-serving:models[0].mirror: is false, so every server pod downloads the model");
    expect(error.message).toContain("requests 490Gi");
    expect(error.message).toContain("set mirror: true");
    expect(registered).toBe(0);
  });

  it("still counts only load + warm-up where a Job or an init container fills the cache first", async () => {
    const run = await runProgram(rawFor("localPath", "vllm", "minio", { sizeGiB: 30 }));
    const server = run.resources.find((r) => r.name === "m-server")!;
    const m = run.serving.models.m;
    const annotations = server.inputs.spec.template.metadata.annotations;
    expect(Number(annotations["llm-serving.io/load-estimate-seconds"])).toBeLessThan(m.coldStartSeconds);
  });
});

describe("pod memory", () => {
  const memoryOf = async (model: Record<string, unknown>, strategy = "hostPath") => {
    const run = await runProgram(rawFor(strategy, String(model.engine ?? "vllm"), "minio", model));
    const resources = podSpecOf(run.resources.find((r) => r.name === "m-server")!).containers[0].resources;
    expect(resources.limits.memory).toBe(resources.requests.memory);
    return resources.requests.memory as string;
  };

  it("honours models[].memory", async () => {
    expect(await memoryOf({ memory: "300Gi" })).toBe("300Gi");
  });

  it("adds SGLang HiCache's host pool (ratio x the KV pool of each GPU, per tensor-parallel rank)", async () => {
    // 80 GiB GPUs, SGLang's static fraction 0.88, 8 GiB of weights per GPU: a 62.4 GiB KV pool each.
    const hicache = { engine: "sglang", gpus: 2, sizeGiB: 16, sglang: { hicache: { ratio: 2 } } };
    expect(await memoryOf(hicache)).toBe(`${20 + 8 + 16 + 250}Gi`);
    // --hicache-size is GB per rank.
    expect(await memoryOf({ ...hicache, sglang: { hicache: { sizeGiB: 100 } } })).toBe(`${20 + 8 + 16 + 187}Gi`);
    expect(await memoryOf({ engine: "sglang", gpus: 2, sizeGiB: 16 })).toBe(`${20 + 8 + 16}Gi`);
  });

  it("sizes the prod stack's SGLang model for its HiCache", async () => {
    const run = await runProgram(repoStackConfig("prod"), ["hfToken", "apiKey"]);
    const server = run.resources.find((r) => r.name === "qwen2-5-7b-instruct-server")!;
    const memory = podSpecOf(server).containers[0].resources.requests.memory as string;
    expect(Number(memory.replace("Gi", ""))).toBeGreaterThanOrEqual(250);
  });
});

describe("Jobs the program manages", () => {
  it.each(STORAGE_STRATEGIES)("%s: are kept once complete (no TTL), so a refresh finds what the state has", async (strategy) => {
    const run = await runProgram(rawFor(strategy, "vllm", "minio"));
    const jobs = run.byType("kubernetes:batch/v1:Job");
    expect(jobs.length).toBeGreaterThanOrEqual(2);
    for (const job of jobs) expect(job.inputs.spec.ttlSecondsAfterFinished, job.name).toBeUndefined();
  });
});

describe("preload capacity check", () => {
  it.each([
    ["hostPath", "m-preload", "the free disk of the node under llm-serving:storage.hostPath.root"],
    ["longhorn", "m-preload", "llm-serving:models[0].sizeGiB (the claim is sized from it)"],
    ["juicefs", "m-warmup", "the JuiceFS volume's quota (juicefs quota) or the object store's capacity"],
  ])("%s names what to raise when the volume is too small", async (strategy, job, key) => {
    const run = await runProgram(rawFor(strategy, "vllm", "minio"));
    const preload = run.one("kubernetes:batch/v1:Job", job).inputs.spec.template.spec.containers[0];
    expect(preload.env.find((e: any) => e.name === "CAPACITY_SETTING")).toEqual({ name: "CAPACITY_SETTING", value: key });
  });

  it("localPath: in the init container that fills the claim", async () => {
    const run = await runProgram(rawFor("localPath", "vllm", "minio"));
    const init = podSpecOf(run.one("kubernetes:apps/v1:StatefulSet", "m-server")).initContainers.find((c: any) => c.name === "preload");
    expect(init.env.find((e: any) => e.name === "CAPACITY_SETTING").value).toContain("llm-serving:models[0].sizeGiB");
  });
});

describe("fluid names and placement", () => {
  const NS = "team-inference-production1"; // 26 characters
  const LONG = "qwen2-5-coder-32b-instruct-awq-4bit-long"; // 40 characters, the longest name allowed
  const fluidRun = (model: Record<string, unknown>, kubernetes: Record<string, unknown> = {}) =>
    runProgram(
      baseConfig({
        kubernetes: { ...kubernetesFor("fluid", NS), ...kubernetes },
        storage: { strategy: "fluid" },
        models: [{ ...(rawFor("fluid", "vllm", "minio").models as Record<string, unknown>[])[0], ...model }],
      }),
    );

  it.each([
    ["a short model name", "m"],
    ["the longest model name, in a 26-character namespace", LONG],
  ])("with %s, pods require the label Fluid (<= 63 characters, s-<namespace>-<dataset>) sets for the Dataset", async (_what, name) => {
    const run = await fluidRun({ name });
    const dataset = run.byType("kubernetes:data.fluid.io/v1alpha1:Dataset")[0].inputs.metadata.name as string;
    const label = `fluid.io/s-${NS}-${dataset}`;
    expect(label.split("/")[1].length).toBeLessThanOrEqual(63);
    const server = run.byType("kubernetes:apps/v1:Deployment")[0];
    const terms = podSpecOf(server).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    expect(terms[0].matchExpressions[0].key).toBe(label);
    // The Runtime and the claim carry the Dataset's name.
    expect(run.byType("kubernetes:data.fluid.io/v1alpha1:AlluxioRuntime")[0].inputs.metadata.name).toBe(dataset);
    expect(podSpecOf(server).volumes.find((v: any) => v.persistentVolumeClaim)?.persistentVolumeClaim.claimName).toBe(dataset);
  });

  it("refuses a namespace too long for any Dataset label, naming the key", async () => {
    const { error } = await expectConfigError(baseConfig({ kubernetes: { namespace: "n".repeat(55) }, storage: { strategy: "fluid" } }));
    expect(error.message).toContain("llm-serving:kubernetes.namespace: found 55 characters; the fluid strategy needs at most 52");
  });

  it("re-runs the DataLoad and the verify Job for a new revision (both named by revision)", async () => {
    const names = async (revision: string) => {
      const run = await fluidRun({ revision });
      return [run.byType("kubernetes:data.fluid.io/v1alpha1:DataLoad")[0], run.one("kubernetes:batch/v1:Job", "m-verify")].map(
        (r) => r.inputs.metadata.name as string,
      );
    };
    const before = await names(REV);
    const after = await names("a09a35458c702b33eeacc393d103063234e8bc28");
    expect(before[0]).toContain("7ae55760");
    expect(after[0]).toContain("a09a3545");
    expect(after[1]).not.toBe(before[1]);
    for (const name of [...before, ...after]) expect(name.length).toBeLessThanOrEqual(46);
  });

  it("refuses a model without a node selector (stack-wide or its own): the cache workers would land anywhere", async () => {
    const raw = baseConfig({ storage: { strategy: "fluid" } });
    raw.kubernetes = { namespace: "llm" };
    (raw.models as Record<string, unknown>[]).push({
      ...(raw.models as Record<string, unknown>[])[0],
      name: "placed",
      nodeSelector: GPU_NODES,
    });
    const { error, registered } = await expectConfigError(raw);
    expect(error.message).toContain('llm-serving:kubernetes.nodeSelector: is required with storage.strategy "fluid"');
    expect(error.message).toContain("missing for models[0] (small)");
    expect(error.message).not.toContain("models[1]");
    expect(registered).toBe(0);
    // Each model's own selector is enough, and its Runtime follows it.
    (raw.models as Record<string, unknown>[])[0].nodeSelector = { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" };
    const run = await runProgram(raw);
    const runtimes = run.byType("kubernetes:data.fluid.io/v1alpha1:AlluxioRuntime").map((r) => r.inputs.spec.worker.nodeSelector);
    expect(runtimes).toEqual([{ "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" }, GPU_NODES]);
  });

  it("puts the cache workers and the FUSE where the stack's pods may run", async () => {
    const tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];
    const run = await fluidRun({}, { nodeSelector: { "nvidia.com/gpu.present": "true" }, tolerations });
    const runtime = run.byType("kubernetes:data.fluid.io/v1alpha1:AlluxioRuntime")[0].inputs.spec;
    expect(runtime.worker.nodeSelector).toEqual({ "nvidia.com/gpu.present": "true" });
    expect(runtime.fuse.nodeSelector).toEqual({ "nvidia.com/gpu.present": "true" });
    expect(run.byType("kubernetes:data.fluid.io/v1alpha1:Dataset")[0].inputs.spec.tolerations).toEqual(tolerations);
  });
});

describe("kubernetes.cudaVersion: the default images' driver floor", () => {
  const withCuda = (engine: string, cudaVersion?: number, model: Record<string, unknown> = {}) => {
    const raw = rawFor("hostPath", engine, "minio", model);
    if (cudaVersion !== undefined) raw.kubernetes = { ...(raw.kubernetes as object), cudaVersion };
    return raw;
  };
  const imageOf = (run: Awaited<ReturnType<typeof runProgram>>) => podSpecOf(run.one(DEPLOYMENT, "m-server")).containers[0].image;

  it("defaults to the CUDA 13 images and says so in the stack outputs (R580+)", async () => {
    const run = await runProgram(withCuda("vllm"));
    expect(imageOf(run)).toBe("vllm/vllm-openai:v0.33.0");
    expect(run.serving.models.m.cudaDriver).toBe("CUDA 13 build: NVIDIA driver R580 or newer");
  });

  it("12 picks vLLM's CUDA 12.9 build of the same release, in the server and the compile-cache key", async () => {
    const run = await runProgram(withCuda("vllm", 12));
    expect(imageOf(run)).toBe("vllm/vllm-openai:v0.33.0-cu129");
    expect(run.serving.models.m.image).toBe("vllm/vllm-openai:v0.33.0-cu129");
    expect(run.serving.models.m.cudaDriver).toContain("CUDA 12.9 build");
  });

  it("12 is refused for SGLang's default image, which has no CUDA 12 build, naming the key", async () => {
    const { error, registered } = await expectConfigError(withCuda("sglang", 12));
    expect(error.message).toContain("llm-serving:models[0].image: is required for engine sglang with kubernetes.cudaVersion 12");
    expect(registered).toBe(0);
    // The user's own CUDA 12 image is taken as given.
    const own = await runProgram(withCuda("sglang", 12, { image: "registry.example.com/sglang:v0.5.23-cu129" }));
    expect(imageOf(own)).toBe("registry.example.com/sglang:v0.5.23-cu129");
  });

  it("anything but 12 or 13 is a config error naming the key and both values", async () => {
    const { error } = await expectConfigError(withCuda("vllm", 11));
    expect(error.message).toContain("llm-serving:kubernetes.cudaVersion: found 11; expected one of 12, 13");
  });
});
