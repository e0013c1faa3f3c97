/**
 * The storage-strategy axis: how weights get from the bucket to the GPU node.
 *
 * A strategy validates its own config rules, provisions stack-wide pieces once (Redis, a
 * StorageClass, a Helm release) and, per model, returns a `ModelCachePlan` — the only thing the
 * serving layer knows about storage. No strategy-specific branching exists outside its own file.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { minutes, mirrorBudgetSeconds, preloadBudgetSeconds, verifiedCopyBudgetSeconds } from "../budgets";
import {
  ClusterContext,
  podSecurity,
  restrictedContainerSecurity,
  RUN_AS_USER,
  TMP_MOUNT,
  TMP_VOLUME,
  withFailureMessages,
} from "../cluster";
import { ConfigIssue } from "../config/issues";
import { ModelConfig, PreloadConfig, StackConfig, StrategyName } from "../config/schema";
import { labels, modelPrefix } from "../naming";
import { PRELOAD, PRUNE_REVISIONS, runScript, s5cmdCopyFlags, WAIT_FOR_VERIFIED, withScripts } from "../scripts";
import { ModelStore, s3EnvFromSecret } from "../store/modelStore";
import { EngineModelSource } from "../engines/engine";

type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;
type Container = k8s.types.input.core.v1.Container;

/** Where the engine reads the weights from (a strategy never points at Hugging Face). */
export type ModelSource = Exclude<EngineModelSource, { kind: "huggingFace" }>;

/** Expected throughput, used for the startup budget and the start-time estimates (MiB/s). */
export interface Bandwidth {
  /** Filling the cache from the bucket (preload, DataLoad, first read). */
  readonly fillMiBps: number;
  /** The engine reading weights on a cold pod start (the startup-probe budget uses this). */
  readonly serveMiBps: number;
  /** The engine reading weights when the node cache is already warm. */
  readonly warmMiBps: number;
}

export type FillAt = "job" | "initContainer" | "engine";

/** The contract between a storage strategy and the serving layer, per model. */
export interface ModelCachePlan {
  readonly source: ModelSource;
  /** Human-readable description of the loading path (an output). */
  readonly loadingPath: string;
  readonly volumes: Volume[];
  /** Mounts for the engine container (always read-only for weights). */
  readonly volumeMounts: VolumeMount[];
  /** Per-pod claims; non-empty means the server must be a StatefulSet. */
  readonly volumeClaimTemplates: k8s.types.input.core.v1.PersistentVolumeClaim[];
  readonly initContainers: Container[];
  readonly env: k8s.types.input.core.v1.EnvVar[];
  /** Node constraints the pods must satisfy (e.g. the node holding the weights). */
  readonly nodeSelector: Record<string, string>;
  readonly affinity?: k8s.types.input.core.v1.Affinity;
  /** Whether replicas may run on different nodes (enables topology spread). */
  readonly spreadable: boolean;
  /**
   * Where the cache fill happens: a Job before the pod starts (or nothing to fill), an init
   * container of the pod, or the engine container itself (Hub downloads: the startup probe counts it).
   */
  readonly fillAt: FillAt;
  readonly bandwidth: Bandwidth;
  readonly dependsOn: pulumi.Resource[];
  /** A writable directory for SGLang HiCache's `file` L3 backend, when requested. */
  readonly kvCache?: { readonly volume: Volume; readonly mountPath: string; readonly shared: boolean };
  /**
   * A cache shared across pods whose superseded revisions a Job removes once the new revision
   * serves (`storage.keepRevisions`). Absent where the cache bounds itself (Fluid's quota), holds
   * nothing (s3Streaming) or belongs to one pod (localPath prunes in the pod, after its preload).
   */
  readonly revisionCleanup?: RevisionCleanup;
}

/** Where the revision-cleanup Job finds a model's cache. */
export interface RevisionCleanup {
  /** The cache volume; the Job mounts it writable. */
  readonly volume: Volume;
  /** Where the Job must run to see the cache (hostPath: the node holding it). */
  readonly podPlacement: Pick<k8s.types.input.core.v1.PodSpec, "nodeSelector" | "tolerations" | "affinity">;
  /** The uid that owns the cache's files (the preload's writer). */
  readonly uid: number;
}

export interface ModelCacheArgs {
  readonly model: ModelConfig;
  readonly store: ModelStore;
  readonly cluster: ClusterContext;
  readonly preload: PreloadConfig;
  /** The mirror Job, when the model is mirrored by this stack. */
  readonly mirror?: pulumi.Resource;
  /** Whether the model's HiCache uses the `file` L3 backend and needs a writable directory. */
  readonly needsKvCacheDir: boolean;
  /** The model's config key, e.g. `llm-serving:models[0]`, named in the Jobs' errors. */
  readonly configKey: string;
  /** How many verified revisions a cache keeps, the served one included (`storage.keepRevisions`). */
  readonly keepRevisions: number;
}

/** A per-model cache component; every strategy has its own subclass with its own type token. */
export abstract class ModelCache extends pulumi.ComponentResource {
  public abstract readonly plan: ModelCachePlan;
}

/** Everything a strategy may need for its stack-wide resources. */
export interface SharedStorageContext {
  readonly config: StackConfig;
  readonly cluster: ClusterContext;
  readonly store: ModelStore;
  /** External JuiceFS metadata URL (secret), when configured. */
  readonly juicefsRedisUrl?: pulumi.Output<string>;
}

export interface StorageStrategy<Shared = unknown> {
  readonly name: StrategyName;
  /** Cross-field rules this strategy imposes, with key paths. */
  validate(config: StackConfig): ConfigIssue[];
  /** Stack-wide resources, created once before any model. */
  createShared(ctx: SharedStorageContext, parent: pulumi.Resource): Shared;
  createModelCache(name: string, args: ModelCacheArgs, shared: Shared, opts: pulumi.ComponentResourceOptions): ModelCache;
}

/** Weights mount point inside serving pods. */
export const MODELS_MOUNT = "/models";
/** KV-cache (HiCache L3) mount point inside SGLang pods. */
export const KV_CACHE_MOUNT = "/kv-cache";

/** `/models/<org>/<name>/<revision>`: the same relative layout as the bucket. */
export function modelDir(model: ModelConfig, root = MODELS_MOUNT): string {
  return `${root}/${model.huggingFace}/${model.revision}`;
}

/** Claim size for a model copy: size + headroom, rounded up to whole GiB. */
export function claimSizeGiB(sizeGiB: number, headroomPercent: number): number {
  return Math.ceil(sizeGiB * (1 + headroomPercent / 100)) + 1;
}

/** Where the preload pod gets the s5cmd binary from the s5cmd image (see preloadContainers). */
export const PRELOAD_TOOLS_VOLUME: Volume = { name: "preload-tools", emptyDir: { sizeLimit: "128Mi" } };
const TOOLS_MOUNT = "/tools";

/**
 * The preload, as two containers run in order: the s5cmd image hands its binary over through an
 * emptyDir, then the Python image copies from the bucket into `dest`, verifies every sha256 while
 * the copy goes on, and publishes atomically. The Python image because its hashlib (OpenSSL,
 * SHA-NI) hashes ~4x faster than the busybox sha256sum of the Alpine-based s5cmd image
 * (BENCHMARKS.md); one container so that a failed verification restarts the copy, which fetches
 * the deleted files again.
 */
export function preloadContainers(
  args: ModelCacheArgs,
  volumeName: string,
  mountRoot: string,
  capacityKey: string,
  uid = RUN_AS_USER,
): [Container, Container] {
  return [
    s5cmdHandoverContainer(args, uid),
    withS5cmdOnPath({
      name: "preload",
      image: args.cluster.pythonImage,
      command: runScript(PRELOAD, ...s5cmdCopyFlags(args.preload).split(" ")),
      env: [
        { name: "BUCKET", value: args.store.bucket },
        { name: "PREFIX", value: modelPrefix(args.model) },
        { name: "DEST", value: modelDir(args.model, mountRoot) },
        // What to raise when the volume cannot hold the model (named in the error, before copying).
        { name: "CAPACITY_SETTING", value: capacityKey },
        // Without Pulumi's ordering the copy may start before the mirror is done: wait for it, bounded.
        { name: "MANIFEST_WAIT_SECONDS", value: String(mirrorBudgetSeconds(args.model)) },
        ...s3EnvFromSecret(args.store.readerSecretName),
      ],
      // A small reservation, no CPU limit: the copy and its hashing still use every idle core, and a
      // preload waiting for its mirror (GitOps, everything applied at once) cannot hold the CPU the
      // mirror needs to be scheduled. bench:node saw exactly that with cpu: "1" on a 2-core node.
      resources: { requests: { cpu: PRELOAD_CPU_REQUEST, memory: "1Gi" }, limits: { memory: "4Gi" } },
      securityContext: { ...restrictedContainerSecurity(), runAsNonRoot: uid !== 0, runAsUser: uid, runAsGroup: uid },
      volumeMounts: [{ name: volumeName, mountPath: mountRoot }, TMP_MOUNT],
    }),
  ];
}

/** The model's directory of revisions under a cache root: `<root>/<org>/<name>`. */
export function modelRevisionsDir(model: ModelConfig, root = MODELS_MOUNT): string {
  return `${root}/${model.huggingFace}`;
}

/** The cleanup command: keep the served revision and the newest others up to `keep`, remove the rest. */
export function pruneRevisionsCommand(model: ModelConfig, keep: number, root = MODELS_MOUNT): pulumi.Input<string>[] {
  return runScript(PRUNE_REVISIONS, modelRevisionsDir(model, root), model.revision, String(keep));
}

/** Init container of a pod that owns its cache (localPath): prune right after its own preload verified. */
export function pruneRevisionsContainer(args: ModelCacheArgs, volumeName: string, uid = RUN_AS_USER): Container {
  return {
    name: "prune-revisions",
    image: args.cluster.pythonImage,
    command: pruneRevisionsCommand(args.model, args.keepRevisions),
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    securityContext: { ...restrictedContainerSecurity(), runAsNonRoot: uid !== 0, runAsUser: uid, runAsGroup: uid },
    volumeMounts: [{ name: volumeName, mountPath: MODELS_MOUNT }],
  };
}

/** The preload's CPU reservation (it may use more: no limit). */
export const PRELOAD_CPU_REQUEST = "250m";

/**
 * A pod evicted by a drain or preemption is retried without counting against backoffLimit. Nothing
 * fails the Job at once (a FailJob rule): Pulumi's Job await only ends on BackoffLimitExceeded or
 * DeadlineExceeded (pulumi/cloud-ready-checks), so a Job failed by its policy would hold `pulumi up`
 * for the whole preload budget; two retries fail it in under a minute instead.
 */
export const PRELOAD_FAILURE_POLICY: k8s.types.input.batch.v1.PodFailurePolicy = {
  rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }],
};

export interface RevisionCleanupJobArgs {
  readonly model: ModelConfig;
  readonly cluster: ClusterContext;
  readonly keepRevisions: number;
}

/**
 * The Job that removes superseded revisions from a shared cache. Created after the model's server
 * (Pulumi waits for it to be Ready, so the new revision is verified and served); named by the
 * revision and kept, so a revision change runs it again and `pulumi refresh` finds it.
 */
export function revisionCleanupJob(
  name: string,
  args: RevisionCleanupJobArgs,
  cleanup: RevisionCleanup,
  opts: pulumi.CustomResourceOptions,
): k8s.batch.v1.Job {
  const { model, cluster } = args;
  const uid = cleanup.uid;
  const pod = withScripts(
    withFailureMessages({
      restartPolicy: "OnFailure",
      automountServiceAccountToken: false,
      securityContext: { ...podSecurity(), runAsNonRoot: uid !== 0, runAsUser: uid, runAsGroup: uid },
      ...cleanup.podPlacement,
      containers: [
        {
          name: "prune-revisions",
          image: cluster.pythonImage,
          command: pruneRevisionsCommand(model, args.keepRevisions),
          resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
          securityContext: { ...restrictedContainerSecurity(), runAsNonRoot: uid !== 0, runAsUser: uid, runAsGroup: uid },
          volumeMounts: [{ name: cleanup.volume.name as string, mountPath: MODELS_MOUNT }],
        },
      ],
      volumes: [cleanup.volume],
    }),
    cluster.scripts,
  );
  return new k8s.batch.v1.Job(
    name,
    {
      metadata: {
        namespace: cluster.namespace,
        labels: labels(model.name, "model-cache-cleanup"),
        annotations: { ...cluster.workloadAnnotations, "llm-serving.io/revision": model.revision },
      },
      spec: {
        backoffLimit: 2,
        template: { metadata: { labels: labels(model.name, "model-cache-cleanup"), annotations: pod.annotations }, spec: pod.spec },
      },
    },
    { ...opts, customTimeouts: { create: "15m" } },
  );
}

/** Copies the s5cmd binary from `storage.preload.image` into PRELOAD_TOOLS_VOLUME for a Python container. */
export function s5cmdHandoverContainer(args: Pick<ModelCacheArgs, "preload">, uid = RUN_AS_USER): Container {
  return {
    name: "s5cmd",
    image: args.preload.image,
    command: ["/bin/sh", "-c", `cp "$(command -v s5cmd || echo /s5cmd)" ${TOOLS_MOUNT}/s5cmd`],
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
    securityContext: { ...restrictedContainerSecurity(), runAsNonRoot: uid !== 0, runAsUser: uid, runAsGroup: uid },
    volumeMounts: [{ name: PRELOAD_TOOLS_VOLUME.name as string, mountPath: TOOLS_MOUNT }],
  };
}

/** A Python container with the handed-over s5cmd first on PATH. */
export function withS5cmdOnPath(container: Container): Container {
  return {
    ...container,
    env: [
      { name: "PATH", value: `${TOOLS_MOUNT}:/usr/local/bin:/usr/bin:/bin` },
      ...((container.env as k8s.types.input.core.v1.EnvVar[]) ?? []),
    ],
    volumeMounts: [
      ...((container.volumeMounts as VolumeMount[]) ?? []),
      { name: PRELOAD_TOOLS_VOLUME.name as string, mountPath: TOOLS_MOUNT, readOnly: true },
    ],
  };
}

/** Init container for serving pods: block until the preloaded copy is verified. */
export function waitForVerifiedContainer(args: ModelCacheArgs, volumeName: string): Container {
  return {
    name: "wait-for-model",
    image: args.preload.image,
    command: runScript(WAIT_FOR_VERIFIED, modelDir(args.model), String(verifiedCopyBudgetSeconds(args.model))),
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
    securityContext: restrictedContainerSecurity(),
    volumeMounts: [{ name: volumeName, mountPath: MODELS_MOUNT, readOnly: true }],
  };
}

/** The single-writer preload Job used by hostPath, longhorn and juicefs. */
export function preloadJob(
  name: string,
  args: ModelCacheArgs,
  volume: Volume,
  podPlacement: Pick<k8s.types.input.core.v1.PodSpec, "nodeSelector" | "tolerations" | "affinity">,
  capacityKey: string,
  opts: pulumi.CustomResourceOptions,
  writerUid = RUN_AS_USER,
): k8s.batch.v1.Job {
  const { model } = args;
  const [copyTools, preload] = preloadContainers(args, volume.name as string, MODELS_MOUNT, capacityKey, writerUid);
  const pod = withScripts(
    withFailureMessages({
      // A new pod per attempt (podFailurePolicy needs it): the copy resumes from what the volume kept.
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      securityContext: { ...podSecurity(), runAsNonRoot: writerUid !== 0, runAsUser: writerUid, runAsGroup: writerUid },
      ...podPlacement,
      initContainers: [copyTools],
      containers: [preload],
      volumes: [volume, PRELOAD_TOOLS_VOLUME, TMP_VOLUME],
    }),
    args.cluster.scripts,
  );
  return new k8s.batch.v1.Job(
    name,
    {
      metadata: {
        namespace: args.cluster.namespace,
        labels: labels(model.name, "model-preload"),
        annotations: args.cluster.workloadAnnotations,
      },
      spec: {
        // s5cmd retries each request itself; a pod that fails is retried twice, resuming from the volume.
        backoffLimit: 2,
        podFailurePolicy: PRELOAD_FAILURE_POLICY,
        // One pod at a time: a single writer, never N replicas downloading.
        parallelism: 1,
        completions: 1,
        template: { metadata: { labels: labels(model.name, "model-preload"), annotations: pod.annotations }, spec: pod.spec },
      },
    },
    {
      ...opts,
      dependsOn: [...args.store.ready, ...(args.mirror ? [args.mirror] : [])],
      customTimeouts: { create: minutes(preloadBudgetSeconds(model)) },
    },
  );
}

/** A node-local scratch directory for HiCache L3 (lost with the pod; refused for replicas > 1). */
export function nodeLocalKvCache(model: ModelConfig): ModelCachePlan["kvCache"] {
  const sizeGiB = model.sglang?.hicache?.storageDirGiB ?? 100;
  return { volume: { name: "kv-cache", emptyDir: { sizeLimit: `${sizeGiB}Gi` } }, mountPath: KV_CACHE_MOUNT, shared: false };
}

/** Refuses models[].autoscaling where the strategy cannot spread replicas (`why` says what holds them). */
export function unspreadableAutoscalingIssues(config: StackConfig, why: string): ConfigIssue[] {
  return config.models.flatMap((m, i) =>
    m.autoscaling
      ? [
          {
            path: ["models", i, "autoscaling"],
            message: `storage.strategy ${JSON.stringify(config.storage.strategy)} cannot spread replicas (${why}); use longhorn, juicefs, s3Streaming or fluid with storage.fluid.replicas > 1`,
          },
        ]
      : [],
  );
}

/** Refuses a node-local HiCache `file` backend for models with replicas > 1. */
export function nodeLocalKvCacheIssues(config: StackConfig): ConfigIssue[] {
  return config.models.flatMap((m, i) =>
    m.sglang?.hicache?.storageBackend === "file" && m.replicas > 1
      ? [
          {
            path: ["models", i, "sglang", "hicache", "storageBackend"],
            message: `"file" needs a directory shared by all ${m.replicas} replicas, but storage.strategy ${JSON.stringify(config.storage.strategy)} only offers a node-local one; use juicefs or longhorn, or replicas: 1`,
          },
        ]
      : [],
  );
}
