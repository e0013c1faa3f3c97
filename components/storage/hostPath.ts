/** hostPath: one node keeps the weights under a host directory, filled once by a pinned Job. */
import * as pulumi from "@pulumi/pulumi";
import { placement } from "../cluster";
import { ConfigIssue } from "../config/issues";
import { HostPathConfig, StackConfig, strategyDefaults } from "../config/schema";
import {
  ModelCache,
  ModelCacheArgs,
  ModelCachePlan,
  MODELS_MOUNT,
  modelDir,
  nodeLocalKvCache,
  nodeLocalKvCacheIssues,
  preloadJob,
  StorageStrategy,
  unspreadableAutoscalingIssues,
  waitForVerifiedContainer,
} from "./strategy";

export function hostPathSettings(config: StackConfig): HostPathConfig {
  return config.storage.hostPath ?? strategyDefaults.hostPath();
}

/** The node the weights live on: by name when given, else by a label the operator sets on one node. */
export function hostPathNodeSelector(settings: HostPathConfig): Record<string, string> {
  return settings.nodeName ? { "kubernetes.io/hostname": settings.nodeName } : { [settings.nodeLabel]: "true" };
}

export class HostPathModelCache extends ModelCache {
  public readonly plan: ModelCachePlan;

  constructor(name: string, args: ModelCacheArgs, settings: HostPathConfig, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:storage:HostPathModelCache", name, {}, opts);
    const volume = { name: "models", hostPath: { path: settings.root, type: "DirectoryOrCreate" } };
    const nodeSelector = hostPathNodeSelector(settings);
    // kubelet creates the directory root-owned 0755, and fsGroup does not apply to hostPath: the
    // writer runs as uid 0 (the owner) but still with no capabilities and no privilege escalation.
    const onTheNode = placement(args.cluster.kubernetes, nodeSelector);
    const job = preloadJob(
      `${name}-preload`,
      args,
      volume,
      onTheNode,
      "the free disk of the node under llm-serving:storage.hostPath.root",
      { parent: this },
      0,
    );
    this.plan = {
      source: { kind: "path", path: modelDir(args.model) },
      loadingPath: `hostPath ${settings.root} on ${settings.nodeName ?? `the node labelled ${settings.nodeLabel}=true`}`,
      volumes: [volume],
      volumeMounts: [{ name: "models", mountPath: MODELS_MOUNT, readOnly: true }],
      volumeClaimTemplates: [],
      initContainers: [waitForVerifiedContainer(args, "models")],
      env: [],
      nodeSelector,
      spreadable: false,
      fillAt: "job",
      bandwidth: { fillMiBps: 200, serveMiBps: 1500, warmMiBps: 1500 },
      dependsOn: [job],
      kvCache: args.needsKvCacheDir ? nodeLocalKvCache(args.model) : undefined,
      revisionCleanup: { volume, podPlacement: onTheNode, uid: 0 },
    };
    this.registerOutputs({});
  }
}

export const hostPathStrategy: StorageStrategy<HostPathConfig> = {
  name: "hostPath",
  validate(config) {
    const settings = hostPathSettings(config);
    const issues: ConfigIssue[] = [
      ...nodeLocalKvCacheIssues(config),
      ...unspreadableAutoscalingIssues(config, "the weights live on one node"),
    ];
    const pinned = hostPathNodeSelector(settings);
    config.models.forEach((m, i) => {
      for (const [key, value] of Object.entries(m.nodeSelector ?? {})) {
        if (key in pinned && pinned[key] !== value) {
          issues.push({
            path: ["models", i, "nodeSelector", key],
            message: `found ${JSON.stringify(value)}; hostPath weights live on the node with ${key}=${pinned[key]} (storage.hostPath.${settings.nodeName ? "nodeName" : "nodeLabel"}), so the model's pods stay there. Remove this key, or point storage.hostPath at that node`,
          });
        }
      }
      if (m.replicas > 1 && !settings.nodeName) {
        issues.push({
          path: ["storage", "hostPath", "nodeName"],
          message: `is required because models[${i}] has replicas: ${m.replicas}; hostPath weights live on ONE node, so every replica must be pinned to it`,
        });
      }
    });
    return issues;
  },
  createShared: ({ config }) => hostPathSettings(config),
  createModelCache: (name, args, settings, opts) => new HostPathModelCache(name, args, settings, opts),
};
