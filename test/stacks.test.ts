import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseStackConfig } from "../components/stackConfig";
import { parse } from "yaml";
import { expectConfigError, repoStackConfig, resolve, runProgram, stackFileConfig } from "./harness";

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";

describe("repo stack files", () => {
  it("Pulumi.yaml requires (declares without a default) only keys the program requires too", () => {
    const project = parse(readFileSync(join(__dirname, "..", "Pulumi.yaml"), "utf8")) as { config: Record<string, { default?: unknown }> };
    const required = Object.entries(project.config)
      .filter(([, decl]) => decl.default === undefined)
      .map(([key]) => key.replace(/^llm-serving:/, ""));
    expect(required).toEqual(["environment"]);
    for (const key of required) {
      const { [key]: _dropped, ...raw } = stackFileConfig("local");
      expect(() => parseStackConfig(raw)).toThrow(`llm-serving:${key}`);
    }
  });

  it.each(["local", "dev", "prod"])("Pulumi.%s.yaml parses against the config contract", (stack) => {
    expect(() => parseStackConfig(repoStackConfig(stack))).not.toThrow();
  });

  it("prod refuses to serve open endpoints: without llm-serving:apiKey it names the key before creating anything", async () => {
    const { error, registered } = await expectConfigError(stackFileConfig("prod"));
    expect(error.message).toContain('llm-serving:apiKey: is required in environment "prod"');
    expect(error.message).toContain("llama-3-1-8b-instruct, qwen2-5-7b-instruct would");
    expect(registered).toBe(0);
  });

  it("prod turns NetworkPolicies on by default, Jobs included; dev leaves them off", async () => {
    const prod = await runProgram(repoStackConfig("prod"), ["apiKey"]);
    const names = prod.byType("kubernetes:networking.k8s.io/v1:NetworkPolicy").map((p) => p.inputs.metadata.name);
    expect(names).toEqual(
      expect.arrayContaining(["llama-3-1-8b-instruct", "juicefs-redis", "jobs-mirror", "jobs-preload", "jobs-offline"]),
    );
    const dev = await runProgram(repoStackConfig("dev"));
    expect(dev.byType("kubernetes:networking.k8s.io/v1:NetworkPolicy")).toEqual([]);
  });

  it("local renders MinIO + hostPath + one vLLM model to ./rendered, with no cloud provider", async () => {
    const run = await runProgram(stackFileConfig("local"));
    const provider = run.one("pulumi:providers:kubernetes", "llm-serving-kubernetes");
    expect(provider.inputs.renderYamlToDirectory).toBe("./rendered");
    expect(run.resources.filter((r) => /^(cloudflare|aws):/.test(r.type))).toEqual([]);
    expect(run.byType("llm-serving:store:MinioModelStore")).toHaveLength(1);
    expect(run.byType("llm-serving:storage:HostPathModelCache")).toHaveLength(1);
    const server = run.one(DEPLOYMENT, "qwen2-5-0-5b-instruct-server");
    expect(server.inputs.spec.template.spec.containers[0].image).toBe("vllm/vllm-openai:v0.33.0");
    const models = await resolve(run.serving.models["qwen2-5-0-5b-instruct"].baseUrl);
    expect(models).toBe("http://qwen2-5-0-5b-instruct.llm.svc.cluster.local:8000/v1");
  });

  it("local renders with KUBECONFIG set too (the SDK would hand its path to a provider that renders only)", async () => {
    const before = process.env.KUBECONFIG;
    process.env.KUBECONFIG = "/home/someone/.kube/config";
    try {
      const run = await runProgram(stackFileConfig("local"));
      const provider = run.one("pulumi:providers:kubernetes", "llm-serving-kubernetes");
      // Empty, which the provider takes as unset: a path here fails "kubeconfig arg is not compatible with renderYamlToDirectory".
      expect(provider.inputs.kubeconfig).toBe("");
      expect(provider.inputs.renderYamlToDirectory).toBe("./rendered");
    } finally {
      if (before === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = before;
    }
  });

  it("dev wires R2 + hostPath + vLLM Llama 3.1 8B pinned to its revision", async () => {
    const run = await runProgram(stackFileConfig("dev"));
    expect(run.one("cloudflare:index/r2Bucket:R2Bucket", "bucket").inputs.name).toBe("llm-models-dev");
    const server = run.one(DEPLOYMENT, "llama-3-1-8b-instruct-server");
    expect(server.inputs.spec.template.spec.containers[0].args[0]).toBe(
      "/models/meta-llama/Llama-3.1-8B-Instruct/0e9e39f249a16976918f6564b8830bc894c89659",
    );
    expect(server.inputs.spec.template.spec.runtimeClassName).toBe("nvidia");
  });

  it("prod wires R2 + JuiceFS with two replicated models, one on SGLang with HiCache on JuiceFS", async () => {
    const run = await runProgram(repoStackConfig("prod"), ["apiKey"]);
    expect(run.byType("llm-serving:storage:JuiceFsModelCache")).toHaveLength(2);
    const sglang = run.one(DEPLOYMENT, "qwen2-5-7b-instruct-server");
    expect(sglang.inputs.spec.replicas).toBe(2);
    const container = sglang.inputs.spec.template.spec.containers[0];
    expect(container.args).toContain("--enable-hierarchical-cache");
    expect(container.env).toContainEqual({ name: "SGLANG_HICACHE_FILE_BACKEND_STORAGE_DIR", value: "/kv-cache" });
    expect(run.one("kubernetes:core/v1:PersistentVolumeClaim", "qwen2-5-7b-instruct-kv-cache").inputs.spec.accessModes).toEqual([
      "ReadWriteMany",
    ]);
    expect(run.byType("kubernetes:policy/v1:PodDisruptionBudget")).toHaveLength(2);
  });
});

describe("docs/engines.md worked examples", () => {
  const engines = readFileSync(join(__dirname, "..", "docs", "engines.md"), "utf8");
  /** The docs/engines.md command that starts with `start`, as one line of words. */
  const example = (start: string) => {
    const block = engines.split("```").find((b) => b.trimStart().startsWith(start));
    if (!block) throw new Error(`no docs/engines.md example starting with ${start}`);
    return block.replace(/#.*$/gm, "").replace(/\\\n/g, " ").trim().split(/\s+/);
  };

  it("vLLM example is exactly what the dev stack runs", async () => {
    const run = await runProgram(stackFileConfig("dev"));
    const c = run.one(DEPLOYMENT, "llama-3-1-8b-instruct-server").inputs.spec.template.spec.containers[0];
    expect([...c.command, ...c.args]).toEqual(example("vllm serve"));
  });

  it("Dynamo example (seed 003: Fluid + Dynamo) renders exactly its frontend's and worker's command lines", async () => {
    const block =
      engines.split("```yaml")[
        1 +
          engines
            .split("```yaml")
            .slice(1)
            .findIndex((b) => b.includes("engine: dynamo"))
      ];
    const file = parse(block.slice(0, block.indexOf("```"))) as { config: Record<string, unknown> };
    const raw = Object.fromEntries(Object.entries(file.config).map(([k, v]) => [k.slice("llm-serving:".length), v]));
    const run = await runProgram(raw);
    const graph = run.one("kubernetes:nvidia.com/v1beta1:DynamoGraphDeployment", "llama-70b-server").inputs.spec;
    const line = (name: string) => {
      const c = graph.components.find((x: { name: string }) => x.name === name).podTemplate.spec.containers[0];
      return [...c.command, ...c.args];
    };
    expect(line("frontend")).toEqual(example("python3 -m dynamo.frontend"));
    expect(line("worker")).toEqual(example("python3 -m dynamo.vllm"));
    const affinity = graph.components[1].podTemplate.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(affinity.nodeSelectorTerms[0].matchExpressions[0].key).toBe("fluid.io/s-llm-llama-70b-weights");
  });

  it("the two-node example (Llama-3.1-405B) renders exactly its leader's command line, its worker's with --headless", async () => {
    const blocks = engines.split("```yaml").slice(1);
    const block = blocks.find((b) => b.slice(0, b.indexOf("```")).includes("nodes: 2"))!;
    const file = parse(block.slice(0, block.indexOf("```"))) as { config: Record<string, unknown> };
    const raw = Object.fromEntries(Object.entries(file.config).map(([k, v]) => [k.slice("llm-serving:".length), v]));
    const run = await runProgram(raw);
    const template = run.one("kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet", "llama-405b-server").inputs.spec
      .leaderWorkerTemplate;
    const line = (c: { command: string[]; args: string[] }) => [...c.command, ...c.args];
    const leader = line(template.leaderTemplate.spec.containers[0]);
    expect(leader).toEqual(example("vllm serve s3://"));
    expect(line(template.workerTemplate.spec.containers[0])).toEqual([...leader, "--headless"]);
    const resources = template.leaderTemplate.spec.containers[0].resources.limits;
    expect(resources).toEqual({ memory: "527Gi", "nvidia.com/gpu": "8", "rdma/ib": "1" });
    const outputs = run.serving.models["llama-405b"];
    expect([outputs.nodes, outputs.gpus]).toEqual([2, 16]);
    expect(Math.round(outputs.coldStartSeconds / 100) * 100).toBe(1400);
  });

  it("SGLang example is exactly what the prod stack runs", async () => {
    const run = await runProgram(repoStackConfig("prod"), ["apiKey"]);
    const c = run.one(DEPLOYMENT, "qwen2-5-7b-instruct-server").inputs.spec.template.spec.containers[0];
    expect([...c.command, ...c.args]).toEqual(example("python3 -m sglang.launch_server"));
  });
});
