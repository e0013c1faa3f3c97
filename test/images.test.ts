/** Every image configurable, `kubernetes.imageRegistry` over the defaults, and `huggingFace.endpoint`. */
import { describe, expect, it } from "vitest";
import { DEFAULT_IMAGES, splitImage, withRegistry } from "../components/images";
import { baseConfig, expectConfigError, runProgram } from "./harness";

const REV = "7ae557604adf67be50417f59c2c2f167def9a775";
const MIRROR = "registry.internal:5000/mirror";

/** Every container image of every pod the run renders. */
function images(resources: { inputs: unknown }[]): string[] {
  const found: string[] = [];
  const walk = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === "object") {
      const object = value as Record<string, unknown>;
      if (Array.isArray(object.containers))
        for (const c of [...((object.initContainers as { image: string }[]) ?? []), ...(object.containers as { image: string }[])])
          found.push(c.image);
      Object.values(object).forEach(walk);
    }
  };
  resources.forEach((r) => walk(r.inputs));
  return found;
}

const stack = (strategy: string, extra: Record<string, unknown> = {}) =>
  baseConfig({
    storage: { strategy },
    models: [
      { name: "m", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: REV, engine: "vllm", sizeGiB: 16 },
      { name: "s", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: REV, engine: "sglang", sizeGiB: 16 },
    ],
    ...extra,
  });

describe("image references", () => {
  it.each([
    ["python:3.12.12-slim-bookworm", "docker.io", "library/python", ":3.12.12-slim-bookworm"],
    ["vllm/vllm-openai:v0.33.0", "docker.io", "vllm/vllm-openai", ":v0.33.0"],
    ["quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z", "quay.io", "minio/mc", ":RELEASE.2025-08-13T08-35-41Z"],
    ["localhost:5000/a/b@sha256:" + "0".repeat(64), "localhost:5000", "a/b", "@sha256:" + "0".repeat(64)],
  ])("%s: registry %s, repository %s", (image, registry, repository, rest) => {
    expect(splitImage(image)).toEqual({ registry, repository, rest });
    expect(withRegistry(image, MIRROR)).toBe(`${MIRROR}/${repository}${rest}`);
    expect(withRegistry(image, undefined)).toBe(image);
  });
});

describe("kubernetes.imageRegistry", () => {
  it.each(["hostPath", "juicefs", "s3Streaming"])(
    "%s: every default image of every pod comes from the mirror registry",
    async (strategy) => {
      const raw = stack(strategy, {
        kubernetes: { namespace: "llm", imageRegistry: MIRROR },
        compileCache: { enabled: strategy === "hostPath" },
      });
      if (strategy === "s3Streaming") (raw.models as Record<string, unknown>[])[1].image = "registry.example.com/sglang-runai:v0.5.23";
      const run = await runProgram(raw);
      const all = images(run.resources);
      expect(all.length).toBeGreaterThan(5);
      const own = all.filter((i) => i === "registry.example.com/sglang-runai:v0.5.23");
      // A model's own image is taken as given; everything else moved.
      expect(all.filter((i) => !i.startsWith(`${MIRROR}/`))).toEqual(own);
      expect(all).toContain(`${MIRROR}/library/python:3.12.12-slim-bookworm`);
      expect(all).toContain(`${MIRROR}/peakcom/s5cmd:v2.3.0`);
      expect(all).toContain(`${MIRROR}/minio/mc:RELEASE.2025-08-13T08-35-41Z`);
      if (strategy === "juicefs") expect(all).toContain(`${MIRROR}/library/redis:7.4.6-alpine`);
      if (strategy !== "s3Streaming") expect(all).toContain(`${MIRROR}/lmsysorg/sglang:v0.5.23`);
      expect(run.serving.models.m.image).toBe(`${MIRROR}/vllm/vllm-openai:v0.33.0`);
    },
  );

  it("leaves an image the stack sets itself alone, and refuses a malformed registry naming the key", async () => {
    const run = await runProgram(
      stack("hostPath", {
        kubernetes: { namespace: "llm", imageRegistry: MIRROR },
        objectStore: { provider: "minio", bucket: "llm-models", minio: { clientImage: "quay.io/minio/mc:RELEASE.2025-09-01T00-00-00Z" } },
      }),
    );
    expect(images(run.resources)).toContain("quay.io/minio/mc:RELEASE.2025-09-01T00-00-00Z");
    const { error } = await expectConfigError(stack("hostPath", { kubernetes: { namespace: "llm", imageRegistry: "https://x" } }));
    expect(error.message).toContain("llm-serving:kubernetes.imageRegistry");
    expect(error.message).toContain("registry host[:port][/path]");
  });

  it("images.python replaces the Python image of every mirror, preload, check and housekeeping step", async () => {
    const python = "registry.example.com/python:3.12.12-slim-bookworm-ca";
    const run = await runProgram(stack("longhorn", { images: { python }, compileCache: { enabled: true } }));
    const all = images(run.resources);
    expect(all).not.toContain(DEFAULT_IMAGES.python);
    expect(all.filter((i) => i === python).length).toBeGreaterThanOrEqual(5);
  });
});

describe("huggingFace.endpoint", () => {
  const ENDPOINT = "http://hub-mirror.tools.svc.cluster.local:8080";
  const withEndpoint = (endpoint?: string) =>
    stack("longhorn", {
      huggingFace: endpoint ? { endpoint } : {},
      networkPolicy: { enabled: true, clientNamespaceLabels: { team: "apps" } },
      models: [
        { name: "m", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: REV, engine: "vllm", sizeGiB: 16 },
        { name: "direct", huggingFace: "Qwen/Qwen2.5-0.5B-Instruct", revision: REV, engine: "vllm", sizeGiB: 1, mirror: false },
      ],
    });
  const envOf = (c: { env?: { name: string; value?: string }[] }) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

  it("sends the mirror's download and the mirror: false servers to it (HF_ENDPOINT), and lets the mirror reach its port", async () => {
    const run = await runProgram(withEndpoint(ENDPOINT));
    const mirror = run.resources.find((r) => r.name === "m-mirror")!.inputs.spec.template.spec;
    expect(envOf(mirror.initContainers.find((c: { name: string }) => c.name === "download")).HF_ENDPOINT).toBe(ENDPOINT);
    const direct = run.one("kubernetes:apps/v1:Deployment", "direct-server").inputs.spec.template.spec.containers[0];
    expect(envOf(direct).HF_ENDPOINT).toBe(ENDPOINT);
    const egress = run.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "jobs-mirror").inputs.spec.egress;
    expect(egress).toContainEqual({ ports: [{ protocol: "TCP", port: 8080 }] });
  });

  it("defaults to the public Hub: no HF_ENDPOINT anywhere", async () => {
    const run = await runProgram(withEndpoint());
    const workloads = run.resources.filter((r) => /:(Deployment|StatefulSet|Job)$/.test(r.type));
    expect(workloads.length).toBeGreaterThan(3);
    expect(JSON.stringify(workloads.map((r) => r.inputs))).not.toContain("HF_ENDPOINT");
  });

  it("refuses anything but an http(s) URL, naming the key", async () => {
    const { error } = await expectConfigError(withEndpoint("hub-mirror:8080"));
    expect(error.message).toContain("llm-serving:huggingFace.endpoint");
    expect(error.message).toContain("must be an http(s) URL");
  });
});
