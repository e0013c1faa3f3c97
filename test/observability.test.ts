/** Metrics: PodMonitors and the Grafana dashboard, recorded under mocks. */
import { describe, expect, it } from "vitest";
import { engines } from "../components/engines/registry";
import { baseConfig, runProgram } from "./harness";

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
      ["chat", engines.vllm],
      ["code", engines.sglang],
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
