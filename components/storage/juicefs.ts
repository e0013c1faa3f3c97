/** juicefs: JuiceFS CSI volume on the bucket, Redis metadata, one RWX claim per model, a warmup Job. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ClusterContext, placement, podSecurity, restrictedContainerSecurity, RUN_AS_USER, withFailureMessages } from "../cluster";
import { ConfigIssue } from "../config/issues";
import { JuiceFsConfig, StackConfig, strategyDefaults } from "../config/schema";
import { labels, MIRROR_ROOT_PREFIX, selectorLabels } from "../naming";
import { ModelStore } from "../store/modelStore";
import { sharedClaim } from "./longhorn";
import {
  SharedStorageContext,
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

/** JuiceFS settings with the StorageClass name resolved. */
export type JuiceFsSettings = JuiceFsConfig & { readonly storageClassName: string };

export function juicefsSettings(config: StackConfig): JuiceFsSettings {
  const settings = config.storage.juicefs ?? strategyDefaults.juicefs();
  return { ...settings, storageClassName: settings.storageClassName ?? `juicefs-${config.kubernetes.namespace}` };
}

/** Mount options for the StorageClass. R2 cannot list sorted, so metadata backups are off there. */
export function juicefsMountOptions(settings: JuiceFsConfig, provider: ModelStore["provider"]): string[] {
  return [
    `cache-dir=${settings.cacheDir}`,
    `cache-size=${Math.floor(settings.cacheSizeGiB * 1024)}`,
    ...(provider === "r2" ? ["backup-meta=0"] : []),
  ];
}

/** Where the Redis pod mounts its password file (`requirepass`) from the Secret. */
const REDIS_AUTH_DIR = "/etc/redis-auth";
/** The Secret's key holding Redis's password as a config file: never `--requirepass` in argv. */
export const REDIS_AUTH_CONF = "auth.conf";

/**
 * Redis configured as a metadata engine: the password from a config file on the Secret volume
 * (redis-server reads a .conf first argument, then the flags), AOF on every second, never evict a key.
 */
export const REDIS_ARGS = [
  `${REDIS_AUTH_DIR}/${REDIS_AUTH_CONF}`,
  "--appendonly",
  "yes",
  "--appendfsync",
  "everysec",
  "--maxmemory-policy",
  "noeviction",
  "--dir",
  "/data",
];

export interface JuiceFsShared {
  readonly settings: JuiceFsSettings;
  readonly storageClass: k8s.storage.v1.StorageClass;
  readonly dependsOn: pulumi.Resource[];
}

/** The in-cluster Redis pods (its NetworkPolicy selects them). */
export const REDIS_SELECTOR = selectorLabels("juicefs-redis", "metadata-engine");
export const REDIS_PORT = 6379;

/** The stack-wide JuiceFS pieces: optional CSI install, Redis, the volume Secret and StorageClass. */
export class JuiceFsStorage extends pulumi.ComponentResource {
  public readonly shared: JuiceFsShared;

  constructor(name: string, args: SharedStorageContext, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:storage:JuiceFsStorage", name, {}, opts);
    const settings = juicefsSettings(args.config);
    const { cluster, store } = args;
    const ns = cluster.namespace;
    const child = { parent: this };
    const csi = settings.install.enabled
      ? new k8s.helm.v3.Release(
          "juicefs-csi",
          {
            chart: "juicefs-csi-driver",
            version: settings.install.chartVersion,
            namespace: settings.install.namespace,
            repositoryOpts: { repo: settings.install.repository },
          },
          child,
        )
      : undefined;

    let metaUrl: pulumi.Output<string>;
    const dependsOn: pulumi.Resource[] = [...store.ready, ...(csi ? [csi] : [])];
    if (settings.redis.mode === "external") {
      if (!args.juicefsRedisUrl) throw new Error("llm-serving:juicefsRedisUrl is required when storage.juicefs.redis.mode is external");
      metaUrl = pulumi.secret(args.juicefsRedisUrl);
    } else {
      const password = new random.RandomPassword("redis-password", { length: 32, special: false }, child);
      const redisSecret = new k8s.core.v1.Secret(
        "juicefs-redis",
        {
          metadata: { name: "juicefs-redis", namespace: ns, labels: labels("juicefs-redis", "metadata-engine") },
          stringData: { REDIS_PASSWORD: password.result, [REDIS_AUTH_CONF]: pulumi.interpolate`requirepass ${password.result}\n` },
        },
        child,
      );
      const redis = redisStatefulSet(settings, cluster, redisSecret, child);
      dependsOn.push(redis);
      metaUrl = pulumi.secret(
        pulumi.interpolate`redis://:${password.result}@juicefs-redis.${ns}.svc.cluster.local:6379/${settings.redis.database}`,
      );
    }

    if (!store.volume) throw new Error("the object store created no JuiceFS volume credential (storage.strategy is juicefs)");
    const volumeSecret = new k8s.core.v1.Secret(
      "juicefs-volume",
      {
        metadata: { name: `juicefs-${settings.volumeName}`, namespace: ns, labels: labels(settings.volumeName, "juicefs-volume") },
        stringData: {
          name: settings.volumeName,
          metaurl: metaUrl,
          storage: "s3",
          bucket: pulumi.interpolate`${store.endpoint}/${store.volume.bucket}`,
          // JuiceFS writes and deletes chunks under its volume name, with a credential of its own.
          "access-key": store.volume.credentials.accessKeyId,
          "secret-key": store.volume.credentials.secretAccessKey,
        },
      },
      { ...child, dependsOn },
    );
    const storageClass = new k8s.storage.v1.StorageClass(
      "juicefs-models",
      {
        metadata: { name: settings.storageClassName, labels: labels(settings.storageClassName, "storage-class") },
        provisioner: "csi.juicefs.com",
        reclaimPolicy: "Retain",
        allowVolumeExpansion: true,
        volumeBindingMode: "Immediate",
        parameters: {
          "csi.storage.k8s.io/provisioner-secret-name": volumeSecret.metadata.name,
          "csi.storage.k8s.io/provisioner-secret-namespace": ns,
          "csi.storage.k8s.io/node-publish-secret-name": volumeSecret.metadata.name,
          "csi.storage.k8s.io/node-publish-secret-namespace": ns,
        },
        mountOptions: juicefsMountOptions(settings, store.provider),
      },
      child,
    );
    this.shared = { settings, storageClass, dependsOn: [volumeSecret, storageClass] };
    this.registerOutputs({ storageClass: storageClass.metadata.name });
  }
}

function redisStatefulSet(
  settings: JuiceFsSettings,
  cluster: ClusterContext,
  secret: k8s.core.v1.Secret,
  opts: pulumi.CustomResourceOptions,
) {
  const appLabels = labels("juicefs-redis", "metadata-engine");
  const selector = REDIS_SELECTOR;
  new k8s.core.v1.Service(
    "juicefs-redis",
    {
      metadata: { name: "juicefs-redis", namespace: cluster.namespace, labels: appLabels },
      spec: { selector, ports: [{ name: "redis", port: 6379, targetPort: "redis" }] },
    },
    opts,
  );
  return new k8s.apps.v1.StatefulSet(
    "juicefs-redis",
    {
      metadata: { name: "juicefs-redis", namespace: cluster.namespace, labels: appLabels, annotations: cluster.workloadAnnotations },
      spec: {
        serviceName: "juicefs-redis",
        replicas: 1,
        selector: { matchLabels: selector },
        // The filesystem's metadata: losing it loses every file, so the claim is never deleted with the set.
        persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
        template: {
          metadata: { labels: appLabels },
          spec: withFailureMessages({
            automountServiceAccountToken: false,
            securityContext: { ...podSecurity(), runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
            ...placement(cluster.kubernetes),
            containers: [
              {
                name: "redis",
                image: settings.redis.image,
                command: ["redis-server"],
                args: REDIS_ARGS,
                // redis-cli reads REDISCLI_AUTH when no -a is given: the probe keeps the password out of argv.
                env: [{ name: "REDISCLI_AUTH", valueFrom: { secretKeyRef: { name: secret.metadata.name, key: "REDIS_PASSWORD" } } }],
                ports: [{ name: "redis", containerPort: 6379 }],
                readinessProbe: {
                  // -e: an error reply (NOAUTH, LOADING) exits non-zero.
                  exec: { command: ["redis-cli", "-e", "ping"] },
                  periodSeconds: 10,
                },
                livenessProbe: { tcpSocket: { port: "redis" }, periodSeconds: 20, failureThreshold: 6 },
                resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "2Gi" } },
                securityContext: { ...restrictedContainerSecurity(), runAsUser: 999, runAsGroup: 999 },
                volumeMounts: [
                  { name: "data", mountPath: "/data" },
                  { name: "auth", mountPath: REDIS_AUTH_DIR, readOnly: true },
                ],
              },
            ],
            // Readable by the redis group (fsGroup 999) only.
            volumes: [
              {
                name: "auth",
                secret: { secretName: secret.metadata.name, items: [{ key: REDIS_AUTH_CONF, path: REDIS_AUTH_CONF }], defaultMode: 0o440 },
              },
            ],
          }),
        },
        volumeClaimTemplates: [
          {
            metadata: { name: "data", labels: appLabels },
            spec: {
              accessModes: ["ReadWriteOnce"],
              storageClassName: settings.redis.storageClassName,
              resources: { requests: { storage: settings.redis.storageSize } },
            },
          },
        ],
      },
    },
    opts,
  );
}

export class JuiceFsModelCache extends ModelCache {
  public readonly plan: ModelCachePlan;

  constructor(name: string, args: ModelCacheArgs, shared: JuiceFsShared, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:storage:JuiceFsModelCache", name, {}, opts);
    const { settings } = shared;
    const child = { parent: this, dependsOn: shared.dependsOn };
    const size = claimSizeGiB(args.model.sizeGiB, 20);
    const ns = args.cluster.namespace;
    const claim = sharedClaim(`${name}-weights`, `${args.model.name}-weights`, args.model, settings.storageClassName, size, ns, child);
    const volume = { name: "models", persistentVolumeClaim: { claimName: claim.metadata.name } };
    // The warmup Job writes the verified copy into JuiceFS once; every node then reads through its cache.
    const job = preloadJob(
      `${name}-warmup`,
      args,
      volume,
      placement(args.cluster.kubernetes),
      "the JuiceFS volume's quota (juicefs quota) or the object store's capacity",
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
      loadingPath: `JuiceFS RWX PVC ${args.model.name}-weights (volume ${settings.volumeName}, node cache ${settings.cacheSizeGiB} GiB at ${settings.cacheDir})`,
      volumes: [{ name: "models", persistentVolumeClaim: { claimName: claim.metadata.name, readOnly: true } }],
      volumeMounts: [{ name: "models", mountPath: MODELS_MOUNT, readOnly: true }],
      volumeClaimTemplates: [],
      initContainers: [waitForVerifiedContainer(args, "models")],
      env: [],
      nodeSelector: {},
      spreadable: true,
      fillAt: "job",
      bandwidth: { fillMiBps: 150, serveMiBps: 300, warmMiBps: 1200 },
      dependsOn: [job],
      kvCache: kvClaim
        ? {
            volume: { name: "kv-cache", persistentVolumeClaim: { claimName: kvClaim.metadata.name } },
            mountPath: KV_CACHE_MOUNT,
            shared: true,
          }
        : undefined,
      // Removing a revision from JuiceFS deletes its chunks in the bucket (the volume's credential may delete).
      revisionCleanup: { volume, podPlacement: placement(args.cluster.kubernetes), uid: RUN_AS_USER },
    };
    this.registerOutputs({ claim: claim.metadata.name });
  }
}

export const juicefsStrategy: StorageStrategy<JuiceFsShared> = {
  name: "juicefs",
  validate(config) {
    const settings = juicefsSettings(config);
    const issues: ConfigIssue[] = [];
    // The volume's credential may delete under its prefix: it must never be the mirror's.
    if (settings.volumeName === MIRROR_ROOT_PREFIX) {
      issues.push({
        path: ["storage", "juicefs", "volumeName"],
        message: `found "${settings.volumeName}", the bucket prefix the mirrored weights live under; JuiceFS deletes objects under its volume name, so choose another name (default "llm-models")`,
      });
    }
    config.models.forEach((m, i) => {
      if (settings.cacheSizeGiB < m.sizeGiB) {
        issues.push({
          path: ["storage", "juicefs", "cacheSizeGiB"],
          message: `found ${settings.cacheSizeGiB}; models[${i}] (${m.name}) is ${m.sizeGiB} GiB and the node cache must hold it. Expected >= ${m.sizeGiB}`,
        });
      }
    });
    return issues;
  },
  createShared: (ctx, parent) => new JuiceFsStorage("juicefs", ctx, { parent }).shared,
  createModelCache: (name, args, shared, opts) => new JuiceFsModelCache(name, args, shared, opts),
};
