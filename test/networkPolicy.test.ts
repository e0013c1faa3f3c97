/** networkPolicy: each model admits only its clients, MinIO and Redis only theirs (recorded under mocks). */
import { describe, expect, it } from "vitest";
import { baseConfig, expectConfigError, runProgram } from "./harness";

const REV = "7ae557604adf67be50417f59c2c2f167def9a775";
const NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy";

function stack(strategy: string, extra: Record<string, unknown> = {}) {
  return baseConfig({
    storage: { strategy },
    models: [{ name: "chat", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: REV, engine: "vllm", sizeGiB: 16 }],
    ...extra,
  });
}
const matches = (selector: Record<string, string>, podLabels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => podLabels[k] === v);
const podLabels = (run: Awaited<ReturnType<typeof runProgram>>, type: string, name: string) =>
  run.one(type, name).inputs.spec.template.metadata.labels as Record<string, string>;

describe("networkPolicy", () => {
  it("is off by default", async () => {
    expect((await runProgram(stack("longhorn"))).byType(NP)).toEqual([]);
  });

  it("refuses enabled with no client, naming the key", async () => {
    const { error } = await expectConfigError(stack("longhorn", { networkPolicy: { enabled: true } }));
    expect(error.message).toContain("llm-serving:networkPolicy: enabled admits no client");
  });

  it("lets only the configured clients, the model's smoke check and Prometheus reach a model", async () => {
    const run = await runProgram(
      stack("longhorn", {
        networkPolicy: { enabled: true, clientPodLabels: { "llm-client": "true" }, clientNamespaceLabels: { team: "apps" } },
        observability: { prometheus: { enabled: true } },
      }),
    );
    const spec = run.one(NP, "chat-ingress").inputs.spec;
    expect(matches(spec.podSelector.matchLabels, podLabels(run, "kubernetes:apps/v1:Deployment", "chat-server"))).toBe(true);
    expect(spec.policyTypes).toEqual(["Ingress"]);
    const [rule] = spec.ingress;
    expect(rule.ports).toEqual([{ protocol: "TCP", port: 8000 }]);
    expect(rule.from).toContainEqual({ podSelector: { matchLabels: { "llm-client": "true" } } });
    expect(rule.from).toContainEqual({ namespaceSelector: { matchLabels: { team: "apps" } } });
    expect(rule.from).toContainEqual({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } });
    const smoke = rule.from.find((p: any) => p.podSelector?.matchLabels?.["app.kubernetes.io/component"] === "smoke-check");
    expect(matches(smoke.podSelector.matchLabels, podLabels(run, "kubernetes:batch/v1:Job", "chat-smoke-check"))).toBe(true);
    expect(rule.from).toHaveLength(4);
  });

  it("MinIO admits this stack's pods (mirror, preload, setup) and the JuiceFS CSI namespace; Redis only that namespace", async () => {
    const run = await runProgram(stack("juicefs", { networkPolicy: { enabled: true, clientNamespaceLabels: { team: "apps" } } }));
    const minio = run.one(NP, "minio-ingress").inputs.spec;
    expect(matches(minio.podSelector.matchLabels, podLabels(run, "kubernetes:apps/v1:StatefulSet", "minio"))).toBe(true);
    const own = minio.ingress[0].from[0].podSelector.matchLabels;
    for (const [type, name] of [
      ["kubernetes:batch/v1:Job", "chat-mirror"],
      ["kubernetes:batch/v1:Job", "chat-warmup"],
      ["kubernetes:batch/v1:Job", "minio-setup"],
    ])
      expect(matches(own, podLabels(run, type, name)), name).toBe(true);
    expect(minio.ingress[0].from[1]).toEqual({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } });
    expect(minio.ingress[0].ports).toEqual([{ protocol: "TCP", port: 9000 }]);
    const redis = run.one(NP, "redis-ingress").inputs.spec;
    expect(matches(redis.podSelector.matchLabels, podLabels(run, "kubernetes:apps/v1:StatefulSet", "juicefs-redis"))).toBe(true);
    expect(redis.ingress).toEqual([
      {
        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }],
        ports: [{ protocol: "TCP", port: 6379 }],
      },
    ]);
  });

  it("with Fluid, MinIO admits the namespace's pods (Fluid's cache workers carry Fluid's labels)", async () => {
    const run = await runProgram(stack("fluid", { networkPolicy: { enabled: true, clientNamespaceLabels: { team: "apps" } } }));
    expect(run.one(NP, "minio-ingress").inputs.spec.ingress[0].from).toContainEqual({ podSelector: {} });
  });
});

describe("the Jobs' policies", () => {
  const jobLabels = (run: Awaited<ReturnType<typeof runProgram>>, name: string) => podLabels(run, "kubernetes:batch/v1:Job", name);
  const selects = (spec: any, labels: Record<string, string>) =>
    matches(spec.podSelector.matchLabels, labels) &&
    spec.podSelector.matchExpressions.every((e: any) => e.operator === "In" && e.values.includes(labels[e.key]));

  it("admit nothing and reach only DNS, the store, the Hub (mirror) and the servers (smoke check)", async () => {
    const run = await runProgram(stack("hostPath", { networkPolicy: { enabled: true, clientNamespaceLabels: { team: "apps" } } }));
    const spec = (name: string) => run.one(NP, name).inputs.spec;
    for (const [policy, job] of [
      ["jobs-mirror", "chat-mirror"],
      ["jobs-preload", "chat-preload"],
      ["jobs-minio-setup", "minio-setup"],
      ["jobs-smoke-check", "chat-smoke-check"],
      ["jobs-offline", "chat-prune-revisions"],
    ]) {
      expect(selects(spec(policy), jobLabels(run, job)), `${policy} selects ${job}`).toBe(true);
      expect(spec(policy).policyTypes).toEqual(["Ingress", "Egress"]);
      // Deny-all ingress: Ingress in policyTypes, no rule (an empty list would be stored as absent).
      expect(spec(policy).ingress).toBeUndefined();
    }
    const ports = (name: string) => (spec(name).egress ?? []).flatMap((r: any) => r.ports.map((p: any) => p.port));
    expect(ports("jobs-mirror")).toEqual([53, 53, 443, 9000]);
    expect(ports("jobs-preload")).toEqual([53, 53, 9000]);
    // The servers, and the API server (443 or 6443) for the placement watch.
    expect(ports("jobs-smoke-check")).toEqual([53, 53, 8000, 443, 6443]);
    expect(spec("jobs-offline").egress).toBeUndefined();
  });

  it("send an external store's Jobs to HTTPS, with no MinIO rule", async () => {
    const s3 = { provider: "s3", bucket: "weights", s3: { region: "eu-west-1" } };
    const run = await runProgram(
      stack("longhorn", { objectStore: s3, networkPolicy: { enabled: true, clientNamespaceLabels: { team: "apps" } } }),
    );
    expect(run.one(NP, "jobs-preload").inputs.spec.egress[1]).toEqual({
      to: [{ ipBlock: { cidr: "0.0.0.0/0" } }],
      ports: [{ protocol: "TCP", port: 443 }],
    });
    expect(run.byType(NP).map((p) => p.name)).not.toContain("jobs-minio-setup");
  });
});
