/** longhorn: one shared RWX volume per model, filled once by a single-writer Job, mounted read-only. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { placement, RUN_AS_USER } from "../cluster";
import { LonghornConfig, ModelConfig, StackConfig, strategyDefaults } from "../config/schema";
import { labels } from "../naming";
import {
  claimSizeGiB,
  KV_CACHE_MOUNT,
  ModelCache,
  ModelCacheArgs,
  ModelCachePlan,
  MODELS_MOUNT,
  modelDir,
  preloadJob,
  StorageStrategy,
  waitForVerifiedContainer,
} from "./strategy";

/** Longhorn settings with the StorageClass name resolved. */
export type LonghornSettings = LonghornConfig & { readonly storageClassName: string };

export function longhornSettings(config: StackConfig): LonghornSettings {
  const settings = config.storage.longhorn ?? strategyDefaults.longhorn();
  return { ...settings, storageClassName: settings.storageClassName ?? `longhorn-models-${config.kubernetes.namespace}` };
}

/** StorageClass parameters for model caches: replicated, data kept local to the reader when possible. */
export function longhornStorageClassArgs(settings: LonghornSettings): k8s.storage.v1.StorageClassArgs {
  return {
    metadata: { name: settings.storageClassName, labels: labels(settings.storageClassName, "storage-class") },
    provisioner: "driver.longhorn.io",
    reclaimPolicy: "Retain",
    allowVolumeExpansion: true,
    volumeBindingMode: "Immediate",
    parameters: {
      numberOfReplicas: String(settings.numberOfReplicas),
      dataLocality: settings.dataLocality,
      staleReplicaTimeout: "30",
    },
  };
}

/** An RWX claim that outlives the serving layer (retainOnDelete + Retain reclaim policy). */
export function sharedClaim(
  name: string,
  claimName: string,
  model: ModelConfig,
  storageClassName: string,
  sizeGiB: number,
  namespace: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): k8s.core.v1.PersistentVolumeClaim {
  return new k8s.core.v1.PersistentVolumeClaim(
    name,
    {
      metadata: { name: claimName, namespace, labels: labels(model.name, "model-cache"), annotations: { "pulumi.com/skipAwait": "true" } },
      spec: { accessModes: ["ReadWriteMany"], storageClassName, resources: { requests: { storage: `${sizeGiB}Gi` } } },
    },
    { ...opts, retainOnDelete: true },
  );
}

export class LonghornModelCache extends ModelCache {
  public readonly plan: ModelCachePlan;

  constructor(name: string, args: ModelCacheArgs, shared: LonghornShared, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:storage:LonghornModelCache", name, {}, opts);
    const { settings } = shared;
    const child = { parent: this, dependsOn: shared.storageClass ? [shared.storageClass] : [] };
    const size = claimSizeGiB(args.model.sizeGiB, settings.headroomPercent);
    const ns = args.cluster.namespace;
    const claim = sharedClaim(`${name}-weights`, `${args.model.name}-weights`, args.model, settings.storageClassName, size, ns, child);
    const volume = { name: "models", persistentVolumeClaim: { claimName: claim.metadata.name } };
    const job = preloadJob(
      `${name}-preload`,
      args,
      volume,
      placement(args.cluster.kubernetes),
      `${args.configKey}.sizeGiB (the claim is sized from it)`,
      { parent: this },
    );
    const kvClaim = args.needsKvCacheDir
      ? sharedClaim(
          `${name}-kv-cache`,
          `${args.model.name}-kv-cache`,
          args.model,
          settings.storageClassName,
          args.model.sglang?.hicache?.storageDirGiB ?? 100,
          ns,
          child,
        )
      : undefined;
    this.plan = {
      source: { kind: "path", path: modelDir(args.model) },
      loadingPath: `Longhorn RWX PVC ${args.model.name}-weights (${size}Gi, ${settings.numberOfReplicas} replicas, dataLocality ${settings.dataLocality})`,
      volumes: [{ name: "models", persistentVolumeClaim: { claimName: claim.metadata.name, readOnly: true } }],
      volumeMounts: [{ name: "models", mountPath: MODELS_MOUNT, readOnly: true }],
      volumeClaimTemplates: [],
      initContainers: [waitForVerifiedContainer(args, "models")],
      env: [],
      nodeSelector: {},
      spreadable: true,
      fillAt: "job",
      bandwidth: { fillMiBps: 200, serveMiBps: 400, warmMiBps: 800 },
      dependsOn: [job],
      kvCache: kvClaim
        ? {
            volume: { name: "kv-cache", persistentVolumeClaim: { claimName: kvClaim.metadata.name } },
            mountPath: KV_CACHE_MOUNT,
            shared: true,
          }
        : undefined,
      revisionCleanup: { volume, podPlacement: placement(args.cluster.kubernetes), uid: RUN_AS_USER },
    };
    this.registerOutputs({ claim: claim.metadata.name });
  }
}

export interface LonghornShared {
  readonly settings: LonghornSettings;
  readonly storageClass?: k8s.storage.v1.StorageClass;
}

export const longhornStrategy: StorageStrategy<LonghornShared> = {
  name: "longhorn",
  validate: () => [],
  createShared({ config }, parent) {
    const settings = longhornSettings(config);
    const storageClass = settings.createStorageClass
      ? new k8s.storage.v1.StorageClass("longhorn-models", longhornStorageClassArgs(settings), { parent })
      : undefined;
    return { settings, storageClass };
  },
  createModelCache: (name, args, shared, opts) => new LonghornModelCache(name, args, shared, opts),
};
