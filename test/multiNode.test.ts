/**
 * `models[].nodes`: a model larger than one node served by a LeaderWorkerSet of groups, each member
 * on the pod template the single-node server gets on the same stack, the engine's group flags at its
 * rank, only the leader serving HTTP; and the configs a group cannot run refused, naming the key.
 */
import { describe, expect, it } from "vitest";
import { baseConfig, expectConfigError, GPU_NODES, imageFor, RecordedResource, resolve, runProgram } from "./harness";

const LWS = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet";
const REV = "7ae557604adf67be50417f59c2c2f167def9a775";
const GROUP_STRATEGIES = ["localPath", "longhorn", "fluid", "juicefs", "s3Streaming"] as const;

function stack(strategy: string, engine: string, nodes: number, model: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return baseConfig({
    storage: {
      strategy,
      ...(strategy === "fluid" ? { fluid: { replicas: Math.max(nodes, 1) } } : {}),
      ...(strategy === "juicefs" ? { juicefs: { cacheSizeGiB: 1000 } } : {}),
    },
    networkPolicy: { enabled: true, clientPodLabels: { app: "chat" } },
    models: [
      {
        name: "big",
        huggingFace: "meta-llama/Llama-3.1-405B-Instruct",
        revision: REV,
        engine,
        sizeGiB: 760,
        gpus: 8,
        nodes,
        memory: "1500Gi",
        ...(nodes > 1 ? { multiNode: { resources: { "rdma/ib": "1" } } } : {}),
        ...imageFor(strategy, engine),
        ...model,
      },
    ],
    ...extra,
  });
}

function group(resources: RecordedResource[]): any {
  const lws = resources.find((r) => r.type === LWS);
  expect(lws, "a LeaderWorkerSet").toBeDefined();
  return lws!.inputs;
}

const flag = (args: string[], name: string) => args[args.indexOf(name) + 1];

const matrix = GROUP_STRATEGIES.flatMap((strategy) =>
  ([2, 4] as const).flatMap((nodes) => (["vllm", "sglang"] as const).map((engine) => [strategy, nodes, engine] as const)),
);

describe.each(matrix)("%s × nodes %i × %s", (strategy, nodes, engine) => {
  it("renders a LeaderWorkerSet whose members are the single-node server at their rank", async () => {
    const run = await runProgram(stack(strategy, engine, nodes));
    const single = await runProgram(stack(strategy, engine, 1));
    const lws = group(run.resources);
    expect(run.resources.filter((r) => r.name === "big-server").map((r) => r.type)).toEqual([LWS]);
    expect(lws.spec.replicas).toBe(1);
    const template = lws.spec.leaderWorkerTemplate;
    expect(template.size).toBe(nodes);
    expect(template.restartPolicy).toBe("RecreateGroupOnPodRestart");
    const server = single.resources.find((r) => r.name === "big-server")!.inputs.spec;
    const serverPod = server.template.spec;
    const [leader] = template.leaderTemplate.spec.containers;
    const [worker] = template.workerTemplate.spec.containers;
    const [one] = serverPod.containers;

    // Rank from LWS, the leader's address, the group's size; the same model and loader flags.
    for (const c of [leader, worker]) {
      expect(c.image).toBe(one.image);
      expect(flag(c.args, "--node-rank") ?? flag(c.args, "--data-parallel-start-rank")).toBe("$(LWS_WORKER_INDEX)");
      if (engine === "vllm") {
        expect(c.args[0]).toBe(one.args[0]);
        expect(flag(c.args, "--tensor-parallel-size")).toBe("8");
        expect(flag(c.args, "--pipeline-parallel-size")).toBe(String(nodes));
        expect(flag(c.args, "--master-addr")).toBe("$(LWS_LEADER_ADDRESS)");
        expect(flag(c.args, "--nnodes")).toBe(String(nodes));
      } else {
        expect(flag(c.args, "--model-path")).toBe(flag(one.args, "--model-path"));
        expect(flag(c.args, "--tp-size")).toBe(String(8 * nodes));
        expect(flag(c.args, "--dist-init-addr")).toBe("$(LWS_LEADER_ADDRESS):29500");
        expect(flag(c.args, "--nnodes")).toBe(String(nodes));
      }
      // Every member: the node's GPUs, the interconnect, the same memory.
      expect(c.resources.limits).toEqual({ ...one.resources.limits, "rdma/ib": "1" });
      expect(c.resources.requests).toEqual({ ...one.resources.requests, "rdma/ib": "1" });
      expect(c.volumeMounts).toEqual(one.volumeMounts);
      expect(c.securityContext).toEqual(one.securityContext);
    }
    expect(worker.args.includes("--headless")).toBe(engine === "vllm");
    expect(leader.args.includes("--headless")).toBe(false);
    // Only the leader serves: port and probes; the startup budget covers its share of the model.
    expect(leader.ports).toEqual(one.ports);
    expect(leader.startupProbe.httpGet).toEqual(one.startupProbe.httpGet);
    expect(leader.startupProbe.failureThreshold).toBeLessThanOrEqual(one.startupProbe.failureThreshold);
    for (const p of ["ports", "startupProbe", "readinessProbe", "livenessProbe"]) expect(worker[p], p).toBeUndefined();
    // The same pod around them: init steps, volumes, placement, /dev/shm.
    for (const spec of [template.leaderTemplate.spec, template.workerTemplate.spec]) {
      expect(spec.initContainers.map((c: any) => c.name)).toEqual(serverPod.initContainers.map((c: any) => c.name));
      expect(spec.volumes).toEqual(serverPod.volumes);
      expect(spec.affinity).toEqual(serverPod.affinity);
      expect(spec.nodeSelector).toEqual(serverPod.nodeSelector);
    }
    // localPath: each member fills its own claim on its node.
    expect(template.volumeClaimTemplates ?? []).toEqual(server.volumeClaimTemplates ?? []);

    // The Service reaches the leader only; the smoke check watches every member; the policy admits the group.
    const service = run.one("kubernetes:core/v1:Service", "big-svc").inputs.spec;
    expect(service.selector["leaderworkerset.sigs.k8s.io/worker-index"]).toBe("0");
    const check = run.one("kubernetes:batch/v1:Job", "big-smoke-check").inputs.spec.template.spec.containers[0];
    const selector = check.env.find((e: any) => e.name === "SERVER_POD_SELECTOR").value as string;
    expect(selector).not.toContain("worker-index");
    const policy = run.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "big-ingress").inputs.spec;
    expect(policy.ingress).toContainEqual({ from: [{ podSelector: { matchLabels: policy.podSelector.matchLabels } }] });
    // Nothing awaits a LeaderWorkerSet's pods: revision cleanup (where a strategy has one) follows the smoke check.
    const prune = run.resources.find((r) => r.name === "big-prune-revisions");
    if (prune) expect(await resolve((prune.opts.dependsOn as any[])[0].urn)).toContain("big-smoke-check");
  });
});

describe("groups", () => {
  it("nodes 1 stays a Deployment or StatefulSet, with no group flag", async () => {
    for (const engine of ["vllm", "sglang"]) {
      const run = await runProgram(stack("longhorn", engine, 1));
      expect(run.resources.filter((r) => r.type === LWS)).toEqual([]);
      const args: string[] = run.one("kubernetes:apps/v1:Deployment", "big-server").inputs.spec.template.spec.containers[0].args;
      for (const f of ["--nnodes", "--node-rank", "--dist-init-addr", "--pipeline-parallel-size", "--headless"])
        expect(args).not.toContain(f);
    }
  });

  it("each member stages and loads its share of the weights (pipeline or tensor parallel); the outputs count the group", async () => {
    const raw = (nodes: number, mode?: string) =>
      stack("longhorn", "vllm", nodes, { memory: undefined, ...(mode ? { multiNode: { mode } } : {}) });
    const memory = async (r: Record<string, unknown>) => {
      const run = await runProgram(r);
      const workload = run.resources.find((x) => x.name === "big-server")!.inputs.spec;
      const pod = workload.leaderWorkerTemplate?.leaderTemplate.spec ?? workload.template.spec;
      return { memory: pod.containers[0].resources.limits.memory, outputs: run.serving.models.big };
    };
    const one = await memory(raw(1));
    const two = await memory(raw(2));
    const data = await memory(raw(2, "data"));
    // 760 GiB: ceil(1.2 × 760 / shards) + 8 runtime + 64 /dev/shm.
    expect([one.memory, two.memory, data.memory]).toEqual(["984Gi", "528Gi", "984Gi"]);
    expect(two.outputs.coldStartSeconds).toBeLessThan(one.outputs.coldStartSeconds);
    expect(two.outputs.warmStartSeconds).toBeLessThan(one.outputs.warmStartSeconds);
    expect([two.outputs.nodes, two.outputs.gpus, two.outputs.workload]).toEqual([2, 16, "LeaderWorkerSet"]);
  });

  it("vLLM data parallel: a data-parallel rank per node, the workers headless", async () => {
    const run = await runProgram(stack("longhorn", "vllm", 2, { multiNode: { mode: "data", port: 13345 } }));
    const template = group(run.resources).spec.leaderWorkerTemplate;
    const leader: string[] = template.leaderTemplate.spec.containers[0].args;
    expect(leader.slice(leader.indexOf("--data-parallel-size"))).toEqual([
      "--data-parallel-size",
      "2",
      "--data-parallel-size-local",
      "1",
      "--data-parallel-start-rank",
      "$(LWS_WORKER_INDEX)",
      "--data-parallel-address",
      "$(LWS_LEADER_ADDRESS)",
      "--data-parallel-rpc-port",
      "13345",
    ]);
    expect(template.workerTemplate.spec.containers[0].args.at(-1)).toBe("--headless");
    // Each rank holds the whole model: no share in the startup budget.
    const split = await runProgram(stack("longhorn", "vllm", 2));
    expect(run.serving.models.big.startupBudgetSeconds).toBeGreaterThan(split.serving.models.big.startupBudgetSeconds);
  });

  it("replicas, surge and autoscaling act on whole groups", async () => {
    const replicated = await runProgram(stack("longhorn", "vllm", 2, { replicas: 2, rollout: "surge" }));
    const lws = group(replicated.resources);
    expect(lws.spec.replicas).toBe(2);
    expect(lws.spec.rolloutStrategy).toEqual({ type: "RollingUpdate", rollingUpdateConfiguration: { maxUnavailable: 0, maxSurge: 1 } });
    // One group down at a time: a PDB over every member allows one pod, whose group then recreates.
    const pdb = replicated.one("kubernetes:policy/v1:PodDisruptionBudget", "big-pdb").inputs.spec;
    expect(pdb.maxUnavailable).toBe(1);
    expect(pdb.selector.matchLabels["leaderworkerset.sigs.k8s.io/worker-index"]).toBeUndefined();
    const scaled = await runProgram(
      stack(
        "longhorn",
        "vllm",
        2,
        { autoscaling: { maxReplicas: 3, target: 4 } },
        { observability: { prometheus: { enabled: true, serverAddress: "http://prometheus-operated.monitoring.svc:9090" } } },
      ),
    );
    const target = scaled.resources.find((r) => r.type.endsWith(":ScaledObject"))!.inputs.spec.scaleTargetRef;
    expect(target).toEqual({ apiVersion: "leaderworkerset.x-k8s.io/v1", kind: "LeaderWorkerSet", name: "big" });
  });

  it("lws.install: the lws chart from its OCI repository, which every group waits for", async () => {
    const run = await runProgram(stack("longhorn", "sglang", 2, {}, { lws: { install: { enabled: true } } }));
    expect(run.one("kubernetes:helm.sh/v3:Release", "lws").inputs).toMatchObject({
      chart: "oci://registry.k8s.io/lws/charts/lws",
      version: "0.9.0",
      namespace: "lws-system",
    });
    expect(run.one("kubernetes:helm.sh/v3:Release", "lws").inputs.repositoryOpts).toBeUndefined();
    const lws = run.resources.find((r) => r.type === LWS)!;
    const deps = await Promise.all((lws.opts.dependsOn as any[]).map((d) => resolve(d.urn)));
    expect(deps.some((urn) => String(urn).endsWith("::lws"))).toBe(true);
  });
});

describe("what a group cannot run is refused, naming the key", () => {
  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      "hostPath",
      stack("hostPath", "vllm", 2),
      /storage\.strategy: is "hostPath", which keeps the weights on one pinned node, but models\[0\] spans 2 nodes/,
    ],
    [
      "too few Fluid cache workers",
      stack("fluid", "vllm", 2, {}, { storage: { strategy: "fluid", fluid: { replicas: 1 } }, kubernetes: { nodeSelector: GPU_NODES } }),
      /storage\.fluid\.replicas: found 1; models\[0\] spans 2 nodes/,
    ],
    ["Dynamo", stack("longhorn", "dynamo", 2, { dynamo: { backend: "vllm" } }), /models\[0\]\.nodes: found 2; engine "dynamo"/],
    [
      "vLLM tensor parallel across nodes",
      stack("longhorn", "vllm", 2, { multiNode: { mode: "tensor" } }),
      /models\[0\]\.multiNode\.mode: found "tensor"; vllm spans nodes with "pipeline" or "data"/,
    ],
    [
      "SGLang pipeline",
      stack("longhorn", "sglang", 2, { multiNode: { mode: "pipeline" } }),
      /models\[0\]\.multiNode\.mode: found "pipeline"; sglang spans nodes with "tensor"/,
    ],
    [
      "multiNode on one node",
      stack("longhorn", "vllm", 1, { multiNode: { port: 30000 } }),
      /models\[0\]\.multiNode: only applies to a group spanning nodes/,
    ],
    [
      "a group flag in extraArgs",
      stack("longhorn", "vllm", 2, { extraArgs: ["--pipeline-parallel-size=4"] }),
      /models\[0\]\.extraArgs\[0\]: found "--pipeline-parallel-size=4"; a group's ranks and parallel sizes are set by llm-serving/,
    ],
    [
      "a bad interconnect resource",
      stack("longhorn", "vllm", 2, { multiNode: { resources: { rdma: "1" } } }),
      /models\[0\]\.multiNode\.resources/,
    ],
  ];
  it.each(refusals)("%s", async (_what, raw, message) => {
    const { error, registered } = await expectConfigError(raw);
    expect(error.message).toMatch(message);
    expect(registered).toBe(0);
  });
});
