/** models[].autoscaling: a KEDA ScaledObject scaling the model's server on its engine's own metrics. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext } from "../cluster";
import { ModelConfig } from "../config/schema";
import { InferenceEngine } from "../engines/engine";
import { labels } from "../naming";
import { MODEL_LABEL } from "../observability/prometheus";

type Autoscaling = NonNullable<ModelConfig["autoscaling"]>;

/** The PromQL and KEDA metric type for the chosen metric (per replica, or the mean for KV usage). */
export function scalingQuery(
  model: ModelConfig,
  engine: InferenceEngine,
  metric: Autoscaling["metric"],
): { query: string; metricType: string } {
  const sel = `{${MODEL_LABEL}="${model.name}"}`;
  switch (metric) {
    case "waiting":
      return { query: `sum(${engine.metrics.waiting}${sel})`, metricType: "AverageValue" };
    case "running":
      return { query: `sum(${engine.metrics.running}${sel})`, metricType: "AverageValue" };
    case "kvCacheUsage":
      if (!engine.metrics.kvCacheUsage) throw new Error(`models ${model.name}: ${engine.name} exports no KV-cache usage to scale on`);
      return { query: `avg(${engine.metrics.kvCacheUsage}${sel})`, metricType: "Value" };
  }
}

export interface ScaledObjectArgs {
  readonly model: ModelConfig;
  readonly engine: InferenceEngine;
  readonly cluster: ClusterContext;
  /** The Prometheus KEDA queries (`observability.prometheus.serverAddress`). */
  readonly serverAddress: string;
  /** The workload to scale. */
  readonly workloadKind: "Deployment" | "StatefulSet" | "LeaderWorkerSet";
  /** The model's startup budget: scale-down waits at least this long, so a loading pod is never removed. */
  readonly startupBudgetSeconds: number;
}

export function scaledObjectSpec(args: ScaledObjectArgs): Record<string, unknown> {
  const scaling = args.model.autoscaling;
  if (!scaling) throw new Error(`models ${args.model.name} has no autoscaling`);
  const { query, metricType } = scalingQuery(args.model, args.engine, scaling.metric);
  return {
    // A LeaderWorkerSet scales whole groups (its scale subresource counts groups).
    scaleTargetRef: {
      apiVersion: args.workloadKind === "LeaderWorkerSet" ? "leaderworkerset.x-k8s.io/v1" : "apps/v1",
      kind: args.workloadKind,
      name: args.model.name,
    },
    minReplicaCount: scaling.minReplicas,
    maxReplicaCount: scaling.maxReplicas,
    pollingInterval: 15,
    advanced: {
      horizontalPodAutoscalerConfig: {
        behavior: {
          scaleDown: {
            stabilizationWindowSeconds: Math.max(300, args.startupBudgetSeconds),
            policies: [{ type: "Pods", value: 1, periodSeconds: 60 }],
          },
          scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] },
        },
      },
    },
    triggers: [
      { type: "prometheus", metricType, metadata: { serverAddress: args.serverAddress, query, threshold: String(scaling.target) } },
    ],
  };
}

export function scaledObject(name: string, args: ScaledObjectArgs, opts: pulumi.CustomResourceOptions): k8s.apiextensions.CustomResource {
  return new k8s.apiextensions.CustomResource(
    name,
    {
      apiVersion: "keda.sh/v1alpha1",
      kind: "ScaledObject",
      metadata: { name: args.model.name, namespace: args.cluster.namespace, labels: labels(args.model.name, "autoscaling") },
      spec: scaledObjectSpec(args),
    },
    opts,
  );
}
