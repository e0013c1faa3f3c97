/**
 * The stack-config contract (namespace `llm-serving:`), as one zod schema.
 *
 * Field-level rules live here; rules that span fields or depend on the chosen storage strategy or
 * engine live in `parse.ts` and in each strategy/engine file. Every object is strict so a typo in a
 * key is reported instead of silently ignored.
 */
import { DEFAULT_IMAGES } from "../images";
import { z } from "zod";

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HF_REPO = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti)$/;
const IMAGE_PINNED = /^[^\s:@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?(@sha256:[0-9a-f]{64})?$/;

export const ENVIRONMENTS = ["local", "dev", "staging", "prod"] as const;
export const OBJECT_STORE_PROVIDERS = ["r2", "s3", "minio"] as const;
export const STORAGE_STRATEGIES = ["hostPath", "localPath", "longhorn", "fluid", "juicefs", "s3Streaming"] as const;
export const ENGINES = ["vllm", "sglang"] as const;

const dnsLabel = (max: number) =>
  z
    .string()
    .max(max, { error: `must be at most ${max} characters` })
    .regex(DNS_LABEL, { error: "must be a DNS-1123 label (lowercase letters, digits and '-')" });

const positiveInt = z.number().int().positive();
const giB = z.number().positive().max(4096);
const quantity = z.string().regex(QUANTITY, { error: "must be a Kubernetes quantity such as 50Gi or 512Mi" });
const image = z.string().regex(IMAGE_PINNED, { error: "must be an image reference repo[:tag][@sha256:digest]" });

const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(["Exists", "Equal"]).optional(),
  value: z.string().optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  tolerationSeconds: z.number().int().optional(),
});

const gpuResource = z
  .string()
  .regex(/^[a-z0-9.-]+\/[a-z0-9.-]+$/, { error: "must be an extended resource name such as nvidia.com/gpu or nvidia.com/mig-1g.10gb" });
const priorityClassName = z
  .string()
  .max(253, { error: "must be at most 253 characters" })
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { error: "must be a PriorityClass name (a DNS-1123 subdomain)" });
const nodeSelector = z.record(z.string(), z.string());

const kubernetes = z.strictObject({
  namespace: dnsLabel(63).default("llm"),
  createNamespace: z.boolean().default(true),
  context: z.string().min(1).optional(),
  renderYamlTo: z.string().min(1).optional(),
  skipAwait: z.boolean().default(false),
  runtimeClassName: z.string().min(1).optional(),
  priorityClassName: priorityClassName.optional(),
  gpuResource: gpuResource.default("nvidia.com/gpu"),
  nodeSelector: nodeSelector.optional(),
  tolerations: z.array(toleration).optional(),
  /** Registry that replaces the publisher's in every default image (repository path kept). Default: none. */
  imageRegistry: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9._-]+)*$/, {
      error: "must be a registry host[:port][/path] such as registry.example.com/mirror",
    })
    .optional(),
  /** The CUDA major version of the default engine images: 13 needs NVIDIA driver R580+, 12 picks the engines' CUDA 12.9 builds. */
  cudaVersion: z.literal([12, 13]).default(13),
});

const r2 = z.strictObject({
  accountId: z.string().regex(/^[0-9a-f]{32}$/, { error: "must be the 32-hex Cloudflare account id" }),
  jurisdiction: z.enum(["default", "eu", "fedramp"]).default("default"),
  location: z.enum(["apac", "eeur", "enam", "weur", "wnam", "oc"]).optional(),
  readPermissionGroupId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .default("6a018a9f2fc74eb6b293b0c548f38b39"),
  writePermissionGroupId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .default("2efd5506f9c8494dacb1fa10a3e7d5b6"),
  /**
   * Where a JuiceFS volume writes: `own`, a bucket of its own with a token scoped to it; `shared`, the
   * weights' bucket with a bucket-wide token that could delete the weights (what stacks did before
   * `own`; keeps an existing volume readable until it is moved).
   */
  volumeBucket: z.enum(["own", "shared"]).default("own"),
  /** The Cloudflare user (32 hex, dash → My Profile → API Tokens) owning the stack's tokens: lets the preview token read them. Default: none. */
  userId: z
    .string()
    .regex(/^[0-9a-f]{32}$/, { error: "must be the 32-hex Cloudflare user id that owns the stack's API tokens" })
    .optional(),
  /** "Workers R2 Storage Read" (account): the preview token reads the buckets' settings. */
  storageReadPermissionGroupId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .default("b4992e1108244f5d8bfbd5744320c2e1"),
  /** "API Tokens Read" (user): the preview token reads the tokens the stack manages (with userId). */
  tokensReadPermissionGroupId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .default("0cc3a61731504c89b99ec1be78b77aa0"),
});

const s3 = z.strictObject({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-[0-9]$/, { error: "must be an AWS region such as eu-west-1" }),
  versioning: z.boolean().default(false),
});

const minio = z.strictObject({
  storageSize: quantity.optional(),
  storageClassName: z.string().min(1).optional(),
  image: image.default(DEFAULT_IMAGES.minio),
  clientImage: image.default(DEFAULT_IMAGES.mc),
});

const objectStore = z.strictObject({
  provider: z.enum(OBJECT_STORE_PROVIDERS),
  bucket: z.string().regex(BUCKET, { error: "must be a bucket name: 3-63 lowercase letters, digits, '.' or '-'" }),
  protect: z.boolean().default(true),
  r2: r2.optional(),
  s3: s3.optional(),
  minio: minio.optional(),
});

/** s5cmd defaults measured in BENCHMARKS.md: more, smaller parts in flight beat fewer, larger ones. */
const preload = z.strictObject({
  image: image.default(DEFAULT_IMAGES.s5cmd),
  numWorkers: positiveInt.max(1024).default(64),
  concurrency: positiveInt.max(256).default(32),
  partSizeMiB: positiveInt.min(5).max(5120).default(32),
});

const hostPath = z.strictObject({
  root: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "must be an absolute path" })
    .refine((p) => !["/", "/etc", "/var", "/usr", "/root", "/home"].includes(p.replace(/\/+$/, "") || "/"), {
      error: "must be a dedicated directory, not a system directory",
    })
    .default("/var/lib/llm-models"),
  nodeName: z.string().min(1).optional(),
  nodeLabel: z.string().min(1).default("llm-serving.io/model-host"),
});

const localPath = z.strictObject({
  storageClassName: z.string().min(1).default("local-path"),
  headroomPercent: z.number().int().min(0).max(200).default(20),
});

const longhorn = z.strictObject({
  /** Default `longhorn-models-<namespace>`: stacks sharing a cluster never fight over one object. */
  storageClassName: z.string().min(1).optional(),
  createStorageClass: z.boolean().default(true),
  numberOfReplicas: positiveInt.max(5).default(2),
  dataLocality: z.enum(["disabled", "best-effort", "strict-local"]).default("best-effort"),
  headroomPercent: z.number().int().min(0).max(200).default(20),
});

const helmInstall = z.strictObject({
  enabled: z.boolean().default(false),
  namespace: dnsLabel(63),
  chartVersion: z.string().regex(/^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$/, {
    error: "must be an exact chart version such as 1.0.6",
  }),
  repository: z.string().url(),
});

const fluid = z.strictObject({
  runtime: z.enum(["alluxio"]).default("alluxio"),
  install: helmInstall
    .partial()
    .default({})
    .transform((v) => ({
      enabled: v.enabled ?? false,
      namespace: v.namespace ?? "fluid-system",
      chartVersion: v.chartVersion ?? "1.0.6",
      repository: v.repository ?? "https://fluid-cloudnative.github.io/charts",
    })),
  cacheMedium: z.enum(["MEM", "SSD", "HDD"]).default("SSD"),
  cachePath: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "must be an absolute path" })
    .default("/var/lib/fluid-cache"),
  cacheQuotaGiB: giB.optional(),
  replicas: positiveInt.max(64).default(1),
});

const juicefs = z.strictObject({
  install: helmInstall
    .partial()
    .default({})
    .transform((v) => ({
      enabled: v.enabled ?? false,
      namespace: v.namespace ?? "kube-system",
      chartVersion: v.chartVersion ?? "0.30.2",
      repository: v.repository ?? "https://juicedata.github.io/charts/",
    })),
  volumeName: dnsLabel(40).default("llm-models"),
  /** Default `juicefs-<namespace>`: the class points at this namespace's volume Secret. */
  storageClassName: z.string().min(1).optional(),
  cacheDir: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "must be an absolute path" })
    .default("/var/jfsCache"),
  cacheSizeGiB: giB.default(200),
  redis: z
    .strictObject({
      mode: z.enum(["inCluster", "external"]).default("inCluster"),
      image: image.default(DEFAULT_IMAGES.redis),
      storageSize: quantity.default("10Gi"),
      storageClassName: z.string().min(1).optional(),
      database: z.number().int().min(0).max(15).default(1),
    })
    .default({ mode: "inCluster", image: DEFAULT_IMAGES.redis, storageSize: "10Gi", database: 1 }),
});

const s3Streaming = z.strictObject({
  /** The streamer's reader threads; default from the server's CPU request (bench:load). */
  concurrency: positiveInt.max(256).optional(),
  /** Bytes per S3 request (RUNAI_STREAMER_CHUNK_BYTESIZE); default keeps 128 MiB in flight. */
  chunkSizeMiB: z.number().int().min(5).max(256).optional(),
  memoryLimitBytes: positiveInt.optional(),
  /**
   * The streamer aborts and retries a request whose transfer stays below its low-speed limit this
   * long; its own default (1000 ms) is too short for MinIO or R2 under load.
   */
  requestTimeoutMs: positiveInt.max(600_000).default(30_000),
  /** S3 connections per client (the streamer's default: the AWS SDK's). */
  maxConnections: positiveInt.max(1024).optional(),
});

const storage = z.strictObject({
  strategy: z.enum(STORAGE_STRATEGIES),
  /** Verified revisions a model's cache keeps, the served one included; older ones are removed once the new one serves. */
  keepRevisions: positiveInt.max(20).default(1),
  preload: preload.prefault({}),
  hostPath: hostPath.optional(),
  localPath: localPath.optional(),
  longhorn: longhorn.optional(),
  fluid: fluid.optional(),
  juicefs: juicefs.optional(),
  s3Streaming: s3Streaming.optional(),
});

const hicache = z.strictObject({
  ratio: z.number().gt(1).max(64).optional(),
  sizeGiB: giB.optional(),
  writePolicy: z.enum(["write_through", "write_through_selective", "write_back"]).default("write_through"),
  memLayout: z.enum(["layer_first", "page_first", "page_first_direct", "page_first_kv_split", "page_head"]).optional(),
  ioBackend: z.enum(["direct", "kernel"]).optional(),
  storageBackend: z.enum(["file", "mooncake", "hf3fs", "nixl", "aibrix", "eic", "dynamic"]).optional(),
  prefetchPolicy: z.enum(["best_effort", "wait_complete", "timeout"]).optional(),
  storageDirGiB: giB.default(100),
  extraConfig: z.record(z.string(), z.unknown()).optional(),
});

export const AUTOSCALING_METRICS = ["waiting", "running", "kvCacheUsage"] as const;

const autoscaling = z.strictObject({
  minReplicas: z.number().int().min(1).max(64).default(1),
  maxReplicas: z.number().int().min(1).max(64),
  /** waiting: queue depth per replica (default); running: requests per replica; kvCacheUsage: mean 0..1. */
  metric: z.enum(AUTOSCALING_METRICS).default("waiting"),
  /** The value per replica (waiting, running) or the mean (kvCacheUsage) KEDA keeps the model at. */
  target: z.number().positive(),
});

const model = z.strictObject({
  name: dnsLabel(40),
  huggingFace: z.string().regex(HF_REPO, { error: "must be a Hugging Face repo id such as Qwen/Qwen2.5-7B-Instruct" }),
  revision: z.string().regex(REVISION, { error: "must be a branch, tag or 40-hex commit" }).default("main"),
  engine: z.enum(ENGINES),
  sizeGiB: giB,
  replicas: z.number().int().min(1).max(64).default(1),
  gpus: z.number().int().min(1).max(16).default(1),
  maxModelLen: positiveInt.optional(),
  gpuMemoryUtilization: z.number().gt(0).max(1).optional(),
  /** Memory of one GPU of the nodes the model runs on; sizes SGLang HiCache's host pool. */
  gpuMemoryGiB: giB.default(80),
  image: image.optional(),
  extraArgs: z.array(z.string()).default([]),
  mirror: z.boolean().default(true),
  /** Globs of repo files to mirror (default: what the engines load); `exclude` removes from them. */
  include: z.array(z.string().min(1)).min(1).optional(),
  exclude: z.array(z.string().min(1)).default([]),
  cpu: z
    .string()
    .regex(/^[0-9]+(\.[0-9]+|m)?$/, { error: "must be a CPU quantity such as 4 or 500m" })
    .optional(),
  memory: quantity.optional(),
  startup: z
    .strictObject({
      budgetSeconds: positiveInt.max(24 * 3600).optional(),
      warmupSeconds: positiveInt.max(3600).optional(),
      bandwidthMiBps: z.number().positive().optional(),
      /** Seconds for scheduling the server and pulling its image, added to the budget in Pulumi's await (default 300; lower where images are pre-pulled or local). */
      pullSeconds: z
        .number()
        .int()
        .min(0)
        .max(24 * 3600)
        .optional(),
    })
    .default({}),
  sglang: z.strictObject({ hicache: hicache.optional() }).optional(),
  /** Placement overriding the stack's `kubernetes.*` for this model (nodeSelector merges key by key). */
  nodeSelector: nodeSelector.optional(),
  tolerations: z.array(toleration).optional(),
  priorityClassName: priorityClassName.optional(),
  runtimeClassName: z.string().min(1).optional(),
  gpuResource: gpuResource.optional(),
  /**
   * How a change rolls out: recreate (default: old pods go first, for nodes without a spare GPU) or
   * surge (the new revision is cached first, then one new pod starts before an old one stops).
   */
  rollout: z.enum(["recreate", "surge"]).default("recreate"),
  /** A KEDA ScaledObject on the engine's own metrics (needs observability.prometheus). */
  autoscaling: autoscaling.optional(),
});

const labelMap = z.record(z.string(), z.string());

const observability = z.strictObject({
  prometheus: z
    .strictObject({
      /** A PodMonitor per model (Prometheus Operator) scraping the engine's /metrics. */
      enabled: z.boolean().default(false),
      /** Labels your Prometheus' podMonitorSelector matches, e.g. { release: kube-prometheus-stack }. */
      labels: labelMap.default({}),
      interval: z
        .string()
        .regex(/^[0-9]+(s|m)$/, { error: "must be a Prometheus duration such as 15s or 1m" })
        .default("15s"),
      /** The Prometheus KEDA queries for models[].autoscaling, e.g. http://prometheus-operated.monitoring.svc:9090. */
      serverAddress: z
        .string()
        .regex(/^https?:\/\/[^\s/]+(:[0-9]+)?(\/\S*)?$/, {
          error: "must be an http(s) URL such as http://prometheus-operated.monitoring.svc:9090",
        })
        .optional(),
    })
    .prefault({}),
  grafana: z
    .strictObject({
      /** A dashboard ConfigMap for Grafana's sidecar (with prometheus.enabled). */
      dashboard: z.boolean().default(true),
      /** The label the sidecar watches (kube-prometheus-stack: grafana_dashboard=1). */
      labels: labelMap.default({ grafana_dashboard: "1" }),
    })
    .prefault({}),
});

const compileCache = z.strictObject({
  /** Persist the engines' compile and JIT caches (torch.compile, Triton, Inductor, FlashInfer, CUDA) on each node. */
  enabled: z.boolean().default(false),
  /** The node directory holding them (one subdirectory per engine image × revision × TP size × GPU product). */
  hostPath: z
    .string()
    .regex(/^\/[^\s]*[^/\s]$/, { error: "must be an absolute directory path such as /var/cache/llm-serving/compile" })
    .default("/var/cache/llm-serving/compile"),
  /** Cap for everything under hostPath on a node; the least recently used caches go first. */
  sizeGiB: giB.default(50),
});

const networkPolicy = z.strictObject({
  /** NetworkPolicies: each model admits only its clients; MinIO and Redis only theirs; Jobs reach only what they need. Default: on in prod, else off. */
  enabled: z.boolean().optional(),
  /** Pods of the serving namespace that may call the models. */
  clientPodLabels: labelMap.optional(),
  /** Namespaces whose pods may call the models. */
  clientNamespaceLabels: labelMap.optional(),
  /** Where Prometheus runs (it scrapes /metrics with observability.prometheus). */
  prometheusNamespace: dnsLabel(63).default("monitoring"),
});

/** A read-only identity for `pulumi preview` in CI, created by the stack (previewIdentity.ts). */
const previewIdentity = z.strictObject({
  /** A ServiceAccount that can only get, list and watch what the stack manages (no Secrets), its kubeconfig a secret output; on R2 also a read-only Cloudflare token. Default: on in prod, else off. */
  enabled: z.boolean().optional(),
  /** The API server URL written into the preview kubeconfig. Default: the server of the kubeconfig context the stack deploys with. */
  server: z
    .string()
    .regex(/^https:\/\/[^\s/]+(\/[^\s]*)?$/, { error: "must be the https URL of the API server, such as https://k8s.example.com:6443" })
    .optional(),
  /** Bump to rotate the token: the Secret holding it is replaced, so the previous token stops working at once. */
  tokenGeneration: positiveInt.max(9999).default(1),
});

export const stackConfigSchema = z.strictObject({
  environment: z.enum(ENVIRONMENTS),
  kubernetes: kubernetes.default({
    namespace: "llm",
    createNamespace: true,
    skipAwait: false,
    gpuResource: "nvidia.com/gpu",
    cudaVersion: 13,
  }),
  objectStore,
  storage,
  models: z.array(model).min(1, { error: "must list at least one model" }),
  observability: observability.prefault({}),
  networkPolicy: networkPolicy.prefault({}),
  previewIdentity: previewIdentity.prefault({}),
  compileCache: compileCache.prefault({}),
  /** Images with no other key: the Python image of the mirror, preload, checks and housekeeping. */
  images: z.strictObject({ python: image.default(DEFAULT_IMAGES.python) }).prefault({}),
  /** Where models come from: the public Hub, or a Hub mirror / artifact proxy speaking its API. */
  huggingFace: z
    .strictObject({
      endpoint: z
        .string()
        .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, { error: "must be an http(s) URL such as https://hf-mirror.example.com" })
        .optional(),
    })
    .prefault({}),
  /** Set only through `pulumi config set --secret`; read separately so it stays a secret. */
  hfToken: z.string().optional(),
  juicefsRedisUrl: z.string().optional(),
  /** The API key every model server requires (secret); `apiKeys` (a secret map model → key) overrides it per model. */
  apiKey: z.string().optional(),
  apiKeys: z.record(z.string(), z.string()).optional(),
});

type Parsed = z.output<typeof stackConfigSchema>;
export type StrategyName = (typeof STORAGE_STRATEGIES)[number];
export type EngineName = (typeof ENGINES)[number];
export type KubernetesConfig = Parsed["kubernetes"];
export type ObjectStoreConfig = Parsed["objectStore"];
export type StorageConfig = Parsed["storage"];
export type PreloadConfig = StorageConfig["preload"];
export type ModelConfig = Parsed["models"][number];
export type HiCacheConfig = z.output<typeof hicache>;
export type HostPathConfig = z.output<typeof hostPath>;
export type LocalPathConfig = z.output<typeof localPath>;
export type LonghornConfig = z.output<typeof longhorn>;
export type FluidConfig = z.output<typeof fluid>;
export type JuiceFsConfig = z.output<typeof juicefs>;
export type S3StreamingConfig = z.output<typeof s3Streaming>;
export type ObservabilityConfig = z.output<typeof observability>;
export type NetworkPolicyConfig = z.output<typeof networkPolicy>;
export type CompileCacheConfig = z.output<typeof compileCache>;
export type PreviewIdentityConfig = z.output<typeof previewIdentity>;

/** The parsed config minus the secrets, which travel as Pulumi Outputs; only which models need a key stays. */
export type StackConfig = Omit<Parsed, "hfToken" | "juicefsRedisUrl" | "apiKey" | "apiKeys" | "networkPolicy" | "previewIdentity"> & {
  /** `networkPolicy` with `enabled` resolved (on by default in prod). */
  readonly networkPolicy: NetworkPolicyConfig & { readonly enabled: boolean };
  /** `previewIdentity` with `enabled` resolved (on by default in prod). */
  readonly previewIdentity: PreviewIdentityConfig & { readonly enabled: boolean };
  /** The models whose servers require an API key (from `apiKey` / `apiKeys`; never the values). */
  readonly authenticatedModels: readonly string[];
};

/** Defaults for each strategy's sub-object, so strategies always see a complete settings object. */
export const strategyDefaults = {
  preload: () => preload.parse({}),
  hostPath: () => hostPath.parse({}),
  localPath: () => localPath.parse({}),
  longhorn: () => longhorn.parse({}),
  fluid: () => fluid.parse({}),
  juicefs: () => juicefs.parse({}),
  s3Streaming: () => s3Streaming.parse({}),
};
