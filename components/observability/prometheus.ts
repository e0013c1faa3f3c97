/**
 * Metrics: a Prometheus Operator PodMonitor per model scraping the engine's /metrics, and a Grafana
 * dashboard (a ConfigMap for Grafana's sidecar) with the panels people look at first.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext } from "../cluster";
import { ModelConfig, ObservabilityConfig } from "../config/schema";
import { InferenceEngine } from "../engines/engine";
import { labels, selectorLabels } from "../naming";
import { INFERENCE_COMPONENT } from "../serving/modelServer";

/** The label every series of a model carries (set by its PodMonitor), so queries never mix models. */
export const MODEL_LABEL = "model";

/** PodMonitor spec: the model's server pods, the engine's metrics path, `model=<name>` on every series. */
export function podMonitorSpec(model: ModelConfig, engine: InferenceEngine, interval: string): Record<string, unknown> {
  return {
    selector: { matchLabels: selectorLabels(model.name, INFERENCE_COMPONENT) },
    podMetricsEndpoints: [
      {
        port: "http",
        path: engine.metrics.path,
        interval,
        relabelings: [{ action: "replace", targetLabel: MODEL_LABEL, replacement: model.name }],
      },
    ],
  };
}

/** The PromQL of each panel for one model. */
export function modelPanels(model: ModelConfig, engine: InferenceEngine): { title: string; unit: string; exprs: Record<string, string> }[] {
  const m = engine.metrics;
  const sel = `{${MODEL_LABEL}="${model.name}"}`;
  return [
    {
      title: "requests running / waiting",
      unit: "short",
      exprs: { running: `sum(${m.running}${sel})`, waiting: `sum(${m.waiting}${sel})` },
    },
    {
      title: "time to first token",
      unit: "s",
      exprs: Object.fromEntries(
        ["0.5", "0.95"].map((q) => [
          `p${Number(q) * 100}`,
          `histogram_quantile(${q}, sum by (le) (rate(${m.ttftSeconds}_bucket${sel}[5m])))`,
        ]),
      ),
    },
    { title: "generated tokens / s", unit: "short", exprs: { "tokens/s": `sum(rate(${m.generationTokens}${sel}[1m]))` } },
    ...(m.kvCacheUsage ? [{ title: "KV-cache usage", unit: "percentunit", exprs: { usage: `avg(${m.kvCacheUsage}${sel})` } }] : []),
    // dcgm-exporter's series (when it runs with pod labels); the engine does not export GPU memory.
    { title: "GPU memory used (DCGM)", unit: "decmbytes", exprs: { used: `sum by (pod) (DCGM_FI_DEV_FB_USED{pod=~"${model.name}-.*"})` } },
  ];
}

/** A Grafana dashboard (JSON model): one row per model, its panels side by side. */
export function dashboard(models: { model: ModelConfig; engine: InferenceEngine }[]): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  models.forEach(({ model, engine }, row) => {
    const y = row * 9;
    panels.push({ id: id++, type: "row", title: `${model.name} (${engine.name})`, gridPos: { x: 0, y, w: 24, h: 1 }, collapsed: false });
    modelPanels(model, engine).forEach((panel, i) => {
      panels.push({
        id: id++,
        type: "timeseries",
        title: panel.title,
        datasource: { type: "prometheus", uid: "${datasource}" },
        fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
        gridPos: { x: (i % 5) * 5, y: y + 1, w: i === 4 ? 4 : 5, h: 8 },
        targets: Object.entries(panel.exprs).map(([legend, expr], k) => ({
          refId: String.fromCharCode(65 + k),
          expr,
          legendFormat: legend,
        })),
      });
    });
  });
  return {
    title: "llm-serving",
    uid: "llm-serving",
    schemaVersion: 39,
    time: { from: "now-1h", to: "now" },
    templating: { list: [{ name: "datasource", type: "datasource", query: "prometheus", label: "Prometheus" }] },
    panels,
  };
}

export interface ObservabilityArgs {
  /** `observability` from the stack config. */
  readonly settings: ObservabilityConfig;
  /** Stack-wide cluster context (namespace). */
  readonly cluster: ClusterContext;
  /** Every model with its engine. */
  readonly models: { model: ModelConfig; engine: InferenceEngine; cluster: ClusterContext }[];
}

/** The PodMonitors and the dashboard ConfigMap (created only with `observability.prometheus.enabled`). */
export class Observability extends pulumi.ComponentResource {
  public readonly podMonitors: k8s.apiextensions.CustomResource[];

  constructor(name: string, args: ObservabilityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:observability:Observability", name, {}, opts);
    const { prometheus, grafana } = args.settings;
    const ns = args.cluster.namespace;
    this.podMonitors = args.models.map(
      ({ model, engine }) =>
        new k8s.apiextensions.CustomResource(
          `${model.name}-metrics`,
          {
            apiVersion: "monitoring.coreos.com/v1",
            kind: "PodMonitor",
            metadata: { name: model.name, namespace: ns, labels: { ...labels(model.name, "metrics"), ...prometheus.labels } },
            spec: podMonitorSpec(model, engine, prometheus.interval),
          },
          { parent: this },
        ),
    );
    if (grafana.dashboard) {
      new k8s.core.v1.ConfigMap(
        "dashboard",
        {
          metadata: {
            name: "llm-serving-dashboard",
            namespace: ns,
            labels: { ...labels("llm-serving-dashboard", "dashboard"), ...grafana.labels },
          },
          data: { "llm-serving.json": JSON.stringify(dashboard(args.models), null, 1) },
        },
        { parent: this },
      );
    }
    this.registerOutputs({});
  }
}
