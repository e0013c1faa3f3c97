/** The program passes its own policy pack: every repo stack, every strategy × engine; a bad stack does not. */
import { describe, expect, it } from "vitest";
import { STORAGE_STRATEGIES } from "../components/config/schema";
import {
  INFERENCE_COMPONENT as PROGRAM_INFERENCE_COMPONENT,
  LOAD_ESTIMATE_ANNOTATION as PROGRAM_LOAD_ESTIMATE,
} from "../components/serving/modelServer";
import { modelAnnotations } from "../components/naming";
import { MODEL_ANNOTATION, REVISION_ANNOTATION } from "../policies/modelPolicies";
import { llmServingPolicies } from "../policies/policies";
import { INFERENCE_COMPONENT, LOAD_ESTIMATE_ANNOTATION } from "../policies/workloadPolicies";
import { baseConfig, imageFor, runProgram, repoStackConfig } from "./harness";
import { fromProgram, packConfigFile, runPack } from "./policyHarness";

const REV = "7ae557604adf67be50417f59c2c2f167def9a775";

describe("the pack reads what the program writes", () => {
  it("shares the annotation and label names", () => {
    expect(LOAD_ESTIMATE_ANNOTATION).toBe(PROGRAM_LOAD_ESTIMATE);
    expect(INFERENCE_COMPONENT).toBe(PROGRAM_INFERENCE_COMPONENT);
    expect(Object.keys(modelAnnotations({ huggingFace: "a/b", revision: "main" }))).toEqual([MODEL_ANNOTATION, REVISION_ANNOTATION]);
  });
});

describe.each(["local", "dev", "prod"])("repo stack %s", (stack) => {
  it("has no violation at any level with its policy config", async () => {
    const run = await runProgram(repoStackConfig(stack), ["hfToken", "apiKey"]);
    const resources = fromProgram(run.resources);
    expect(resources.length).toBeGreaterThan(10);
    expect(await runPack(llmServingPolicies, resources, packConfigFile(stack))).toEqual([]);
  });
});

const matrix = STORAGE_STRATEGIES.flatMap((strategy) => ["vllm", "sglang"].map((engine) => [strategy, engine] as const));

describe.each(matrix)("%s × %s (dev policy config)", (strategy, engine) => {
  it("has no mandatory violation, for a tensor-parallel model, two replicas where the strategy shares weights", async () => {
    // hostPath and localPath keep weights on one node, so the config allows one replica there.
    const shared = !["hostPath", "localPath"].includes(strategy);
    const raw = baseConfig({
      storage: { strategy },
      models: [
        {
          name: "m",
          huggingFace: "Qwen/Qwen2.5-7B-Instruct",
          revision: REV,
          engine,
          sizeGiB: 16,
          gpus: 2,
          replicas: shared ? 2 : 1,
          ...imageFor(strategy, engine),
        },
      ],
    });
    const violations = await runPack(llmServingPolicies, fromProgram((await runProgram(raw)).resources), packConfigFile("dev"));
    expect(violations.filter((v) => v.level === "mandatory")).toEqual([]);
  });
});

const dynamoMatrix = STORAGE_STRATEGIES.flatMap((strategy) =>
  ["vllm", "sglang"].filter((b) => !(strategy === "s3Streaming" && b === "sglang")).map((backend) => [strategy, backend] as const),
);

describe.each(dynamoMatrix)("%s × dynamo/%s (dev policy config)", (strategy, backend) => {
  it("has no mandatory violation, its frontend and worker pod templates checked like any server's", async () => {
    const shared = !["hostPath", "localPath"].includes(strategy);
    const raw = baseConfig({
      storage: { strategy },
      models: [
        {
          name: "m",
          huggingFace: "Qwen/Qwen2.5-7B-Instruct",
          revision: REV,
          engine: "dynamo",
          dynamo: { backend },
          sizeGiB: 16,
          gpus: 2,
          replicas: shared ? 2 : 1,
        },
      ],
    });
    const resources = fromProgram((await runProgram(raw)).resources);
    expect(resources.some((r) => r.type === "kubernetes:nvidia.com/v1beta1:DynamoGraphDeployment")).toBe(true);
    const violations = await runPack(llmServingPolicies, resources, packConfigFile("dev"));
    expect(violations.filter((v) => v.level === "mandatory")).toEqual([]);
  });
});

const groupMatrix = STORAGE_STRATEGIES.filter((s) => s !== "hostPath").flatMap((strategy) =>
  ["vllm", "sglang"].map((engine) => [strategy, engine] as const),
);

describe.each(groupMatrix)("%s × %s on 2 nodes (dev policy config)", (strategy, engine) => {
  it("has no mandatory violation, the leader's and the workers' pod templates checked", async () => {
    const raw = baseConfig({
      storage: { strategy, ...(strategy === "fluid" ? { fluid: { replicas: 2 } } : {}) },
      models: [
        {
          name: "m",
          huggingFace: "Qwen/Qwen2.5-7B-Instruct",
          revision: REV,
          engine,
          sizeGiB: 16,
          gpus: 2,
          nodes: 2,
          ...imageFor(strategy, engine),
        },
      ],
    });
    const resources = fromProgram((await runProgram(raw)).resources);
    expect(resources.some((r) => r.type === "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")).toBe(true);
    const violations = await runPack(llmServingPolicies, resources, packConfigFile("dev"));
    expect(violations.filter((v) => v.level === "mandatory")).toEqual([]);
  });
});

describe("a Dynamo graph that breaks the rules", () => {
  it("fails the hostPath, pinned-revision and API-key policies through its components' pod templates under the prod policy config", async () => {
    const raw = baseConfig({
      storage: { strategy: "hostPath" },
      models: [
        {
          name: "m",
          huggingFace: "Qwen/Qwen2.5-7B-Instruct",
          revision: "main",
          engine: "dynamo",
          dynamo: { backend: "vllm" },
          sizeGiB: 16,
        },
      ],
    });
    const resources = fromProgram((await runProgram(raw)).resources).filter(
      (r) => r.type === "kubernetes:nvidia.com/v1beta1:DynamoGraphDeployment",
    );
    const violations = await runPack(llmServingPolicies, resources, packConfigFile("prod"));
    expect([...new Set(violations.filter((v) => v.level === "mandatory").map((v) => v.policy))].sort()).toEqual(
      // (Dynamo's frontend takes no key: prod cannot serve a Dynamo model, as the config says too.)
      ["hostpath-only-in-dev", "inference-requires-api-key", "models-pinned-to-commit"].sort(),
    );
  });
});

describe("every optional feature on", () => {
  it("has no violation at any level under the prod policy config", async () => {
    const raw = baseConfig({
      environment: "prod",
      storage: { strategy: "longhorn" },
      observability: { prometheus: { enabled: true, serverAddress: "http://prometheus-operated.monitoring.svc:9090" } },
      networkPolicy: { enabled: true, clientNamespaceLabels: { team: "apps" } },
      compileCache: { enabled: true },
      models: [
        {
          name: "chat",
          huggingFace: "Qwen/Qwen2.5-7B-Instruct",
          revision: REV,
          engine: "vllm",
          sizeGiB: 16,
          rollout: "surge",
          autoscaling: { maxReplicas: 3, target: 4 },
          nodeSelector: { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" },
          priorityClassName: "llm-high",
        },
        { name: "code", huggingFace: "Qwen/Qwen2.5-Coder-7B-Instruct", revision: REV, engine: "sglang", sizeGiB: 16, gpus: 2 },
      ],
      apiKey: "k3y-0123456789abcdef-shared",
    });
    const run = await runProgram(raw, ["hfToken", "apiKey"]);
    expect(await runPack(llmServingPolicies, fromProgram(run.resources), packConfigFile("prod"))).toEqual([]);
  });
});

describe("a stack that breaks the rules", () => {
  it("fails mandatory policies: hostPath and a branch revision under the prod policy config", async () => {
    // The program refuses both for environment "prod" itself; the pack also catches a prod cluster's
    // stack that calls itself dev.
    const raw = baseConfig({
      environment: "dev",
      models: [{ name: "m", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: "main", engine: "vllm", sizeGiB: 16 }],
    });
    const violations = await runPack(llmServingPolicies, fromProgram((await runProgram(raw)).resources), packConfigFile("prod"));
    const failed = new Set(violations.filter((v) => v.level === "mandatory").map((v) => v.policy));
    // …and, calling itself dev, it sets no API key, which prod requires.
    expect([...failed].sort()).toEqual(["hostpath-only-in-dev", "inference-requires-api-key", "models-pinned-to-commit"]);
  });
});
