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
export const ENGINES = ["vllm", "sglang", "dynamo"] as const;
/** The engines a Dynamo worker runs (`models[].dynamo.backend`). */
export const DYNAMO_BACKENDS = ["vllm", "sglang"] as const;
/** How a group of nodes splits a model (`models[].multiNode.mode`). */
export const MULTI_NODE_MODES = ["pipeline", "data", "tensor"] as const;

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
  key: z.string().optional().describe("The taint key the toleration matches; unset with `operator: Exists`, it matches every taint."),
  operator: z
    .enum(["Exists", "Equal"])
    .optional()
    .describe("How the taint is matched: `Exists` (any value) or `Equal` (the `value`); unset, Kubernetes takes `Equal`."),
  value: z.string().optional().describe("The taint value matched with `operator: Equal`."),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional().describe("The taint effect matched; unset, every effect."),
  tolerationSeconds: z
    .number()
    .int()
    .optional()
    .describe("With `effect: NoExecute`, the seconds a pod stays on the node once the taint appears; unset, it stays."),
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
  namespace: dnsLabel(63).default("llm").describe("The namespace every object of the stack is created in (a DNS-1123 label)."),
  createNamespace: z
    .boolean()
    .default(true)
    .describe(
      "Create the namespace; Pulumi never deletes it (`retainOnDelete`). With `false` the existing namespace must allow the stack's Pod Security level (the `podSecurityLevel` output).",
    ),
  context: z.string().min(1).optional().describe("The kubeconfig context to deploy with, e.g. `k3s-gpu`; unset, the current context."),
  renderYamlTo: z
    .string()
    .min(1)
    .optional()
    .describe("A directory, e.g. `./rendered`: the manifests are rendered into it instead of applied."),
  skipAwait: z
    .boolean()
    .default(false)
    .describe(
      "`true` adds `pulumi.com/skipAwait` to the workloads (GitOps, or no kubelet): nothing waits for Ready, so no smoke check and no revision cleanup runs.",
    ),
  runtimeClassName: z
    .string()
    .min(1)
    .optional()
    .describe("The RuntimeClass of the model servers, e.g. `nvidia`; `models[].runtimeClassName` overrides it."),
  priorityClassName: priorityClassName
    .optional()
    .describe("The PriorityClass of the model servers; `models[].priorityClassName` overrides it."),
  gpuResource: gpuResource
    .default("nvidia.com/gpu")
    .describe("The extended resource a GPU is requested as, e.g. `amd.com/gpu`; `models[].gpuResource` overrides it."),
  nodeSelector: nodeSelector
    .optional()
    .describe(
      'Labels the model servers\' nodes carry, e.g. `{ "nvidia.com/gpu.product": "NVIDIA-L4" }`. Required by `fluid` (or `models[].nodeSelector` on every model): its cache workers follow it.',
    ),
  tolerations: z
    .array(toleration)
    .optional()
    .describe("Tolerations of the model servers, e.g. `[{ key: nvidia.com/gpu, operator: Exists, effect: NoSchedule }]`."),
  imageRegistry: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9._-]+)*$/, {
      error: "must be a registry host[:port][/path] such as registry.example.com/mirror",
    })
    .optional()
    .describe(
      "A registry `host[:port][/path]`, e.g. `registry.internal:5000/mirror`, that replaces the publisher's registry in every default image, the repository path kept (`library/python:…`, `vllm/vllm-openai:…`, `minio/mc:…`); images a stack sets itself are used as given.",
    ),
  cudaVersion: z
    .literal([12, 13])
    .default(13)
    .describe(
      "The CUDA major version of the default engine images: `13` needs NVIDIA driver R580+; `12` picks vLLM's CUDA 12.9 build `v0.33.0-cu129` (R575+, R525+ with minor-version compatibility) and is refused for SGLang, which publishes no CUDA 12 image after v0.5.19, unless `models[].image` is set.",
    ),
});

const r2 = z.strictObject({
  accountId: z
    .string()
    .regex(/^[0-9a-f]{32}$/, { error: "must be the 32-hex Cloudflare account id" })
    .describe("The 32-hex Cloudflare account id (required with `provider: r2`)."),
  jurisdiction: z
    .enum(["default", "eu", "fedramp"])
    .default("default")
    .describe("The bucket's jurisdiction; `eu` and `fedramp` change the endpoint and the tokens' scope."),
  location: z
    .enum(["apac", "eeur", "enam", "weur", "wnam", "oc"])
    .optional()
    .describe("The bucket's location hint, e.g. `weur`, `enam`, `apac`; unset, R2 picks one."),
  readPermissionGroupId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .default("6a018a9f2fc74eb6b293b0c548f38b39")
    .describe(
      'The permission group "Workers R2 Storage Bucket Item Read" of the bucket-scoped reader token (from config, so `pulumi preview` needs no lookup).',
    ),
  writePermissionGroupId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .default("2efd5506f9c8494dacb1fa10a3e7d5b6")
    .describe(
      'The permission group "Workers R2 Storage Bucket Item Write" of the bucket-scoped writer token (from config, so `pulumi preview` needs no lookup).',
    ),
  volumeBucket: z
    .enum(["own", "shared"])
    .default("own")
    .describe(
      "Where a JuiceFS volume on R2 writes: `own`, a bucket of its own (`<bucket>-juicefs`) with a token scoped to it; `shared`, the weights' bucket with a bucket-wide token that could delete the weights (what stacks did before `own`; keeps an existing volume readable until it is moved; `pulumi up` warns).",
    ),
  userId: z
    .string()
    .regex(/^[0-9a-f]{32}$/, { error: "must be the 32-hex Cloudflare user id that owns the stack's API tokens" })
    .optional()
    .describe(
      'The 32-hex id of the Cloudflare user (dash → My Profile → API Tokens) owning the stack\'s tokens: lets the preview token read them ("API Tokens Read"); unset, it reads the buckets only.',
    ),
  storageReadPermissionGroupId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .default("b4992e1108244f5d8bfbd5744320c2e1")
    .describe("\"Workers R2 Storage Read\" (account), one of the preview token's only two groups: it reads the buckets' settings."),
  tokensReadPermissionGroupId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .default("0cc3a61731504c89b99ec1be78b77aa0")
    .describe('"API Tokens Read" (user), the preview token\'s other group: it reads the tokens the stack manages (with `userId`).'),
});

const s3 = z.strictObject({
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-[0-9]$/, { error: "must be an AWS region such as eu-west-1" })
    .describe("The bucket's AWS region, e.g. `eu-west-1` (required with `provider: s3`)."),
  versioning: z.boolean().default(false).describe("Turns on the bucket's versioning."),
});

const minio = z.strictObject({
  storageSize: quantity
    .optional()
    .describe("MinIO's volume, e.g. `200Gi`; it must hold every model. Unset: the models' sizes × 1.25, at least 20Gi."),
  storageClassName: z
    .string()
    .min(1)
    .optional()
    .describe("The StorageClass of MinIO's volume, e.g. `local-path`; unset, the cluster's default."),
  image: image.default(DEFAULT_IMAGES.minio).describe("The MinIO server image (a pinned release)."),
  clientImage: image.default(DEFAULT_IMAGES.mc).describe("The MinIO client (mc) image of MinIO's setup Job (a pinned release)."),
});

const objectStore = z.strictObject({
  provider: z
    .enum(OBJECT_STORE_PROVIDERS)
    .describe("Where the weights are mirrored: `r2` (Cloudflare R2, zero egress), `s3` (AWS S3) or `minio` (an in-cluster MinIO)."),
  bucket: z
    .string()
    .regex(BUCKET, { error: "must be a bucket name: 3-63 lowercase letters, digits, '.' or '-'" })
    .describe(
      "The bucket's name, e.g. `llm-models`: 3–63 lowercase letters, digits, `.` or `-`. With `juicefs` on R2 the volume's own bucket `<bucket>-juicefs` must fit in 63 too.",
    ),
  protect: z
    .boolean()
    .default(true)
    .describe("Protects the bucket, so `pulumi destroy` keeps the weights; `false` lets Pulumi delete it (an explicit opt-out)."),
  r2: r2.optional().describe("Cloudflare R2's settings, with `provider: r2` (where `accountId` is required)."),
  s3: s3.optional().describe("AWS S3's settings, with `provider: s3` (where `region` is required)."),
  minio: minio.optional().describe("The in-cluster MinIO's settings, with `provider: minio`."),
});

const preload = z.strictObject({
  image: image
    .default(DEFAULT_IMAGES.s5cmd)
    .describe("The image the `s5cmd` binary of the mirror and preload Jobs comes from (through an emptyDir)."),
  numWorkers: positiveInt.max(1024).default(64).describe("s5cmd's workers in a preload (`--numworkers`)."),
  concurrency: positiveInt
    .max(256)
    .default(32)
    .describe("Parts in flight per file: s5cmd's `cp --concurrency` in a preload, and the mirror's upload (boto3)."),
  partSizeMiB: positiveInt
    .min(5)
    .max(5120)
    .default(32)
    .describe(
      "The part size in MiB of the preloads (`cp --part-size`) and of the mirror's upload, at least 5 (the S3 multipart minimum); the mirror sends each part's SHA-256, so the store refuses bytes that differ from the ones hashed.",
    ),
});

const hostPath = z.strictObject({
  root: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "must be an absolute path" })
    .refine((p) => !["/", "/etc", "/var", "/usr", "/root", "/home"].includes(p.replace(/\/+$/, "") || "/"), {
      error: "must be a dedicated directory, not a system directory",
    })
    .default("/var/lib/llm-models")
    .describe(
      "The node directory the models are preloaded into: an absolute path of its own, not `/`, `/etc`, `/var`, `/usr`, `/root` or `/home`.",
    ),
  nodeName: z
    .string()
    .min(1)
    .optional()
    .describe("The node holding the models, required for `replicas > 1`; unset, the pods go to the node labelled `nodeLabel`."),
  nodeLabel: z
    .string()
    .min(1)
    .default("llm-serving.io/model-host")
    .describe("The label of the model node, set with `kubectl label node <n> llm-serving.io/model-host=true`."),
});

const localPath = z.strictObject({
  storageClassName: z.string().min(1).default("local-path").describe("The StorageClass of each pod's claim."),
  headroomPercent: z
    .number()
    .int()
    .min(0)
    .max(200)
    .default(20)
    .describe("Room beyond the model in each claim, in percent: claim = sizeGiB × (1 + headroom) + 1 GiB."),
});

const longhorn = z.strictObject({
  storageClassName: z
    .string()
    .min(1)
    .optional()
    .describe(
      "The StorageClass of the volumes; unset, `longhorn-models-<namespace>`, so stacks sharing a cluster never fight over one object.",
    ),
  createStorageClass: z
    .boolean()
    .default(true)
    .describe("Creates that StorageClass (provisioner `driver.longhorn.io`, reclaim policy `Retain`)."),
  numberOfReplicas: positiveInt.max(5).default(2).describe("Longhorn's replicas of each volume."),
  dataLocality: z
    .enum(["disabled", "best-effort", "strict-local"])
    .default("best-effort")
    .describe("Longhorn's data locality of the volumes."),
  headroomPercent: z
    .number()
    .int()
    .min(0)
    .max(200)
    .default(20)
    .describe("Room beyond the model in each volume, in percent; raise it to ~110 to roll to a new revision in place."),
});

const helmInstall = z.strictObject({
  enabled: z.boolean().default(false).describe("Installs the chart with Helm; `false` expects it in the cluster already."),
  namespace: dnsLabel(63).describe("The namespace the chart is installed into."),
  chartVersion: z
    .string()
    .regex(/^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$/, {
      error: "must be an exact chart version such as 1.0.6",
    })
    .describe("The exact chart version, e.g. `1.0.6`."),
  repository: z.string().url().describe("The Helm repository's URL."),
});

/** A chart's install settings with its defaults filled in (`enabled` off unless set). */
function helmInstallWith(defaults: { namespace: string; chartVersion: string; repository: string }) {
  return helmInstall
    .partial()
    .default({})
    .transform((v) => ({
      enabled: v.enabled ?? false,
      namespace: v.namespace ?? defaults.namespace,
      chartVersion: v.chartVersion ?? defaults.chartVersion,
      repository: v.repository ?? defaults.repository,
    }));
}

const fluid = z.strictObject({
  runtime: z.enum(["alluxio"]).default("alluxio").describe("The Fluid runtime of the cache: `alluxio`, an AlluxioRuntime."),
  install: helmInstallWith({
    namespace: "fluid-system",
    chartVersion: "1.0.6",
    repository: "https://fluid-cloudnative.github.io/charts",
  }).describe("Helm-installs Fluid itself (its chart 1.0.6 into `fluid-system` unless set otherwise)."),
  cacheMedium: z
    .enum(["MEM", "SSD", "HDD"])
    .default("SSD")
    .describe("The cache workers' medium; `MEM` uses `/dev/shm` instead of `cachePath`."),
  cachePath: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "must be an absolute path" })
    .default("/var/lib/fluid-cache")
    .describe("The node directory of the cache (an absolute path), with `cacheMedium` `SSD` or `HDD`."),
  cacheQuotaGiB: giB
    .optional()
    .describe(
      "The cache's quota in GiB, at least every model's size; unset, the model's size × 1.1. The quota evicts, so no revision cleanup runs.",
    ),
  replicas: positiveInt.max(64).default(1).describe("Cache workers; more than 1 lets the model's replicas spread."),
});

const juicefs = z.strictObject({
  install: helmInstallWith({
    namespace: "kube-system",
    chartVersion: "0.30.2",
    repository: "https://juicedata.github.io/charts/",
  }).describe("Helm-installs the JuiceFS CSI driver (its chart 0.30.2 into `kube-system` unless set otherwise)."),
  volumeName: dnsLabel(40)
    .default("llm-models")
    .describe(
      "The JuiceFS volume's name: the prefix in the bucket its own credential may write and delete under; not `models` (the mirror's).",
    ),
  storageClassName: z
    .string()
    .min(1)
    .optional()
    .describe("The StorageClass of the claims; unset, `juicefs-<namespace>`: the class points at this namespace's volume Secret."),
  cacheDir: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "must be an absolute path" })
    .default("/var/jfsCache")
    .describe("The node directory of JuiceFS' cache (an absolute path)."),
  cacheSizeGiB: giB.default(200).describe("The node cache's size in GiB; it must hold the largest model."),
  redis: z
    .strictObject({
      mode: z
        .enum(["inCluster", "external"])
        .default("inCluster")
        .describe("`inCluster`: a Redis the stack runs (AOF on a claim); `external`: yours, its URL in the secret `juicefsRedisUrl`."),
      image: image.default(DEFAULT_IMAGES.redis).describe("The in-cluster Redis image."),
      storageSize: quantity.default("10Gi").describe("The in-cluster Redis' volume, a Kubernetes quantity."),
      storageClassName: z
        .string()
        .min(1)
        .optional()
        .describe("The StorageClass of the in-cluster Redis' volume; unset, the cluster's default."),
      database: z
        .number()
        .int()
        .min(0)
        .max(15)
        .default(1)
        .describe("The Redis database (0–15) holding the volume's metadata; a volume moved to a new bucket needs a fresh one."),
    })
    .default({ mode: "inCluster", image: DEFAULT_IMAGES.redis, storageSize: "10Gi", database: 1 })
    .describe("The Redis holding the JuiceFS volume's metadata."),
});

const s3Streaming = z.strictObject({
  concurrency: positiveInt
    .max(256)
    .optional()
    .describe(
      "The Run:ai streamer's reader threads. Unset: 2 per CPU of `models[].cpu` (4–64), from `npm run bench:load` (BENCHMARKS.md section 3): 1 GPU (2 CPUs) → 4, 8 GPUs (16 CPUs) → 32.",
    ),
  chunkSizeMiB: z
    .number()
    .int()
    .min(5)
    .max(256)
    .optional()
    .describe(
      "MiB per S3 request (`RUNAI_STREAMER_CHUNK_BYTESIZE`), at least 5. Unset: 128 MiB ÷ concurrency (8–64), keeping 128 MiB in flight: 1 GPU → 4 × 32 MiB, 8 GPUs → 32 × 8 MiB.",
    ),
  memoryLimitBytes: positiveInt
    .optional()
    .describe(
      "The streamer's CPU buffer cap in bytes (`RUNAI_STREAMER_MEMORY_LIMIT`); unset, the streamer's own: 40 GB, unlimited when distributed (read in runai-model-streamer 0.17.1).",
    ),
  requestTimeoutMs: positiveInt
    .max(600_000)
    .default(30_000)
    .describe(
      "`RUNAI_STREAMER_S3_REQUEST_TIMEOUT_MS`: the streamer aborts and retries a request whose transfer stays below its low-speed limit this long, in ms; its own default (1000 ms) is too short for MinIO or R2 under load.",
    ),
  maxConnections: positiveInt
    .max(1024)
    .optional()
    .describe(
      "S3 connections per client (`RUNAI_STREAMER_S3_MAX_CONNECTIONS`; the variables' names are from runai-model-streamer's S3 client source); unset, the AWS SDK's default.",
    ),
});

const storage = z.strictObject({
  strategy: z
    .enum(STORAGE_STRATEGIES)
    .describe(
      "How the weights get from the bucket to the GPUs (see [Choosing a storage strategy](../README.md#choosing-a-storage-strategy)).",
    ),
  keepRevisions: positiveInt
    .max(20)
    .default(1)
    .describe(
      "Verified revisions a model's cache keeps, the served one included; older ones are removed once the new one serves (hostPath, localPath, longhorn, juicefs). `2` keeps the previous one on disk for a quick roll back.",
    ),
  preload: preload
    .prefault({})
    .describe(
      "s5cmd's tuning of the mirror and preload Jobs; its defaults were measured (BENCHMARKS.md): more, smaller parts in flight beat fewer, larger ones.",
    ),
  hostPath: hostPath.optional().describe("`hostPath`'s settings: one node's directory, filled once by a pinned preload Job."),
  localPath: localPath.optional().describe("`localPath`'s settings: one local-path claim per pod, filled by an init container."),
  longhorn: longhorn.optional().describe("`longhorn`'s settings: one replicated ReadWriteMany volume per model."),
  fluid: fluid.optional().describe("`fluid`'s settings: Alluxio cache workers next to the GPUs, pre-warmed by a DataLoad."),
  juicefs: juicefs
    .optional()
    .describe("`juicefs`'s settings: a JuiceFS filesystem in the bucket, its metadata in Redis, a cache on each node."),
  s3Streaming: s3Streaming
    .optional()
    .describe("`s3Streaming`'s settings: the engines stream the safetensors from the bucket with the Run:ai streamer."),
});

const hicache = z.strictObject({
  ratio: z
    .number()
    .gt(1)
    .max(64)
    .optional()
    .describe(
      "The host KV pool as a multiple of the GPU's KV pool (`--hicache-ratio`); unset, SGLang's 2. Set `ratio` or `sizeGiB`, not both.",
    ),
  sizeGiB: giB.optional().describe("The host KV pool per tensor-parallel rank (`--hicache-size`, in GB); it overrides `ratio` in SGLang."),
  writePolicy: z
    .enum(["write_through", "write_through_selective", "write_back"])
    .default("write_through")
    .describe("`--hicache-write-policy`."),
  memLayout: z
    .enum(["layer_first", "page_first", "page_first_direct", "page_first_kv_split", "page_head"])
    .optional()
    .describe("`--hicache-mem-layout`; unset, SGLang's default."),
  ioBackend: z.enum(["direct", "kernel"]).optional().describe("`--hicache-io-backend`; unset, SGLang's default."),
  storageBackend: z
    .enum(["file", "mooncake", "hf3fs", "nixl", "aibrix", "eic", "dynamic"])
    .optional()
    .describe("The L3 storage backend (`--hicache-storage-backend`); unset, no L3."),
  prefetchPolicy: z
    .enum(["best_effort", "wait_complete", "timeout"])
    .optional()
    .describe("`--hicache-storage-prefetch-policy`, only with a `storageBackend`."),
  storageDirGiB: giB
    .default(100)
    .describe(
      "The L3 directory's size in GiB with `storageBackend: file`: a shared ReadWriteMany claim on `juicefs` and `longhorn`, an emptyDir on the node-local strategies.",
    ),
  extraConfig: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("Passed as JSON in `--hicache-storage-backend-extra-config`, only with a `storageBackend`."),
});

export const AUTOSCALING_METRICS = ["waiting", "running", "kvCacheUsage"] as const;

const autoscaling = z.strictObject({
  minReplicas: z.number().int().min(1).max(64).default(1).describe("The replicas the server starts with, and the fewest KEDA keeps."),
  maxReplicas: z.number().int().min(1).max(64).describe("The most replicas KEDA scales the server to."),
  metric: z
    .enum(AUTOSCALING_METRICS)
    .default("waiting")
    .describe(
      "The engine metric KEDA scales on: `waiting`, the queue depth per replica; `running`, the requests per replica; `kvCacheUsage`, the mean KV-cache usage (0..1).",
    ),
  target: z
    .number()
    .positive()
    .describe(
      "The value per replica (`waiting`, `running`) or the mean (`kvCacheUsage`, a fraction such as `0.8`) KEDA keeps the model at.",
    ),
});

const model = z.strictObject({
  name: dnsLabel(40).describe(
    "The model's name, unique in the stack: the served model name and the prefix of its objects (a DNS-1123 label).",
  ),
  huggingFace: z
    .string()
    .regex(HF_REPO, { error: "must be a Hugging Face repo id such as Qwen/Qwen2.5-7B-Instruct" })
    .describe("The Hugging Face repo id, e.g. `Qwen/Qwen2.5-7B-Instruct`."),
  revision: z
    .string()
    .regex(REVISION, { error: "must be a branch, tag or 40-hex commit" })
    .default("main")
    .describe("The branch, tag or commit to serve; pin a 40-hex commit (`prod` requires one)."),
  engine: z
    .enum(ENGINES)
    .describe("The inference engine: vLLM, SGLang, or NVIDIA Dynamo (a frontend and workers running `models[].dynamo.backend`)."),
  sizeGiB: giB.describe(
    "The model's size in GiB, e.g. `16`: sizes the caches, claims, memory and the startup budget; the mirror refuses files exceeding it by more than 10 %.",
  ),
  replicas: z.number().int().min(1).max(64).default(1).describe("Server pods; not with `autoscaling`."),
  gpus: z
    .number()
    .int()
    .min(1)
    .max(16)
    .default(1)
    .describe("GPUs per replica, the tensor parallel size; with `nodes` > 1, the GPUs of each node of the group."),
  nodes: z
    .number()
    .int()
    .min(1)
    .max(16)
    .default(1)
    .describe(
      "Nodes per replica: above 1, a LeaderWorkerSet of that many pods (one per node, `gpus` each) serves the model as one group (see [Models larger than one node](engines.md#models-larger-than-one-node)).",
    ),
  multiNode: z
    .strictObject({
      mode: z
        .enum(MULTI_NODE_MODES)
        .optional()
        .describe(
          "How a group splits the model: vLLM `pipeline` (tensor parallel within a node, pipeline across nodes; its default) or `data` (a data-parallel rank per node, the MoE form); SGLang `tensor` (tensor parallel across all the group's GPUs; its default).",
        ),
      port: z
        .number()
        .int()
        .min(1024)
        .max(65535)
        .default(29500)
        .describe("The leader's rendezvous port (vLLM `--master-port` / `--data-parallel-rpc-port`, SGLang `--dist-init-addr`)."),
      resources: z
        .record(
          z.string().regex(/^[a-z0-9.-]+\/[a-z0-9_.-]+$/, { error: "must be an extended resource name such as rdma/ib" }),
          z.string().regex(/^[0-9]+$/, { error: 'must be a whole count such as "1"' }),
        )
        .default({})
        .describe('Extra per-node resources for the interconnect, requested and limited on every member, e.g. `{ rdma/ib: "1" }`.'),
    })
    .optional()
    .describe("Settings of a group spanning nodes (`nodes` > 1)."),
  maxModelLen: positiveInt
    .optional()
    .describe(
      "The context length in tokens, e.g. `32768` (vLLM `--max-model-len`, SGLang `--context-length`); unset, the engine's default.",
    ),
  gpuMemoryUtilization: z
    .number()
    .gt(0)
    .max(1)
    .optional()
    .describe(
      "The GPU memory fraction, e.g. `0.9` (vLLM `--gpu-memory-utilization`, SGLang `--mem-fraction-static`); unset, the engine's default.",
    ),
  gpuMemoryGiB: giB
    .default(80)
    .describe(
      "Memory of one GPU of the nodes the model runs on, in GiB: sizes SGLang HiCache's host pool (`components/serving/memory.ts`).",
    ),
  image: image
    .optional()
    .describe(
      "The engine image, pinned by tag or digest; unset, the pinned default (`vllm/vllm-openai:v0.33.0`, `lmsysorg/sglang:v0.5.23`). Required for SGLang with `s3Streaming`, and with `kubernetes.cudaVersion: 12`.",
    ),
  extraArgs: z
    .array(z.string())
    .default([])
    .describe(
      "Engine arguments, appended last; the flags the stack sets (`--host`, `--port`, `--served-model-name`, `--api-key`, …) are refused.",
    ),
  mirror: z
    .boolean()
    .default(true)
    .describe(
      "`false`: no bucket; the engine downloads from Hugging Face itself, into ephemeral storage it requests (refused above 200 GiB of it).",
    ),
  include: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe(
      "Globs of repo paths to mirror (`*` crosses `/`). Unset, what the engines load: `*.safetensors`, `*.json`, `*.model`, `*.tiktoken`, `*.txt`, `*.jinja`, `*.py`, plus `*.bin` (else `*.pt`) only for repos without safetensors, so Llama's `original/` checkpoint is never mirrored.",
    ),
  exclude: z.array(z.string().min(1)).default([]).describe("Globs removed from `include`."),
  cpu: z
    .string()
    .regex(/^[0-9]+(\.[0-9]+|m)?$/, { error: "must be a CPU quantity such as 4 or 500m" })
    .optional()
    .describe("The server's CPU, request = limit, e.g. `4` or `500m`; unset, 2 × `gpus`."),
  memory: quantity
    .optional()
    .describe(
      "The server's memory, request = limit; unset, sizeGiB × 1.2 + 8Gi + shm + the HiCache host pool. A value below 8Gi + shm + the HiCache host pool is refused.",
    ),
  startup: z
    .strictObject({
      budgetSeconds: positiveInt
        .max(24 * 3600)
        .optional()
        .describe("Overrides the startup probe's budget in seconds; unset, computed from the size, the strategy and the engine."),
      warmupSeconds: positiveInt.max(3600).optional().describe("The engine's warm-up in seconds; unset, vLLM 120, SGLang 90."),
      bandwidthMiBps: z
        .number()
        .positive()
        .optional()
        .describe("Overrides the read bandwidth the budget expects, in MiB/s; unset, the strategy's."),
      pullSeconds: z
        .number()
        .int()
        .min(0)
        .max(24 * 3600)
        .optional()
        .describe(
          "Seconds for scheduling the server and pulling its image, added to the budget in Pulumi's await; unset, 300. Lower it where images are pre-pulled or local, so a server that cannot start fails `pulumi up` sooner.",
        ),
    })
    .default({})
    .describe("The startup budget's inputs: the probe never kills a loading pod (see [Startup budget](engines.md#startup-budget))."),
  dynamo: z
    .strictObject({
      backend: z
        .enum(DYNAMO_BACKENDS)
        .describe("The engine the Dynamo workers run (`python3 -m dynamo.vllm` or `dynamo.sglang`), in its Dynamo runtime image."),
      frontendReplicas: z
        .number()
        .int()
        .min(1)
        .max(16)
        .default(1)
        .describe("Replicas of the Dynamo frontend (the OpenAI-compatible HTTP server and router, no GPU)."),
      routerMode: z
        .enum(["round-robin", "random", "kv"])
        .default("round-robin")
        .describe("How the frontend picks a worker (`--router-mode`): `kv` routes by KV-cache overlap (needs the platform's NATS)."),
    })
    .optional()
    .describe("Settings only Dynamo reads; required with `engine: dynamo` (see [NVIDIA Dynamo](engines.md#nvidia-dynamo))."),
  sglang: z
    .strictObject({
      hicache: hicache.optional().describe("SGLang's hierarchical KV cache (see [SGLang HiCache](engines.md#sglang-hicache)); unset, off."),
    })
    .optional()
    .describe("Settings only SGLang reads."),
  nodeSelector: nodeSelector
    .optional()
    .describe(
      "This model's node labels, merged key by key over `kubernetes.nodeSelector`; its server, preload, cleanup and smoke Jobs follow. A hostPath model stays on its node: a key that moves it is refused (`models[i].nodeSelector.<key>`).",
    ),
  tolerations: z.array(toleration).optional().describe("This model's tolerations, replacing `kubernetes.tolerations`."),
  priorityClassName: priorityClassName
    .optional()
    .describe("This model's PriorityClass, e.g. `llm-high`, over `kubernetes.priorityClassName`."),
  runtimeClassName: z.string().min(1).optional().describe("This model's RuntimeClass, e.g. `nvidia`, over `kubernetes.runtimeClassName`."),
  gpuResource: gpuResource
    .optional()
    .describe("This model's GPU resource, e.g. `nvidia.com/mig-1g.10gb` (a MIG profile), over `kubernetes.gpuResource`."),
  rollout: z
    .enum(["recreate", "surge"])
    .default("recreate")
    .describe(
      "How a change rolls out: `recreate`, old pods go first (for nodes without a spare GPU); `surge`, the new revision is cached first (its preload / DataLoad completes before the workload changes), then `maxSurge: 1, maxUnavailable: 0`, so old pods serve until new ones are Ready (needs a spare GPU; refused on localPath; see [Zero-downtime revision rolls](operations.md#zero-downtime-revision-rolls)).",
    ),
  autoscaling: autoscaling
    .optional()
    .describe(
      "A KEDA ScaledObject on the engine's own metrics, e.g. `{ minReplicas: 1, maxReplicas: 4, metric: waiting, target: 5 }`; needs `observability.prometheus.enabled` and `serverAddress` (see [Autoscaling](operations.md#autoscaling)).",
    ),
});

const labelMap = z.record(z.string(), z.string());

const observability = z.strictObject({
  prometheus: z
    .strictObject({
      enabled: z
        .boolean()
        .default(false)
        .describe("A PodMonitor per model (Prometheus Operator, whose CRDs must be installed) scraping the engine's `/metrics`."),
      labels: labelMap
        .default({})
        .describe("Labels your Prometheus' podMonitorSelector matches, e.g. `{ release: kube-prometheus-stack }`."),
      interval: z
        .string()
        .regex(/^[0-9]+(s|m)$/, { error: "must be a Prometheus duration such as 15s or 1m" })
        .default("15s")
        .describe("The scrape interval, a Prometheus duration such as `15s` or `1m`."),
      serverAddress: z
        .string()
        .regex(/^https?:\/\/[^\s/]+(:[0-9]+)?(\/\S*)?$/, {
          error: "must be an http(s) URL such as http://prometheus-operated.monitoring.svc:9090",
        })
        .optional()
        .describe(
          "The Prometheus KEDA queries, required by `models[].autoscaling`, e.g. `http://prometheus-operated.monitoring.svc:9090`.",
        ),
    })
    .prefault({})
    .describe("Scraping the engines' metrics (see [Metrics](operations.md#metrics))."),
  grafana: z
    .strictObject({
      dashboard: z
        .boolean()
        .default(true)
        .describe("A dashboard ConfigMap (`llm-serving-dashboard`) for Grafana's sidecar, with `prometheus.enabled`."),
      labels: labelMap
        .default({ grafana_dashboard: "1" })
        .describe("The labels the sidecar watches (kube-prometheus-stack: `grafana_dashboard=1`)."),
    })
    .prefault({})
    .describe("A Grafana dashboard of the models."),
});

const compileCache = z.strictObject({
  enabled: z
    .boolean()
    .default(false)
    .describe("Persists the engines' compile and JIT caches (torch.compile, Triton, Inductor, FlashInfer, CUDA) on each node."),
  hostPath: z
    .string()
    .regex(/^\/[^\s]*[^/\s]$/, { error: "must be an absolute directory path such as /var/cache/llm-serving/compile" })
    .default("/var/cache/llm-serving/compile")
    .describe(
      "The node directory holding them, one subdirectory per engine image × revision × TP size × GPU product; another one must be added to the policy `hostpath-only-in-dev`'s `nodeCacheRoots`.",
    ),
  sizeGiB: giB.default(50).describe("Cap in GiB for everything under `hostPath` on a node; the least recently used caches go first."),
});

const networkPolicy = z.strictObject({
  enabled: z
    .boolean()
    .optional()
    .describe(
      "NetworkPolicies: each model admits only its clients; MinIO and Redis only theirs; Jobs reach only what they need. Unset: on in `prod`, else off; on with no client is refused.",
    ),
  clientPodLabels: labelMap.optional().describe("Labels of the pods of the serving namespace that may call the models."),
  clientNamespaceLabels: labelMap.optional().describe("Labels of the namespaces whose pods may call the models."),
  prometheusNamespace: dnsLabel(63)
    .default("monitoring")
    .describe("Where Prometheus runs (it scrapes `/metrics` with `observability.prometheus`)."),
});

const previewIdentity = z.strictObject({
  enabled: z
    .boolean()
    .optional()
    .describe(
      "A ServiceAccount that can only get, list and watch what the stack manages (no Secrets), its kubeconfig the secret output `previewKubeconfig`; on R2 also a read-only Cloudflare token. Unset: on in `prod`, else off.",
    ),
  server: z
    .string()
    .regex(/^https:\/\/[^\s/]+(\/[^\s]*)?$/, { error: "must be the https URL of the API server, such as https://k8s.example.com:6443" })
    .optional()
    .describe(
      "The API server URL written into the preview kubeconfig; unset, the server of the kubeconfig context the stack deploys with.",
    ),
  tokenGeneration: positiveInt
    .max(9999)
    .default(1)
    .describe("Bump it to rotate the token: the Secret holding it is replaced, so the previous token stops working at once."),
});

/** Config keys set with `pulumi config set --secret`, read apart from the rest so they stay secrets. */
export const SECRET_KEYS = ["hfToken", "juicefsRedisUrl", "apiKey", "apiKeys"] as const;

export const stackConfigSchema = z.strictObject({
  environment: z
    .enum(ENVIRONMENTS)
    .describe(
      "What the stack is: only `local` and `dev` may use `storage.strategy: hostPath`, and `prod` serves only 40-hex revisions (as the policy pack's `hostpath-only-in-dev` and `models-pinned-to-commit`).",
    ),
  kubernetes: kubernetes
    .default({
      namespace: "llm",
      createNamespace: true,
      skipAwait: false,
      gpuResource: "nvidia.com/gpu",
      cudaVersion: 13,
    })
    .describe("The cluster, the namespace and the model servers' placement."),
  objectStore: objectStore.describe("The bucket the weights are mirrored into, and its provider."),
  storage: storage.describe("How the weights get from the bucket next to the GPUs."),
  models: z.array(model).min(1, { error: "must list at least one model" }).describe("The models to serve, at least one."),
  observability: observability.prefault({}).describe("Metrics (Prometheus) and a dashboard (Grafana)."),
  networkPolicy: networkPolicy
    .prefault({})
    .describe(
      "Who may call the models, and what the stack's pods may reach (see [An authenticated endpoint](operations.md#an-authenticated-endpoint)).",
    ),
  previewIdentity: previewIdentity
    .prefault({})
    .describe(
      "A read-only identity for `pulumi preview` in CI, created by the stack (`components/previewIdentity.ts`; see [Policy pack and CI](policies-and-ci.md)); bump `tokenGeneration` to rotate its token.",
    ),
  compileCache: compileCache
    .prefault({})
    .describe(
      "Node-local compile and JIT caches, so restarts compile less (see [Persistent compile caches](engines.md#persistent-compile-caches)).",
    ),
  lws: z
    .strictObject({
      install: helmInstallWith({ namespace: "lws-system", chartVersion: "0.9.0", repository: "oci://registry.k8s.io/lws/charts" }).describe(
        "Helm-installs the LeaderWorkerSet controller (chart `lws` 0.9.0 from `oci://registry.k8s.io/lws/charts` into `lws-system` unless set otherwise).",
      ),
    })
    .prefault({})
    .describe("The LeaderWorkerSet controller the models with `nodes` > 1 need."),
  dynamo: z
    .strictObject({
      install: helmInstallWith({
        namespace: "dynamo-system",
        chartVersion: "1.6.1",
        repository: "https://helm.ngc.nvidia.com/nvidia/ai-dynamo",
      }).describe(
        "Helm-installs the Dynamo platform (operator, its CRDs and NATS: chart `dynamo-platform` 1.6.1 into `dynamo-system` unless set otherwise).",
      ),
    })
    .prefault({})
    .describe("The NVIDIA Dynamo platform the `engine: dynamo` models need (see [NVIDIA Dynamo](engines.md#nvidia-dynamo))."),
  images: z
    .strictObject({
      python: image
        .default(DEFAULT_IMAGES.python)
        .describe(
          "The Python image of the mirror, preload, check and housekeeping steps (the other images: `models[].image`, `objectStore.minio.image` / `clientImage`, `storage.preload.image`, `storage.juicefs.redis.image`).",
        ),
    })
    .prefault({})
    .describe("Images with no other key."),
  huggingFace: z
    .strictObject({
      endpoint: z
        .string()
        .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, { error: "must be an http(s) URL such as https://hf-mirror.example.com" })
        .optional()
        .describe(
          "A Hub mirror or artifact proxy speaking the Hub's API, e.g. `https://hf-mirror.example.com`: `HF_ENDPOINT` of the mirror Jobs and of `mirror: false` servers; unset, the public Hub.",
        ),
    })
    .prefault({})
    .describe("Where models come from."),
  hfToken: z
    .string()
    .optional()
    .describe("The Hugging Face token, for gated models; set with `pulumi config set --secret llm-serving:hfToken hf_…`."),
  juicefsRedisUrl: z
    .string()
    .optional()
    .describe(
      "The external Redis of JuiceFS' metadata, required with `storage.juicefs.redis.mode: external`; set with `pulumi config set --secret llm-serving:juicefsRedisUrl redis://…`.",
    ),
  apiKey: z
    .string()
    .optional()
    .describe(
      "The API key every model server requires, at least 16 characters; set with `pulumi config set --secret llm-serving:apiKey …`. Unset (and no `apiKeys`): open endpoints, which `prod` refuses (see [An authenticated endpoint](operations.md#an-authenticated-endpoint)).",
    ),
  apiKeys: z
    .record(z.string(), z.string())
    .optional()
    .describe(
      'A JSON map model → API key, over `apiKey` for the models it names (an entry naming no model is refused); set with `pulumi config set --secret llm-serving:apiKeys \'{"chat": "…"}\'`.',
    ),
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
export type DynamoBackend = (typeof DYNAMO_BACKENDS)[number];
export type DynamoConfig = Parsed["dynamo"];
export type LwsConfig = Parsed["lws"];
export type MultiNodeMode = (typeof MULTI_NODE_MODES)[number];
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
