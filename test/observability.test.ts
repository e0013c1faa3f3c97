/** Metrics: PodMonitors and the Grafana dashboard, recorded under mocks. */
import { describe, expect, it } from "vitest";
import { sglangEngine } from "../components/engines/sglang";
import { vllmEngine } from "../components/engines/vllm";
import { baseConfig, expectConfigError, runProgram } from "./harness";

const REV = "7ae557604adf67be50417f59c2c2f167def9a775";
const POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor";

function stack(observability?: Record<string, unknown>) {
  return baseConfig({
    storage: { strategy: "longhorn" },
    models: [
      { name: "chat", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: REV, engine: "vllm", sizeGiB: 16 },
      { name: "code", huggingFace: "Qwen/Qwen2.5-Coder-7B-Instruct", revision: REV, engine: "sglang", sizeGiB: 16 },
    ],
    ...(observability ? { observability } : {}),
  });
}

const serverArgs = (run: Awaited<ReturnType<typeof runProgram>>, name: string): string[] =>
  run.one("kubernetes:apps/v1:Deployment", `${name}-server`).inputs.spec.template.spec.containers[0].args;

describe("observability.prometheus", () => {
  it("is off by default: no PodMonitor, no dashboard, SGLang without --enable-metrics", async () => {
    const run = await runProgram(stack());
    expect(run.byType(POD_MONITOR)).toEqual([]);
    expect(run.resources.filter((r) => r.name === "dashboard")).toEqual([]);
    expect(serverArgs(run, "code")).not.toContain("--enable-metrics");
  });

  it("scrapes each model's server pods on the engine's /metrics, labelling every series with the model", async () => {
    const run = await runProgram(stack({ prometheus: { enabled: true, labels: { release: "kube-prometheus-stack" }, interval: "30s" } }));
    for (const name of ["chat", "code"]) {
      const monitor = run.one(POD_MONITOR, `${name}-metrics`);
      expect(monitor.inputs.metadata.labels.release).toBe("kube-prometheus-stack");
      const podLabels = run.one("kubernetes:apps/v1:Deployment", `${name}-server`).inputs.spec.template.metadata.labels;
      expect(podLabels).toMatchObject(monitor.inputs.spec.selector.matchLabels);
      expect(monitor.inputs.spec.podMetricsEndpoints).toEqual([
        { port: "http", path: "/metrics", interval: "30s", relabelings: [{ action: "replace", targetLabel: "model", replacement: name }] },
      ]);
    }
    // SGLang exports metrics only when asked; vLLM always does.
    expect(serverArgs(run, "code")).toContain("--enable-metrics");
    expect(serverArgs(run, "chat")).not.toContain("--enable-metrics");
  });

  it("ships a Grafana dashboard whose panels query each engine's own metric names, per model", async () => {
    const run = await runProgram(stack({ prometheus: { enabled: true } }));
    const configMap = run.one("kubernetes:core/v1:ConfigMap", "dashboard");
    expect(configMap.inputs.metadata.labels.grafana_dashboard).toBe("1");
    const dashboard = JSON.parse(configMap.inputs.data["llm-serving.json"]);
    const exprs = (title: string) =>
      dashboard.panels
        .filter((p: any) => p.type === "timeseries")
        .flatMap((p: any) => p.targets.map((t: any) => t.expr))
        .filter((e: string) => e.includes(title));
    for (const [model, engine] of [
      ["chat", vllmEngine],
      ["code", sglangEngine],
    ] as const) {
      const mine = exprs(`model="${model}"`);
      for (const metric of [engine.metrics.running, engine.metrics.waiting, engine.metrics.generationTokens, engine.metrics.kvCacheUsage])
        expect(
          mine.some((e: string) => e.includes(`${metric}{model="${model}"}`)),
          metric,
        ).toBe(true);
      expect(mine.some((e: string) => e.includes(`${engine.metrics.ttftSeconds}_bucket{model="${model}"}`))).toBe(true);
    }
    expect(dashboard.panels.filter((p: any) => p.type === "row").map((p: any) => p.title)).toEqual(["chat (vllm)", "code (sglang)"]);
    expect(new Set(dashboard.panels.map((p: any) => p.id)).size).toBe(dashboard.panels.length);
  });

  it("can leave the dashboard out, and refuses a malformed interval naming the key", async () => {
    const run = await runProgram(stack({ prometheus: { enabled: true }, grafana: { dashboard: false } }));
    expect(run.resources.filter((r) => r.name === "dashboard")).toEqual([]);
    await expect(runProgram(stack({ prometheus: { enabled: true, interval: "15 seconds" } }))).rejects.toThrow(
      /llm-serving:observability\.prometheus\.interval.*Prometheus duration/,
    );
  });
});

describe("models[].autoscaling", () => {
  const SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject";
  const PROMETHEUS = { prometheus: { enabled: true, serverAddress: "http://prometheus-operated.monitoring.svc:9090" } };
  const scaled = (
    autoscaling: Record<string, unknown>,
    extra: Record<string, unknown> = {},
    observability: Record<string, unknown> = PROMETHEUS,
  ) => {
    const raw = stack(observability);
    Object.assign((raw.models as Record<string, unknown>[])[0], { autoscaling, ...extra });
    Object.assign((raw.models as Record<string, unknown>[])[1], { autoscaling: { maxReplicas: 2, metric: "kvCacheUsage", target: 0.8 } });
    return raw;
  };

  it("scales the server with KEDA on the engine's queue depth per replica, never resetting the HPA's count", async () => {
    const run = await runProgram(scaled({ minReplicas: 1, maxReplicas: 4, target: 5 }));
    const object = run.one(SCALED_OBJECT, "chat-autoscaling");
    const deployment = run.one("kubernetes:apps/v1:Deployment", "chat-server");
    expect(object.inputs.spec).toMatchObject({
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.inputs.metadata.name },
      minReplicaCount: 1,
      maxReplicaCount: 4,
      triggers: [
        {
          type: "prometheus",
          metricType: "AverageValue",
          metadata: {
            serverAddress: "http://prometheus-operated.monitoring.svc:9090",
            query: 'sum(vllm:num_requests_waiting{model="chat"})',
            threshold: "5",
          },
        },
      ],
    });
    // Scale-down waits out the startup budget: a pod still loading its weights is never removed.
    const budget = Number(deployment.inputs.spec.template.metadata.annotations["llm-serving.io/startup-budget-seconds"]);
    expect(object.inputs.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThanOrEqual(
      budget,
    );
    expect(deployment.inputs.spec.replicas).toBe(1);
    expect(deployment.opts.ignoreChanges).toEqual(["spec.replicas"]);
    expect(deployment.inputs.spec.strategy.type).toBe("RollingUpdate");
    expect(run.one("kubernetes:policy/v1:PodDisruptionBudget", "chat-pdb").inputs.spec.maxUnavailable).toBe(1);
    const sglang = run.one(SCALED_OBJECT, "code-autoscaling").inputs.spec.triggers[0];
    expect([sglang.metricType, sglang.metadata.query, sglang.metadata.threshold]).toEqual([
      "Value",
      'avg(sglang:token_usage{model="code"})',
      "0.8",
    ]);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, string, RegExp]>([
    [
      "without Prometheus",
      { maxReplicas: 2, target: 5 },
      {},
      { prometheus: { enabled: true } },
      "models[0].autoscaling",
      /set observability.prometheus.enabled: true and observability.prometheus.serverAddress/,
    ],
    [
      "min above max",
      { minReplicas: 3, maxReplicas: 2, target: 5 },
      {},
      PROMETHEUS,
      "models[0].autoscaling.minReplicas",
      /expected at most maxReplicas \(2\)/,
    ],
    [
      "a fixed replica count too",
      { maxReplicas: 2, target: 5 },
      { replicas: 2 },
      PROMETHEUS,
      "models[0].replicas",
      /replica count is KEDA's/,
    ],
    [
      "a KV fraction above 1",
      { maxReplicas: 2, metric: "kvCacheUsage", target: 80 },
      {},
      PROMETHEUS,
      "models[0].autoscaling.target",
      /fraction/,
    ],
  ])("refuses autoscaling %s, naming the key", async (_what, autoscaling, extra, observability, key, message) => {
    const { error } = await expectConfigError(scaled(autoscaling, extra, observability));
    const line = error.message.split("\n").find((l) => l.includes(`llm-serving:${key}:`));
    expect(line, error.message).toMatch(message);
  });

  it.each([
    ["hostPath", {}, /the weights live on one node/],
    ["localPath", {}, /its own ReadWriteOnce claim/],
    ["fluid", {}, /storage.fluid.replicas is 1/],
  ])("refuses autoscaling where %s cannot spread replicas", async (strategy, settings, why) => {
    const raw = scaled({ maxReplicas: 2, target: 5 });
    raw.storage = { strategy, ...settings };
    const { error } = await expectConfigError(raw);
    expect(error.message.split("\n").find((l) => l.includes("llm-serving:models[0].autoscaling:"))).toMatch(why);
  });
});
