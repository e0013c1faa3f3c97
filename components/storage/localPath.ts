/** localPath: one RWO local-path volume per pod (StatefulSet claim), filled by an init step. */
import * as pulumi from "@pulumi/pulumi";
import { ConfigIssue } from "../config/issues";
import { LocalPathConfig, StackConfig, strategyDefaults } from "../config/schema";
import { labels } from "../naming";
import {
  claimSizeGiB,
  ModelCache,
  ModelCacheArgs,
  ModelCachePlan,
  MODELS_MOUNT,
  modelDir,
  nodeLocalKvCache,
  PRELOAD_TOOLS_VOLUME,
  preloadContainers,
  pruneRevisionsContainer,
  StorageStrategy,
  unspreadableAutoscalingIssues,
} from "./strategy";

export function localPathSettings(config: StackConfig): LocalPathConfig {
  return config.storage.localPath ?? strategyDefaults.localPath();
}

export class LocalPathModelCache extends ModelCache {
  public readonly plan: ModelCachePlan;

  constructor(name: string, args: ModelCacheArgs, settings: LocalPathConfig, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:storage:LocalPathModelCache", name, {}, opts);
    const size = claimSizeGiB(args.model.sizeGiB, settings.headroomPercent);
    this.plan = {
      source: { kind: "path", path: modelDir(args.model) },
      loadingPath: `local-path PVC (${size}Gi, ${settings.storageClassName}) filled by an init container`,
      volumes: [PRELOAD_TOOLS_VOLUME],
      volumeMounts: [{ name: "models", mountPath: MODELS_MOUNT, readOnly: true }],
      volumeClaimTemplates: [
        {
          metadata: { name: "models", labels: labels(args.model.name, "model-cache") },
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: settings.storageClassName,
            resources: { requests: { storage: `${size}Gi` } },
          },
        },
      ],
      // The pod's own claim is filled (and verified) before the engine starts; a restart resumes.
      // Then superseded revisions go: the claim belongs to this pod alone, which now serves the new one.
      initContainers: [
        ...preloadContainers(
          args,
          "models",
          MODELS_MOUNT,
          `${args.configKey}.sizeGiB or llm-serving:storage.localPath.headroomPercent (the claim is sized from them)`,
        ),
        pruneRevisionsContainer(args, "models"),
      ],
      env: [],
      nodeSelector: {},
      spreadable: false,
      fillAt: "initContainer",
      bandwidth: { fillMiBps: 200, serveMiBps: 1500, warmMiBps: 1500 },
      dependsOn: [...args.store.ready, ...(args.mirror ? [args.mirror] : [])],
      kvCache: args.needsKvCacheDir ? nodeLocalKvCache(args.model) : undefined,
    };
    this.registerOutputs({});
  }
}

export const localPathStrategy: StorageStrategy<LocalPathConfig> = {
  name: "localPath",
  validate(config) {
    const issues: ConfigIssue[] = unspreadableAutoscalingIssues(config, "each pod downloads into its own ReadWriteOnce claim");
    config.models.forEach((m, i) => {
      if (m.rollout === "surge") {
        issues.push({
          path: ["models", i, "rollout"],
          message: `found "surge"; localPath serves from a StatefulSet whose pod owns its claim and is replaced in place (no surge pod, no cache filled ahead). Use rollout: recreate, or a shared cache (longhorn, juicefs, fluid) or s3Streaming`,
        });
      }
    });
    config.models.forEach((m, i) => {
      if (m.replicas > 1) {
        issues.push({
          path: ["models", i, "replicas"],
          message: `found ${m.replicas}; localPath volumes are ReadWriteOnce and node-local, so each replica would download its own ${m.sizeGiB} GiB copy. Use replicas: 1, or storage.strategy longhorn/juicefs/fluid/s3Streaming for several replicas`,
        });
      }
    });
    return issues;
  },
  createShared: ({ config }) => localPathSettings(config),
  createModelCache: (name, args, settings, opts) => new LocalPathModelCache(name, args, settings, opts),
};
