import { describe, expect, it } from "vitest";
import { ConfigError, keyPath } from "../components/config/issues";
import { quantityGiB } from "../components/config/parse";
import { parseStackConfig } from "../components/stackConfig";
import { baseConfig, expectConfigError } from "./harness";

const model = (overrides: Record<string, unknown> = {}) => ({ ...(baseConfig().models as Record<string, unknown>[])[0], ...overrides });
const withModel = (overrides: Record<string, unknown>) => baseConfig({ models: [model(overrides)] });
const withStorage = (storage: Record<string, unknown>) => baseConfig({ storage });
const withStore = (objectStore: Record<string, unknown>) => baseConfig({ objectStore });

/** [description, raw config, expected key path, expected fragment of the message] */
const badConfigs: [string, Record<string, unknown>, string, string][] = [
  [
    "unknown environment",
    baseConfig({ environment: "qa" }),
    "llm-serving:environment",
    'expected one of "local", "dev", "staging", "prod"',
  ],
  [
    "keepRevisions below one",
    baseConfig({ storage: { strategy: "hostPath", keepRevisions: 0 } }),
    "llm-serving:storage.keepRevisions",
    "found 0; expected > 0",
  ],
  [
    "JuiceFS volume named like the mirror's prefix",
    baseConfig({ storage: { strategy: "juicefs", juicefs: { volumeName: "models" } } }),
    "llm-serving:storage.juicefs.volumeName",
    "the bucket prefix the mirrored weights live under",
  ],
  ["missing environment", (({ environment: _e, ...rest }) => rest)(baseConfig()), "llm-serving:environment", "is required"],
  ["unknown top-level key", baseConfig({ model: [] }), "llm-serving:model", "allowed here: environment, kubernetes"],
  ["namespace not DNS-1123", baseConfig({ kubernetes: { namespace: "LLM_Serving" } }), "llm-serving:kubernetes.namespace", "DNS-1123"],
  ["gpuResource malformed", baseConfig({ kubernetes: { gpuResource: "gpu" } }), "llm-serving:kubernetes.gpuResource", "nvidia.com/gpu"],
  [
    "toleration with bad effect",
    baseConfig({ kubernetes: { tolerations: [{ key: "a", effect: "Never" }] } }),
    "llm-serving:kubernetes.tolerations[0].effect",
    "NoSchedule",
  ],
  [
    "nodeSelector not a map of strings",
    baseConfig({ kubernetes: { nodeSelector: { gpu: true } } }),
    "llm-serving:kubernetes.nodeSelector.gpu",
    "expected string",
  ],
  [
    "unknown object store provider",
    withStore({ provider: "gcs", bucket: "llm-models" }),
    "llm-serving:objectStore.provider",
    '"r2", "s3", "minio"',
  ],
  ["bucket with upper case", withStore({ provider: "minio", bucket: "LLM" }), "llm-serving:objectStore.bucket", "bucket name"],
  [
    "r2 without accountId",
    withStore({ provider: "r2", bucket: "llm-models" }),
    "llm-serving:objectStore.r2.accountId",
    'is required when objectStore.provider is "r2"',
  ],
  [
    "r2 accountId not 32 hex",
    withStore({ provider: "r2", bucket: "llm-models", r2: { accountId: "abc" } }),
    "llm-serving:objectStore.r2.accountId",
    "32-hex",
  ],
  [
    "r2 bad jurisdiction",
    withStore({ provider: "r2", bucket: "llm-models", r2: { accountId: "0".repeat(32), jurisdiction: "us" } }),
    "llm-serving:objectStore.r2.jurisdiction",
    '"default", "eu", "fedramp"',
  ],
  [
    "s3 without region",
    withStore({ provider: "s3", bucket: "llm-models" }),
    "llm-serving:objectStore.s3.region",
    'is required when objectStore.provider is "s3"',
  ],
  [
    "s3 bad region",
    withStore({ provider: "s3", bucket: "llm-models", s3: { region: "Frankfurt" } }),
    "llm-serving:objectStore.s3.region",
    "AWS region",
  ],
  [
    "settings of another provider",
    withStore({ provider: "minio", bucket: "llm-models", s3: { region: "eu-west-1" } }),
    "llm-serving:objectStore.s3",
    'provider is "minio"',
  ],
  [
    "minio smaller than the models",
    withStore({ provider: "minio", bucket: "llm-models", minio: { storageSize: "512Mi" } }),
    "llm-serving:objectStore.minio.storageSize",
    "the models need 1Gi",
  ],
  [
    "minio size not a quantity",
    withStore({ provider: "minio", bucket: "llm-models", minio: { storageSize: "50GB" } }),
    "llm-serving:objectStore.minio.storageSize",
    "Kubernetes quantity",
  ],
  [
    "unknown strategy",
    withStorage({ strategy: "nfs" }),
    "llm-serving:storage.strategy",
    '"hostPath", "localPath", "longhorn", "fluid", "juicefs", "s3Streaming"',
  ],
  [
    "settings of another strategy",
    withStorage({ strategy: "hostPath", juicefs: {} }),
    "llm-serving:storage.juicefs",
    'strategy is "hostPath"',
  ],
  [
    "hostPath root relative",
    withStorage({ strategy: "hostPath", hostPath: { root: "models" } }),
    "llm-serving:storage.hostPath.root",
    "absolute path",
  ],
  [
    "hostPath root is a system dir",
    withStorage({ strategy: "hostPath", hostPath: { root: "/etc" } }),
    "llm-serving:storage.hostPath.root",
    "dedicated directory",
  ],
  [
    "hostPath replicas without a node",
    baseConfig({ models: [model({ replicas: 2 })] }),
    "llm-serving:storage.hostPath.nodeName",
    "ONE node",
  ],
  [
    "localPath with replicas > 1",
    { ...withStorage({ strategy: "localPath" }), models: [model({ replicas: 3 })] },
    "llm-serving:models[0].replicas",
    "ReadWriteOnce",
  ],
  [
    "fluid cache smaller than the model",
    { ...withStorage({ strategy: "fluid", fluid: { cacheQuotaGiB: 10 } }), models: [model({ sizeGiB: 16 })] },
    "llm-serving:storage.fluid.cacheQuotaGiB",
    "Expected >= 16",
  ],
  [
    "juicefs cache smaller than the model",
    { ...withStorage({ strategy: "juicefs", juicefs: { cacheSizeGiB: 8 } }), models: [model({ sizeGiB: 16 })] },
    "llm-serving:storage.juicefs.cacheSizeGiB",
    "Expected >= 16",
  ],
  [
    "juicefs external redis without URL",
    withStorage({ strategy: "juicefs", juicefs: { redis: { mode: "external" } } }),
    "llm-serving:juicefsRedisUrl",
    "--secret",
  ],
  [
    "fluid helm chart version not exact",
    withStorage({ strategy: "fluid", fluid: { install: { enabled: true, chartVersion: "latest" } } }),
    "llm-serving:storage.fluid.install.chartVersion",
    "exact chart version",
  ],
  [
    "preload part size zero",
    withStorage({ strategy: "hostPath", preload: { partSizeMiB: 0 } }),
    "llm-serving:storage.preload.partSizeMiB",
    "expected > 0",
  ],
  ["no models", baseConfig({ models: [] }), "llm-serving:models", "at least 1"],
  ["model name not DNS-1123", withModel({ name: "Llama_3" }), "llm-serving:models[0].name", "DNS-1123"],
  ["model name too long", withModel({ name: "a".repeat(41) }), "llm-serving:models[0].name", "at most 40"],
  [
    "duplicate model names",
    baseConfig({ models: [model(), model({ huggingFace: "Qwen/Qwen2.5-7B-Instruct" })] }),
    "llm-serving:models[1].name",
    "already used by models[0]",
  ],
  ["huggingFace without org", withModel({ huggingFace: "llama" }), "llm-serving:models[0].huggingFace", "Hugging Face repo id"],
  ["unknown engine", withModel({ engine: "tgi" }), "llm-serving:models[0].engine", '"vllm", "sglang"'],
  [
    "size missing",
    (() => {
      const { sizeGiB: _s, ...m } = model();
      return baseConfig({ models: [m] });
    })(),
    "llm-serving:models[0].sizeGiB",
    "is required (expected number)",
  ],
  ["size negative", withModel({ sizeGiB: -4 }), "llm-serving:models[0].sizeGiB", "expected > 0"],
  ["size given as a string", withModel({ sizeGiB: "16Gi" }), "llm-serving:models[0].sizeGiB", "expected number"],
  ["zero replicas", withModel({ replicas: 0 }), "llm-serving:models[0].replicas", "expected >= 1"],
  ["fractional gpus", withModel({ gpus: 1.5 }), "llm-serving:models[0].gpus", "expected int"],
  ["gpu memory fraction above 1", withModel({ gpuMemoryUtilization: 1.5 }), "llm-serving:models[0].gpuMemoryUtilization", "expected <= 1"],
  ["image with a space", withModel({ image: "vllm/vllm-openai latest" }), "llm-serving:models[0].image", "image reference"],
  [
    "extraArgs overriding --port",
    withModel({ extraArgs: ["--enforce-eager", "--port=9000"] }),
    "llm-serving:models[0].extraArgs[1]",
    "--port is set by llm-serving",
  ],
  ["typo in a model key", withModel({ replica: 2 }), "llm-serving:models[0].replica", "allowed here: name, huggingFace, revision"],
  [
    "sglang settings on a vLLM model",
    withModel({ sglang: { hicache: {} } }),
    "llm-serving:models[0].sglang",
    'only valid with engine "sglang"',
  ],
  [
    "hicache ratio and size both set",
    withModel({ engine: "sglang", sglang: { hicache: { ratio: 2, sizeGiB: 64 } } }),
    "llm-serving:models[0].sglang.hicache",
    "ratio OR sizeGiB",
  ],
  [
    "hicache unknown write policy",
    withModel({ engine: "sglang", sglang: { hicache: { writePolicy: "lazy" } } }),
    "llm-serving:models[0].sglang.hicache.writePolicy",
    "write_through",
  ],
  [
    "hicache extraConfig without backend",
    withModel({ engine: "sglang", sglang: { hicache: { extraConfig: { a: 1 } } } }),
    "llm-serving:models[0].sglang.hicache.extraConfig",
    "storageBackend",
  ],
  [
    "hicache file L3 on a node-local strategy with replicas > 1",
    {
      ...withStorage({ strategy: "s3Streaming" }),
      models: [model({ engine: "sglang", replicas: 2, sglang: { hicache: { storageBackend: "file" } } })],
    },
    "llm-serving:models[0].sglang.hicache.storageBackend",
    "node-local",
  ],
  [
    "s3Streaming chunk below the streamer's object-store minimum",
    withStorage({ strategy: "s3Streaming", s3Streaming: { chunkSizeMiB: 4 } }),
    "llm-serving:storage.s3Streaming.chunkSizeMiB",
    "expected >= 5",
  ],
  [
    "startup budget and bandwidth both set",
    withModel({ startup: { budgetSeconds: 600, bandwidthMiBps: 100 } }),
    "llm-serving:models[0].startup",
    "not both",
  ],
  [
    "memory below SGLang HiCache's host pool",
    withModel({ engine: "sglang", gpus: 2, memory: "64Gi", sglang: { hicache: { ratio: 2 } } }),
    "llm-serving:models[0].memory",
    'found "64Gi" but SGLang HiCache\'s host pool needs',
  ],
  [
    "memory below /dev/shm and the runtime",
    withModel({ gpus: 4, memory: "16Gi" }),
    "llm-serving:models[0].memory",
    "expected at least 40Gi",
  ],
  [
    "hostPath in prod",
    baseConfig({ environment: "prod" }),
    "llm-serving:storage.strategy",
    'found "hostPath", which only local and dev stacks may use',
  ],
  ["hostPath in staging", baseConfig({ environment: "staging" }), "llm-serving:storage.strategy", "hostpath-only-in-dev"],
  [
    "branch revision in prod",
    baseConfig({ environment: "prod", storage: { strategy: "localPath" }, models: [model({ revision: "main" })] }),
    "llm-serving:models[0].revision",
    'found "main"; environment "prod" serves only pinned commits',
  ],
  ["empty include list", withModel({ include: [] }), "llm-serving:models[0].include", "expected at least 1 item"],
  ["empty exclude pattern", withModel({ exclude: [""] }), "llm-serving:models[0].exclude[0]", 'found ""'],
];

describe("config validation", () => {
  it("has at least 30 distinct bad configs", () => {
    expect(new Set(badConfigs.map(([d]) => d)).size).toBeGreaterThanOrEqual(30);
  });

  it.each(badConfigs)("%s → names the key path and registers nothing", async (_desc, raw, path, fragment) => {
    const { error, registered } = await expectConfigError(raw);
    expect(error).toBeInstanceOf(ConfigError);
    const line = error.message.split("\n").find((l) => l.includes(`${path}:`));
    expect(line, error.message).toBeDefined();
    expect(line).toContain(fragment);
    expect(registered).toBe(0);
  });

  it("reports every bad key in one error", () => {
    const raw = baseConfig({ environment: "qa", models: [model({ engine: "tgi", sizeGiB: 0 })] });
    try {
      parseStackConfig(raw);
      expect.unreachable();
    } catch (e) {
      const issues = (e as ConfigError).issues.map((i) => keyPath(i.path));
      expect(issues).toEqual(
        expect.arrayContaining(["llm-serving:environment", "llm-serving:models[0].engine", "llm-serving:models[0].sizeGiB"]),
      );
    }
  });

  it("lets dev and local stacks use hostPath and branches, and staging use branches", () => {
    expect(() => parseStackConfig(baseConfig({ models: [model({ revision: "main" })] }))).not.toThrow();
    expect(() => parseStackConfig(baseConfig({ environment: "local" }))).not.toThrow();
    const staging = baseConfig({ environment: "staging", storage: { strategy: "juicefs" }, models: [model({ revision: "main" })] });
    expect(() => parseStackConfig(staging)).not.toThrow();
  });

  it("fills documented defaults", () => {
    const config = parseStackConfig(baseConfig({ kubernetes: {} }));
    expect(config.kubernetes).toMatchObject({ namespace: "llm", gpuResource: "nvidia.com/gpu", skipAwait: false, createNamespace: true });
    expect(config.models[0]).toMatchObject({ replicas: 1, gpus: 1, mirror: true, extraArgs: [] });
    expect(parseStackConfig(withModel({ revision: undefined })).models[0].revision).toBe("main");
    expect(config.storage.preload).toEqual({ image: "peakcom/s5cmd:v2.3.0", numWorkers: 64, concurrency: 32, partSizeMiB: 32 });
  });

  it("renders key paths the way users write them", () => {
    expect(keyPath(["models", 1, "engine"])).toBe("llm-serving:models[1].engine");
    expect(keyPath(["storage", "juicefs", "redis", "mode"])).toBe("llm-serving:storage.juicefs.redis.mode");
  });

  it("converts quantities to GiB", () => {
    expect(quantityGiB("512Mi")).toBe(0.5);
    expect(quantityGiB("2Ti")).toBe(2048);
  });
});
