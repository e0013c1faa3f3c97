/** Every policy with at least one violating and one passing resource, built as the policy SDK would. */
import { describe, expect, it } from "vitest";
import { modelsPinnedToCommit } from "../policies/modelPolicies";
import { bucketsProtected, r2TokensScoped, s3BlockPublicAccess } from "../policies/objectStorePolicies";
import { llmServingPolicies } from "../policies/policies";
import { gpuCount, imageReference, podTemplatesOf, startupProbeSeconds } from "../policies/podSpec";
import { hostPathOnlyInDev, isUnder, juicefsRedisDurable, sharedClaimsAreMany } from "../policies/storagePolicies";
import {
  containerResources,
  gpuLimitsEqualRequests,
  imagesPinned,
  inferenceProbes,
  noLiteralCredentials,
  restrictedContainers,
  servicesInternal,
  tensorParallelShm,
  inferenceRequiresApiKey,
} from "../policies/workloadPolicies";
import { enforcementLevel, policyConfig, TestResource, validateResource, validateStack } from "./policyHarness";

const secure = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };
const container = (over: Record<string, unknown> = {}) => ({
  name: "app",
  image: "vllm/vllm-openai:v0.33.0",
  securityContext: secure,
  resources: { requests: { cpu: "2", memory: "8Gi" }, limits: { memory: "8Gi" } },
  ...over,
});
function deployment(
  spec: Record<string, unknown>,
  over: { replicas?: number; annotations?: Record<string, string>; labels?: Record<string, string> } = {},
): TestResource {
  return {
    type: "kubernetes:apps/v1:Deployment",
    name: "server",
    props: {
      metadata: { name: "server", namespace: "llm" },
      spec: {
        replicas: over.replicas ?? 1,
        template: {
          metadata: { labels: over.labels ?? {}, annotations: over.annotations ?? {} },
          spec: { containers: [container()], ...spec },
        },
      },
    },
  };
}
const job = (spec: Record<string, unknown>): TestResource => ({
  type: "kubernetes:batch/v1:Job",
  name: "job",
  props: { metadata: { name: "job", namespace: "llm" }, spec: { template: { spec } } },
});

describe("pod template helpers", () => {
  it("finds the pod template of every workload kind and nothing else", () => {
    const spec = { containers: [container()] };
    expect(podTemplatesOf("kubernetes:core/v1:Pod", { spec }).map((p) => p.kind)).toEqual(["Pod"]);
    expect(podTemplatesOf("kubernetes:apps/v1:DaemonSet", { spec: { template: { spec } } })[0].replicas).toBe(Number.POSITIVE_INFINITY);
    expect(
      podTemplatesOf("kubernetes:batch/v1:CronJob", { spec: { jobTemplate: { spec: { parallelism: 2, template: { spec } } } } })[0]
        .replicas,
    ).toBe(2);
    expect(podTemplatesOf("kubernetes:core/v1:ConfigMap", { data: {} })).toEqual([]);
    // A Dynamo graph: one per component, with its replicas.
    const graph = {
      metadata: { namespace: "llm" },
      spec: {
        components: [
          { name: "frontend", type: "frontend", replicas: 2, podTemplate: { spec } },
          { name: "worker", type: "worker", podTemplate: { metadata: { labels: { a: "b" } }, spec } },
        ],
      },
    };
    expect(
      podTemplatesOf("kubernetes:nvidia.com/v1beta1:DynamoGraphDeployment", graph).map((p) => [p.kind, p.replicas, p.metadata]),
    ).toEqual([
      ["DynamoGraphDeployment component frontend", 2, {}],
      ["DynamoGraphDeployment component worker", 1, { labels: { a: "b" } }],
    ]);
    // A LeaderWorkerSet: its leaders, and its workers (size - 1 per group).
    const lws = { spec: { replicas: 2, leaderWorkerTemplate: { size: 4, leaderTemplate: { spec }, workerTemplate: { spec } } } };
    expect(podTemplatesOf("kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet", lws).map((p) => [p.kind, p.replicas])).toEqual([
      ["LeaderWorkerSet leader", 2],
      ["LeaderWorkerSet worker", 6],
    ]);
  });
  it("reads tags, digests, GPU counts and probe budgets", () => {
    expect(imageReference("localhost:5000/vllm")).toEqual({ tag: undefined, digest: undefined });
    expect(imageReference("ghcr.io/x/y:1.2@sha256:abc")).toEqual({ tag: "1.2", digest: "sha256:abc" });
    expect(gpuCount({ name: "c", resources: { limits: { "nvidia.com/gpu": "2" } } })).toBe(2);
    expect(gpuCount({ name: "c", resources: { requests: { "amd.com/gpu": 1, cpu: "4" } } })).toBe(1);
    expect(startupProbeSeconds({ periodSeconds: 10, failureThreshold: 60, initialDelaySeconds: 5 })).toBe(605);
  });
  it("keeps paths under a root without .. escapes", () => {
    expect(isUnder("/var/lib/llm-models/qwen", "/var/lib/llm-models/")).toBe(true);
    expect(isUnder("/var/lib/llm-models-evil", "/var/lib/llm-models")).toBe(false);
    expect(isUnder("/var/lib/llm-models/../../etc", "/var/lib/llm-models")).toBe(false);
  });
});

describe("1. gpu-limits-equal-requests", () => {
  const gpus = (resources: Record<string, unknown>) => deployment({ containers: [container({ resources })] });
  it("passes when limits carry the GPUs (requests equal or absent)", async () => {
    expect(
      await validateResource(gpuLimitsEqualRequests, gpus({ requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": 1 } })),
    ).toEqual([]);
    expect(await validateResource(gpuLimitsEqualRequests, gpus({ limits: { "nvidia.com/gpu": "2" } }))).toEqual([]);
  });
  it("flags a GPU request without a limit, or different values", async () => {
    const [missing] = await validateResource(gpuLimitsEqualRequests, gpus({ requests: { "nvidia.com/gpu": "1" } }));
    expect(missing).toContain('set resources.limits["nvidia.com/gpu"]');
    const [unequal] = await validateResource(
      gpuLimitsEqualRequests,
      gpus({ requests: { "amd.com/gpu": "2" }, limits: { "amd.com/gpu": "1" } }),
    );
    expect(unequal).toContain("make them equal");
  });
  it("treats configured resources (MIG profiles) as GPUs", async () => {
    const mig = gpus({ requests: { "nvidia.com/mig-1g.10gb": "1" } });
    expect(await validateResource(gpuLimitsEqualRequests, mig)).toEqual([]);
    expect(await validateResource(gpuLimitsEqualRequests, mig, { gpuResources: ["nvidia.com/mig-1g.10gb"] })).toHaveLength(1);
  });
});

describe("2. images-pinned", () => {
  it("passes a version tag or a digest", async () => {
    expect(await validateResource(imagesPinned, deployment({ containers: [container({ image: "lmsysorg/sglang:v0.5.23" })] }))).toEqual([]);
    expect(await validateResource(imagesPinned, job({ containers: [container({ image: "redis@sha256:0123" })] }))).toEqual([]);
  });
  it("flags latest and untagged images, init containers included", async () => {
    const r = deployment({
      initContainers: [container({ name: "init", image: "busybox" })],
      containers: [container({ image: "vllm/vllm-openai:latest" })],
    });
    const messages = await validateResource(imagesPinned, r);
    expect(messages).toHaveLength(2);
    expect(messages[0]).toContain('"init" uses image "busybox" (no tag');
    expect(messages[1]).toContain("pin a version tag or a @sha256 digest");
  });
});

describe("3. no-literal-credentials", () => {
  it("passes secretKeyRef and non-credential literals", async () => {
    const env = [
      { name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: "hf-token", key: "HF_TOKEN" } } },
      { name: "HF_HUB_OFFLINE", value: "1" },
    ];
    expect(await validateResource(noLiteralCredentials, deployment({ containers: [container({ env })] }))).toEqual([]);
  });
  it("flags a literal credential value, unless the name is allowed", async () => {
    const r = job({ containers: [container({ env: [{ name: "AWS_SECRET_ACCESS_KEY", value: "abc" }] })] });
    const [message] = await validateResource(noLiteralCredentials, r);
    expect(message).toContain("AWS_SECRET_ACCESS_KEY to a literal value");
    expect(message).toContain("secretKeyRef");
    expect(await validateResource(noLiteralCredentials, r, { allowedNames: ["AWS_SECRET_ACCESS_KEY"] })).toEqual([]);
  });
});

describe("4. hostpath-only-in-dev", () => {
  const withHostPath = (path: string) => job({ containers: [container()], volumes: [{ name: "models", hostPath: { path } }] });
  it("passes under the model root in dev and local", async () => {
    for (const environment of ["dev", "local"]) {
      expect(
        await validateResource(
          hostPathOnlyInDev,
          withHostPath("/var/lib/llm-models"),
          policyConfig(hostPathOnlyInDev, {}, { environment }),
        ),
      ).toEqual([]);
    }
  });
  it("flags any hostPath in prod (the default) and paths outside the root in dev", async () => {
    const [prod] = await validateResource(hostPathOnlyInDev, withHostPath("/var/lib/llm-models"));
    expect(prod).toContain("in the prod environment; hostPath is allowed only in local/dev");
    const [outside] = await validateResource(
      hostPathOnlyInDev,
      withHostPath("/etc"),
      policyConfig(hostPathOnlyInDev, {}, { environment: "dev" }),
    );
    expect(outside).toContain("outside the model root /var/lib/llm-models");
  });
  it("allows node-local compile caches (nodeCacheRoots) in every environment, and nothing escaping them", async () => {
    expect(await validateResource(hostPathOnlyInDev, withHostPath("/var/cache/llm-serving/compile"))).toEqual([]);
    const [escape] = await validateResource(hostPathOnlyInDev, withHostPath("/var/cache/llm-serving/compile/../../../etc"));
    expect(escape).toContain("in the prod environment");
    const [other] = await validateResource(hostPathOnlyInDev, withHostPath("/var/cache/other"));
    expect(other).toContain("in the prod environment");
  });
});

describe("5. shared-claims-are-many", () => {
  const claim = (accessModes: string[]): TestResource => ({
    type: "kubernetes:core/v1:PersistentVolumeClaim",
    name: "weights",
    props: { metadata: { name: "weights", namespace: "llm" }, spec: { accessModes } },
  });
  const server = (replicas: number, readOnly = false) =>
    deployment(
      {
        containers: [container({ volumeMounts: [{ name: "models", mountPath: "/models", readOnly }] })],
        volumes: [{ name: "models", persistentVolumeClaim: { claimName: "weights" } }],
      },
      { replicas },
    );
  it("passes RWX for many replicas, ROX mounted read-only, and RWO for one", async () => {
    expect(await validateStack(sharedClaimsAreMany, [claim(["ReadWriteMany"]), server(3)])).toEqual([]);
    expect(await validateStack(sharedClaimsAreMany, [claim(["ReadOnlyMany"]), server(3, true)])).toEqual([]);
    expect(await validateStack(sharedClaimsAreMany, [claim(["ReadWriteOnce"]), server(1)])).toEqual([]);
  });
  it("flags a ReadWriteOnce claim shared by replicas, and ROX mounted writable", async () => {
    const [rwo] = await validateStack(sharedClaimsAreMany, [claim(["ReadWriteOnce"]), server(2)]);
    expect(rwo.message).toContain('runs 2 replicas on claim "weights" (ReadWriteOnce)');
    expect(rwo.urn).toContain("Deployment::server");
    expect(await validateStack(sharedClaimsAreMany, [claim(["ReadOnlyMany"]), server(2)])).toHaveLength(1);
  });
});

describe("6. r2-tokens-scoped", () => {
  const bucketKey = "com.cloudflare.edge.r2.bucket.0123_default_llm-models";
  const token = (name: string, groups: string[], resources: Record<string, string> = { [bucketKey]: "*" }): TestResource => ({
    type: "cloudflare:index/apiToken:ApiToken",
    name,
    props: { name, policies: [{ effect: "allow", permissionGroups: groups.map((id) => ({ id })), resources: JSON.stringify(resources) }] },
  });
  const READ = "6a018a9f2fc74eb6b293b0c548f38b39";
  const WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6";
  it("passes a read-only reader and a read/write writer on one bucket", async () => {
    expect(await validateResource(r2TokensScoped, token("llm-serving llm-models reader", [READ]))).toEqual([]);
    expect(await validateResource(r2TokensScoped, token("llm-serving llm-models writer", [WRITE]))).toEqual([]);
  });
  it("flags account-wide scope, several buckets, and write permission on a serving token", async () => {
    const [account] = await validateResource(r2TokensScoped, token("writer", [WRITE], { "com.cloudflare.api.account.0123": "*" }));
    expect(account).toContain("scope it to exactly one R2 bucket");
    const two = await validateResource(r2TokensScoped, token("writer", [WRITE], { [bucketKey]: "*", [`${bucketKey}-2`]: "*" }));
    expect(two).toHaveLength(1);
    const [write] = await validateResource(r2TokensScoped, token("llm-serving llm-models reader", [WRITE]));
    expect(write).toContain("serving tokens may only read objects");
    const [other] = await validateResource(r2TokensScoped, token("writer", ["c8fed203ed3043cba015a93ad1616f1f"]));
    expect(other).toContain("beyond R2 object read/write");
  });
  const STORAGE_READ = "b4992e1108244f5d8bfbd5744320c2e1";
  const TOKENS_READ = "0cc3a61731504c89b99ec1be78b77aa0";
  const preview = "llm-serving llm-models preview (read-only)";
  it("passes a preview token reading the account's R2 settings and the user's tokens", async () => {
    const resources = { "com.cloudflare.api.account.0123": "*" };
    expect(await validateResource(r2TokensScoped, token(preview, [STORAGE_READ], resources))).toEqual([]);
    const user = token(preview, [TOKENS_READ], { "com.cloudflare.api.user.0456": "*" });
    expect(await validateResource(r2TokensScoped, user)).toEqual([]);
  });
  it("flags a preview token that could write, or names a bucket's objects", async () => {
    const [write] = await validateResource(r2TokensScoped, token(preview, [WRITE], { "com.cloudflare.api.account.0123": "*" }));
    expect(write).toContain("a preview token may only read");
    const [bucket] = await validateResource(r2TokensScoped, token(preview, [STORAGE_READ]));
    expect(bucket).toContain("a preview token names only the account and the user");
  });
});

describe("7. buckets-protected and s3-block-public-access", () => {
  const bucket = (protect: boolean, type = "aws:s3/bucket:Bucket"): TestResource => ({
    type,
    name: "bucket",
    props: { bucket: "llm-models" },
    protect,
  });
  const block = (flags: boolean): TestResource => ({
    type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    name: "pab",
    props: { bucket: "llm-models", blockPublicAcls: true, blockPublicPolicy: flags, ignorePublicAcls: true, restrictPublicBuckets: true },
  });
  it("passes protected R2 and S3 buckets", async () => {
    expect(await validateResource(bucketsProtected, bucket(true))).toEqual([]);
    expect(
      await validateResource(bucketsProtected, { ...bucket(true, "cloudflare:index/r2Bucket:R2Bucket"), props: { name: "m" } }),
    ).toEqual([]);
  });
  it("flags an unprotected bucket", async () => {
    const [message] = await validateResource(bucketsProtected, {
      ...bucket(false, "cloudflare:index/r2Bucket:R2Bucket"),
      props: { name: "m" },
    });
    expect(message).toBe('bucket "m" is not protected; set objectStore.protect: true (the resource option protect).');
  });
  it("passes an S3 bucket with a full public access block", async () => {
    expect(await validateStack(s3BlockPublicAccess, [bucket(true), block(true)])).toEqual([]);
  });
  it("flags a missing or partial public access block", async () => {
    const [missing] = await validateStack(s3BlockPublicAccess, [bucket(true)]);
    expect(missing.message).toContain("has no BucketPublicAccessBlock");
    const [partial] = await validateStack(s3BlockPublicAccess, [bucket(true), block(false)]);
    expect(partial.message).toContain("has blockPublicPolicy off");
  });
});

describe("8. inference-probes", () => {
  const probe = { httpGet: { path: "/health", port: "http" } };
  const server = (c: Record<string, unknown>, annotations: Record<string, string> = {}) =>
    deployment({ containers: [container(c)] }, { annotations });
  it("passes startup + readiness probes that outlast the load estimate", async () => {
    const r = server(
      { startupProbe: { ...probe, periodSeconds: 10, failureThreshold: 60 }, readinessProbe: probe },
      { "llm-serving.io/load-estimate-seconds": "420" },
    );
    expect(await validateResource(inferenceProbes, r)).toEqual([]);
  });
  it("flags missing probes and a startup budget below the estimate", async () => {
    const missing = await validateResource(inferenceProbes, server({}));
    expect(missing).toEqual([expect.stringContaining("no readinessProbe"), expect.stringContaining("no startupProbe")]);
    const [short] = await validateResource(
      inferenceProbes,
      server(
        { startupProbe: { ...probe, periodSeconds: 10, failureThreshold: 30 }, readinessProbe: probe },
        { "llm-serving.io/load-estimate-seconds": "900" },
      ),
    );
    expect(short).toContain("gives startup 300 s");
    expect(short).toContain("~900 s");
  });
  it("recognises model servers by label when the image is custom, and ignores other workloads", async () => {
    const labelled = deployment(
      { containers: [container({ image: "registry.local/my-llm:1" })] },
      { labels: { "app.kubernetes.io/component": "inference-server" } },
    );
    expect(await validateResource(inferenceProbes, labelled)).toHaveLength(2);
    expect(await validateResource(inferenceProbes, job({ containers: [container({ image: "python:3.12" })] }))).toEqual([]);
  });
});

describe("9. tensor-parallel-shm", () => {
  const tp = (volumes: unknown[]) =>
    deployment({
      containers: [
        container({ resources: { limits: { "nvidia.com/gpu": "2" } }, volumeMounts: [{ name: "dshm", mountPath: "/dev/shm" }] }),
      ],
      volumes,
    });
  it("passes a memory-backed /dev/shm, and single-GPU pods without one", async () => {
    expect(await validateResource(tensorParallelShm, tp([{ name: "dshm", emptyDir: { medium: "Memory" } }]))).toEqual([]);
    expect(
      await validateResource(
        tensorParallelShm,
        deployment({ containers: [container({ resources: { limits: { "nvidia.com/gpu": "1" } } })] }),
      ),
    ).toEqual([]);
  });
  it("flags a disk-backed or missing /dev/shm for 2 GPUs", async () => {
    const [message] = await validateResource(tensorParallelShm, tp([{ name: "dshm", emptyDir: {} }]));
    expect(message).toContain('"app" uses 2 GPUs (tensor parallel) without a memory-backed /dev/shm');
  });
});

describe("10. juicefs-redis-durable", () => {
  const redis = (over: { args?: string[]; env?: unknown[]; claim?: boolean } = {}): TestResource => ({
    type: "kubernetes:apps/v1:StatefulSet",
    name: "juicefs-redis",
    props: {
      metadata: { name: "juicefs-redis" },
      spec: {
        replicas: 1,
        template: {
          spec: {
            containers: [
              container({
                name: "redis",
                image: "redis:7.4.6",
                args: over.args ?? ["/etc/redis-auth/auth.conf", "--appendonly", "yes", "--dir", "/data"],
                volumeMounts: [
                  { name: "data", mountPath: "/data" },
                  { name: "auth", mountPath: "/etc/redis-auth", readOnly: true },
                ],
              }),
            ],
            volumes: [...(over.claim === false ? [{ name: "data", emptyDir: {} }] : []), { name: "auth", secret: { secretName: "redis" } }],
          },
        },
        volumeClaimTemplates: over.claim === false ? [] : [{ metadata: { name: "data" } }],
      },
    },
  });
  it("passes AOF on a claim with a password from a Secret", async () => {
    expect(await validateResource(juicefsRedisDurable, redis())).toEqual([]);
  });
  it("flags no AOF, an emptyDir, and a literal or missing password", async () => {
    const messages = await validateResource(juicefsRedisDurable, redis({ args: ["--requirepass", "hunter2"], claim: false }));
    expect(messages).toHaveLength(3);
    expect(messages[0]).toContain("--appendonly yes");
    expect(messages[1]).toContain("keeps /data on no persistent volume");
    expect(messages[2]).toContain("must read requirepass from a config file on a Secret volume");
    // The form the program used to render: the password from a Secret, but expanded into argv.
    const expanded = await validateResource(
      juicefsRedisDurable,
      redis({ args: ["--appendonly", "yes", "--requirepass", "$(REDIS_PASSWORD)"] }),
    );
    expect(expanded).toEqual([expect.stringContaining("never --requirepass in argv")]);
    expect(messages.every((m) => m.endsWith("losing JuiceFS metadata loses every file in the volume."))).toBe(true);
  });
});

describe("11. models-pinned-to-commit", () => {
  const served = (revision: string) =>
    deployment({}, { annotations: { "llm-serving.io/model": "Qwen/Qwen2.5-7B-Instruct", "llm-serving.io/model-revision": revision } });
  it("passes a 40-hex commit in prod and a branch in dev", async () => {
    expect(await validateResource(modelsPinnedToCommit, served("a09a35458c702b33eeacc393d103063234e8bc28"))).toEqual([]);
    expect(
      await validateResource(modelsPinnedToCommit, served("main"), policyConfig(modelsPinnedToCommit, {}, { environment: "dev" })),
    ).toEqual([]);
  });
  it("flags a branch in prod", async () => {
    const [message] = await validateResource(modelsPinnedToCommit, served("main"));
    expect(message).toContain('Qwen/Qwen2.5-7B-Instruct uses revision "main" in prod; set models[].revision to the 40-hex commit sha');
  });
});

describe("12. restricted-containers", () => {
  it("passes no escalation + drop ALL on every container", async () => {
    expect(await validateResource(restrictedContainers, deployment({ initContainers: [container({ name: "init" })] }))).toEqual([]);
  });
  it("flags each missing setting, init containers included", async () => {
    const r = deployment({ initContainers: [container({ name: "init", securityContext: { capabilities: { drop: ["NET_RAW"] } } })] });
    expect(await validateResource(restrictedContainers, r)).toEqual([
      'container "init" must set securityContext allowPrivilegeEscalation: false and capabilities.drop: [ALL].',
    ]);
  });
});

describe("extra: container-resources and services-internal", () => {
  it("passes containers with requests and a memory limit; flags those without", async () => {
    expect(await validateResource(containerResources, deployment({}))).toEqual([]);
    const [message] = await validateResource(
      containerResources,
      deployment({ containers: [container({ resources: { requests: { cpu: "1" } } })] }),
    );
    expect(message).toBe('container "app" sets no resources.requests.memory, resources.limits.memory.');
  });
  it("passes ClusterIP services and flags LoadBalancer", async () => {
    const svc = (type?: string): TestResource => ({
      type: "kubernetes:core/v1:Service",
      name: "s",
      props: { metadata: { name: "qwen" }, spec: { type } },
    });
    expect(await validateResource(servicesInternal, svc())).toEqual([]);
    expect(await validateResource(servicesInternal, svc("LoadBalancer"))).toEqual([
      'Service "qwen" is type LoadBalancer; keep it ClusterIP and expose it through an authenticated ingress or gateway.',
    ]);
  });
});

describe("the pack", () => {
  it("has unique names, a description each, and covers the twelve required checks", () => {
    const names = llmServingPolicies.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    expect(llmServingPolicies.every((p) => p.description.length > 20)).toBe(true);
    expect(names.length).toBeGreaterThanOrEqual(12);
  });
  it("takes levels from the pack config: a policy entry wins over all", () => {
    expect(enforcementLevel(containerResources)).toBe("advisory");
    expect(enforcementLevel(containerResources, { all: "mandatory" })).toBe("mandatory");
    expect(enforcementLevel(containerResources, { all: "mandatory", "container-resources": { enforcementLevel: "disabled" } })).toBe(
      "disabled",
    );
    expect(enforcementLevel(imagesPinned, { "images-pinned": "advisory" })).toBe("advisory");
  });
});

describe("inference-requires-api-key", () => {
  const inProd = policyConfig(inferenceRequiresApiKey, {}, { environment: "prod" });
  const sglang = (args: string[], volumes: unknown[] = [], mounts: unknown[] = []) =>
    deployment({ containers: [container({ image: "lmsysorg/sglang:v0.5.23", args, volumeMounts: mounts })], volumes });

  it("passes vLLM with VLLM_API_KEY from a Secret and SGLang with --config on a Secret volume", async () => {
    const vllm = deployment({
      containers: [container({ env: [{ name: "VLLM_API_KEY", valueFrom: { secretKeyRef: { name: "m-api-key", key: "API_KEY" } } }] })],
    });
    expect(await validateResource(inferenceRequiresApiKey, vllm, inProd)).toEqual([]);
    const file = sglang(
      ["--config", "/etc/llm-serving/api-key/server-args.yaml"],
      [{ name: "api-key", secret: { secretName: "m-api-key" } }],
      [{ name: "api-key", mountPath: "/etc/llm-serving/api-key" }],
    );
    expect(await validateResource(inferenceRequiresApiKey, file, inProd)).toEqual([]);
  });

  it("flags an open server, a key in argv and a config file that is no Secret, in prod only", async () => {
    for (const open of [deployment({}), sglang(["--api-key", "$(KEY)"]), sglang(["--config", "/etc/args.yaml"])]) {
      expect(await validateResource(inferenceRequiresApiKey, open, inProd)).toEqual([expect.stringContaining("serves without an API key")]);
      expect(
        await validateResource(inferenceRequiresApiKey, open, policyConfig(inferenceRequiresApiKey, {}, { environment: "dev" })),
      ).toEqual([]);
    }
  });
});
