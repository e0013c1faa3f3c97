/** fluid: Dataset (s3 mount) + AlluxioRuntime cache + DataLoad pre-warm; pods follow the cache node. */
import { minutes, preloadBudgetSeconds } from "../budgets";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { placement, podSecurity, restrictedContainerSecurity, TMP_MOUNT, TMP_VOLUME, withFailureMessages } from "../cluster";
import { ConfigIssue } from "../config/issues";
import { FluidConfig, ModelConfig, StackConfig, strategyDefaults } from "../config/schema";
import { labels, modelPrefix, revisionSlug, shortHash } from "../naming";
import { runScript, VERIFY_READ_ONLY, withScripts } from "../scripts";
import { ModelStore } from "../store/modelStore";
import {
  ModelCache,
  ModelCacheArgs,
  ModelCachePlan,
  MODELS_MOUNT,
  nodeLocalKvCache,
  nodeLocalKvCacheIssues,
  StorageStrategy,
  unspreadableAutoscalingIssues,
} from "./strategy";

export function fluidSettings(config: StackConfig): FluidConfig {
  return config.storage.fluid ?? strategyDefaults.fluid();
}

/** Cache quota per model: the configured quota, else the model plus 10%. */
export function fluidQuotaGiB(settings: FluidConfig, model: ModelConfig): number {
  return settings.cacheQuotaGiB ?? Math.ceil(model.sizeGiB * 1.1);
}

/** The label Fluid puts on nodes that hold a dataset's cache. */
export function fluidCacheNodeLabel(namespace: string, dataset: string): string {
  return `fluid.io/s-${namespace}-${dataset}`;
}

/** A label's name part is at most 63 characters; Fluid falls back to another form past that. */
const LABEL_NAME_MAX = 63;
/** The longest namespace that leaves 8 characters for a dataset name in `s-<namespace>-<dataset>`. */
export const FLUID_NAMESPACE_MAX = LABEL_NAME_MAX - "s-".length - "-".length - 8;

/** `<a prefix of text>-<hash>` of at most `max` characters (text itself when it fits). */
function fitted(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 7).replace(/-+$/, "")}-${shortHash(text).slice(0, 6)}`;
}

/** The Dataset (and Runtime, and claim) name: `<model>-weights`, shortened so Fluid's node label fits. */
export function fluidDatasetName(namespace: string, model: string): string {
  return fitted(`${model}-weights`, LABEL_NAME_MAX - "s-".length - "-".length - namespace.length);
}

/** Per-revision names, so a new revision loads and verifies again; short enough for Fluid's Helm releases. */
export function fluidRevisionNames(model: ModelConfig): { dataLoad: string; verify: string } {
  const base = fitted(model.name, 30);
  return { dataLoad: `${base}-load-${revisionSlug(model.revision)}`, verify: `${base}-verify-${revisionSlug(model.revision)}` };
}

/** Dataset spec: the model's bucket prefix, endpoint options, credentials only via encryptOptions. */
export function fluidDatasetSpec(store: ModelStore, model: ModelConfig): Record<string, unknown> {
  return {
    mounts: [
      {
        name: "weights",
        mountPoint: pulumi.interpolate`s3://${store.bucket}/${modelPrefix(model)}/`,
        path: "/",
        options: {
          "alluxio.underfs.s3.endpoint": store.endpoint,
          "alluxio.underfs.s3.endpoint.region": store.region,
          "alluxio.underfs.s3.disable.dns.buckets": String(store.pathStyle),
          "alluxio.underfs.s3.inherit.acl": "false",
        },
        encryptOptions: [
          { name: "aws.accessKeyId", valueFrom: { secretKeyRef: { name: store.readerSecretName, key: "AWS_ACCESS_KEY_ID" } } },
          { name: "aws.secretKey", valueFrom: { secretKeyRef: { name: store.readerSecretName, key: "AWS_SECRET_ACCESS_KEY" } } },
        ],
      },
    ],
    accessModes: ["ReadOnlyMany"],
  };
}

export class FluidModelCache extends ModelCache {
  public readonly plan: ModelCachePlan;

  constructor(name: string, args: ModelCacheArgs, shared: FluidShared, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:storage:FluidModelCache", name, {}, opts);
    const { settings } = shared;
    const { model, cluster } = args;
    const ns = cluster.namespace;
    // The Dataset's PVC carries the Dataset's name.
    const dataset = fluidDatasetName(cluster.kubernetes.namespace, model.name);
    const perRevision = fluidRevisionNames(model);
    const kube = cluster.kubernetes;
    const child = { parent: this, dependsOn: shared.release ? [shared.release] : [] };
    const meta = { name: dataset, namespace: ns, labels: labels(model.name, "model-cache") };
    const datasetResource = new k8s.apiextensions.CustomResource(
      `${name}-dataset`,
      {
        apiVersion: "data.fluid.io/v1alpha1",
        kind: "Dataset",
        metadata: meta,
        // Cache workers may need the GPU nodes' taints tolerated to land next to the pods.
        spec: { ...fluidDatasetSpec(args.store, model), ...(kube.tolerations?.length ? { tolerations: kube.tolerations } : {}) },
      },
      { ...child, dependsOn: [...child.dependsOn, ...args.store.ready, ...(args.mirror ? [args.mirror] : [])] },
    );
    const quota = fluidQuotaGiB(settings, model);
    const runtime = new k8s.apiextensions.CustomResource(
      `${name}-runtime`,
      {
        apiVersion: "data.fluid.io/v1alpha1",
        kind: "AlluxioRuntime",
        metadata: meta,
        spec: {
          replicas: settings.replicas,
          // Cache workers and the FUSE where the model's servers run (validate requires a selector).
          worker: { nodeSelector: kube.nodeSelector },
          fuse: { nodeSelector: kube.nodeSelector },
          tieredstore: {
            levels: [
              {
                mediumtype: settings.cacheMedium,
                path: settings.cacheMedium === "MEM" ? "/dev/shm" : settings.cachePath,
                quota: `${quota}Gi`,
                high: "0.95",
                low: "0.7",
              },
            ],
          },
        },
      },
      { ...child, dependsOn: [datasetResource] },
    );
    const dataLoad = new k8s.apiextensions.CustomResource(
      `${name}-dataload`,
      {
        apiVersion: "data.fluid.io/v1alpha1",
        kind: "DataLoad",
        metadata: { name: perRevision.dataLoad, namespace: ns, labels: labels(model.name, "model-cache") },
        spec: { dataset: { name: dataset, namespace: ns }, loadMetadata: true, target: [{ path: "/", replicas: settings.replicas }] },
      },
      { ...child, dependsOn: [runtime] },
    );
    const affinity = fluidAffinity(cluster.kubernetes.namespace, dataset);
    const verifyPod = withScripts(
      withFailureMessages({
        restartPolicy: "OnFailure",
        automountServiceAccountToken: false,
        securityContext: podSecurity(),
        affinity,
        ...placement(cluster.kubernetes),
        containers: [
          {
            name: "verify",
            image: args.preload.image,
            command: runScript(VERIFY_READ_ONLY, MODELS_MOUNT),
            resources: { requests: { cpu: "1", memory: "256Mi" }, limits: { memory: "1Gi" } },
            securityContext: restrictedContainerSecurity(),
            volumeMounts: [{ name: "models", mountPath: MODELS_MOUNT, readOnly: true }, TMP_MOUNT],
          },
        ],
        volumes: [{ name: "models", persistentVolumeClaim: { claimName: dataset, readOnly: true } }, TMP_VOLUME],
      }),
      cluster.scripts,
    );
    const verify = new k8s.batch.v1.Job(
      `${name}-verify`,
      {
        metadata: {
          name: perRevision.verify,
          namespace: ns,
          labels: labels(model.name, "model-verify"),
          annotations: cluster.workloadAnnotations,
        },
        spec: {
          backoffLimit: 3,
          template: { metadata: { labels: labels(model.name, "model-verify"), annotations: verifyPod.annotations }, spec: verifyPod.spec },
        },
      },
      { parent: this, dependsOn: [dataLoad], customTimeouts: { create: minutes(preloadBudgetSeconds(model)) } },
    );
    this.plan = {
      source: { kind: "path", path: MODELS_MOUNT },
      loadingPath: `Fluid Dataset ${dataset} (AlluxioRuntime ${settings.cacheMedium} ${quota}Gi x${settings.replicas}), pods pinned to the cache node`,
      volumes: [{ name: "models", persistentVolumeClaim: { claimName: dataset, readOnly: true } }],
      volumeMounts: [{ name: "models", mountPath: MODELS_MOUNT, readOnly: true }],
      volumeClaimTemplates: [],
      initContainers: [],
      env: [],
      nodeSelector: {},
      affinity,
      spreadable: settings.replicas > 1,
      fillAt: "job",
      bandwidth: { fillMiBps: 200, serveMiBps: 1000, warmMiBps: 1500 },
      dependsOn: [verify],
      kvCache: args.needsKvCacheDir ? nodeLocalKvCache(model) : undefined,
    };
    this.registerOutputs({ dataset });
  }
}

/** Required node affinity to the nodes holding the dataset's cache (seed 003: ~80 s vs 10-18 min). */
export function fluidAffinity(namespace: string, dataset: string): k8s.types.input.core.v1.Affinity {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: fluidCacheNodeLabel(namespace, dataset), operator: "In", values: ["true"] }] }],
      },
    },
  };
}

export interface FluidShared {
  readonly settings: FluidConfig;
  readonly release?: k8s.helm.v3.Release;
}

export const fluidStrategy: StorageStrategy<FluidShared> = {
  name: "fluid",
  validate(config) {
    const settings = fluidSettings(config);
    const issues: ConfigIssue[] = nodeLocalKvCacheIssues(config);
    if (settings.replicas <= 1) issues.push(...unspreadableAutoscalingIssues(config, "storage.fluid.replicas is 1: one cache worker node"));
    const namespace = config.kubernetes.namespace;
    if (namespace.length > FLUID_NAMESPACE_MAX) {
      issues.push({
        path: ["kubernetes", "namespace"],
        message: `found ${namespace.length} characters; the fluid strategy needs at most ${FLUID_NAMESPACE_MAX}, so that Fluid's cache-node label fluid.io/s-<namespace>-<dataset> fits in 63`,
      });
    }
    // The AlluxioRuntime places its cache workers by this selector only: without one they may land on
    // a CPU node, the verify Job passes there, and the server (pinned to the cache node) never schedules.
    const unplaced = config.models.flatMap((m, i) =>
      config.kubernetes.nodeSelector || m.nodeSelector ? [] : [`models[${i}] (${m.name})`],
    );
    if (unplaced.length > 0) {
      issues.push({
        path: ["kubernetes", "nodeSelector"],
        message: `is required with storage.strategy "fluid" (or models[].nodeSelector on every model; missing for ${unplaced.join(", ")}): Fluid's cache workers are placed by it, and without it they may land on a node without GPUs, where no server can run; set the GPU nodes' label, e.g. {"nvidia.com/gpu.present": "true"}`,
      });
    }
    config.models.forEach((m, i) => {
      if (settings.cacheQuotaGiB !== undefined && settings.cacheQuotaGiB < m.sizeGiB) {
        issues.push({
          path: ["storage", "fluid", "cacheQuotaGiB"],
          message: `found ${settings.cacheQuotaGiB}; models[${i}] (${m.name}) is ${m.sizeGiB} GiB and a cache smaller than the model thrashes. Expected >= ${m.sizeGiB}`,
        });
      }
    });
    return issues;
  },
  createShared({ config }, parent) {
    const settings = fluidSettings(config);
    const install = settings.install;
    const release = install.enabled
      ? new k8s.helm.v3.Release(
          "fluid",
          {
            chart: "fluid",
            version: install.chartVersion,
            namespace: install.namespace,
            createNamespace: true,
            repositoryOpts: { repo: install.repository },
          },
          { parent },
        )
      : undefined;
    return { settings, release };
  },
  createModelCache: (name, args, shared, opts) => new FluidModelCache(name, args, shared, opts),
};
