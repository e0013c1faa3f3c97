/**
 * `engine: dynamo`: a DynamoGraphDeployment (nvidia.com/v1beta1) per model, its worker reading the
 * weights from the same cache the strategy prepares for vLLM or SGLang (compared with the Deployment
 * or StatefulSet those engines get on the same stack), its frontend behind the model's Service, and
 * the configs Dynamo cannot serve refused before anything is created, naming the key.
 */
import { describe, expect, it } from "vitest";
import { DYNAMO_IMAGES, DYNAMO_SYSTEM_PORT } from "../components/engines/dynamo";
import { baseConfig, expectConfigError, imageFor, RecordedResource, runProgram } from "./harness";

const DGD = "kubernetes:nvidia.com/v1beta1:DynamoGraphDeployment";
const REV = "7ae557604adf67be50417f59c2c2f167def9a775";
const CREDENTIAL_NAME = /KEY|SECRET|TOKEN|PASSWORD/i;
const STRATEGIES = ["hostPath", "localPath", "longhorn", "fluid", "juicefs", "s3Streaming"] as const;

function stack(strategy: string, engine: string, model: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const backend = engine === "dynamo" ? ((model.dynamo as { backend: string } | undefined)?.backend ?? "vllm") : engine;
  return baseConfig({
    storage: { strategy },
    compileCache: { enabled: true },
    observability: { prometheus: { enabled: true } },
    models: [
      {
        name: "m",
        huggingFace: "Qwen/Qwen2.5-7B-Instruct",
        revision: REV,
        engine,
        sizeGiB: 16,
        gpus: 2,
        ...(engine === "dynamo" ? { dynamo: { backend } } : imageFor(strategy, engine)),
        ...model,
      },
    ],
    ...extra,
  });
}

type Component = { name: string; type: string; replicas: number; sharedMemorySize?: string; podTemplate: { metadata: any; spec: any } };

function graph(resources: RecordedResource[]): { spec: { backendFramework: string; components: Component[] }; dgd: RecordedResource } {
  const dgd = resources.find((r) => r.type === DGD);
  expect(dgd, "a DynamoGraphDeployment").toBeDefined();
  return { spec: dgd!.inputs.spec, dgd: dgd! };
}

const component = (spec: { components: Component[] }, name: string) => spec.components.find((c) => c.name === name)!;

/** The pod template of the server vLLM or SGLang gets on the same stack. */
function serverTemplate(resources: RecordedResource[]): any {
  return resources.find((r) => r.name === "m-server")!.inputs.spec.template;
}

const matrix = STRATEGIES.flatMap((strategy) =>
  (["vllm", "sglang"] as const).filter((b) => !(strategy === "s3Streaming" && b === "sglang")).map((b) => [strategy, b] as const),
);

describe.each(matrix)("dynamo × %s × %s", (strategy, backend) => {
  it("renders a frontend and a worker on the strategy's cache, as the engine's own server would read it", async () => {
    const dynamo = await runProgram(stack(strategy, "dynamo", { dynamo: { backend } }));
    const plain = await runProgram(stack(strategy, backend));
    const { spec, dgd } = graph(dynamo.resources);
    expect(dgd.inputs.metadata.name).toBe("m");
    expect(spec.backendFramework).toBe(backend);
    expect(spec.components.map((c) => [c.name, c.type])).toEqual([
      ["frontend", "frontend"],
      ["worker", "worker"],
    ]);
    // Nothing of vLLM's or SGLang's own workload is left.
    expect(dynamo.resources.filter((r) => r.name === "m-server").map((r) => r.type)).toEqual([DGD]);

    const worker = component(spec, "worker");
    const server = serverTemplate(plain.resources).spec;
    const [main] = worker.podTemplate.spec.containers;
    expect(main.name).toBe("main");
    expect(main.image).toBe(DYNAMO_IMAGES[backend]);
    expect(main.command).toEqual(["python3"]);
    expect(main.args.slice(0, 2)).toEqual(["-m", `dynamo.${backend}`]);
    // The same model location, tensor parallelism and loader as the engine's own server.
    const serverArgs: string[] = server.containers[0].args;
    const location = backend === "vllm" ? serverArgs[0] : serverArgs[serverArgs.indexOf("--model-path") + 1];
    expect(main.args[main.args.indexOf(backend === "vllm" ? "--model" : "--model-path") + 1]).toBe(location);
    expect(main.args).toContain(backend === "vllm" ? "--tensor-parallel-size" : "--tp-size");
    expect(main.args[main.args.indexOf("--served-model-name") + 1]).toBe("m");
    if (strategy === "s3Streaming") expect(main.args).toEqual(expect.arrayContaining(["--load-format", "runai_streamer"]));
    // The same init steps, volumes (the operator owns /dev/shm), mounts, placement, resources, security.
    expect(worker.podTemplate.spec.initContainers.map((c: any) => c.name)).toEqual(server.initContainers.map((c: any) => c.name));
    const volumes = (spec: any) => spec.volumes.map((v: any) => v.name).sort();
    const claims = strategy === "localPath" ? ["models"] : [];
    expect(volumes(worker.podTemplate.spec)).toEqual([...volumes(server), ...claims].sort());
    expect(main.volumeMounts).toEqual(server.containers[0].volumeMounts);
    // Its own memory-backed /dev/shm, sized as for the engine's server; none from the operator.
    expect(worker.podTemplate.spec.volumes.find((v: any) => v.name === "dshm")).toEqual(server.volumes.find((v: any) => v.name === "dshm"));
    expect(worker.sharedMemorySize).toBe("0");
    expect(worker.podTemplate.spec.affinity).toEqual(server.affinity);
    expect(worker.podTemplate.spec.nodeSelector).toEqual(server.nodeSelector);
    expect(main.resources).toEqual(server.containers[0].resources);
    expect(main.resources.limits["nvidia.com/gpu"]).toBe("2");
    expect(main.securityContext).toEqual(server.containers[0].securityContext);
    expect(worker.podTemplate.spec.securityContext).toEqual(server.securityContext);
    // Its probes on the system port, sized by the same startup budget; the operator's discovery needs the pod's token.
    expect(main.startupProbe).toMatchObject({ httpGet: { path: "/live", port: DYNAMO_SYSTEM_PORT } });
    expect(main.startupProbe.failureThreshold).toBe(server.containers[0].startupProbe.failureThreshold);
    expect(main.readinessProbe.httpGet).toEqual({ path: "/health", port: DYNAMO_SYSTEM_PORT });
    expect(main.ports).toBeUndefined();
    expect(worker.podTemplate.spec.serviceAccountName).toBeUndefined();
    expect(worker.podTemplate.spec.automountServiceAccountToken).toBeUndefined();
    // The compile caches, as for the engine's own server.
    expect(
      main.env
        .filter((e: any) => e.name.endsWith("CACHE_ROOT") || e.name.endsWith("CACHE_DIR"))
        .map((e: any) => e.name)
        .sort(),
    ).toEqual(
      server.containers[0].env
        .filter((e: any) => e.name.endsWith("CACHE_ROOT") || e.name.endsWith("CACHE_DIR"))
        .map((e: any) => e.name)
        .sort(),
    );
    // Credentials only by reference.
    for (const c of [...worker.podTemplate.spec.initContainers, main]) {
      for (const e of c.env ?? []) if (CREDENTIAL_NAME.test(e.name)) expect(e.valueFrom, `${c.name} ${e.name}`).toBeDefined();
    }

    // The frontend: no GPU, the weights read-only at the same paths, behind the model's Service.
    const frontend = component(spec, "frontend");
    const [http] = frontend.podTemplate.spec.containers;
    expect(http.args).toEqual(["-m", "dynamo.frontend", "--http-port", "8000", "--router-mode", "round-robin"]);
    expect(http.image).toBe(DYNAMO_IMAGES[backend]);
    expect(http.resources.limits["nvidia.com/gpu"]).toBeUndefined();
    const modelMounts = main.volumeMounts.filter((m: any) => m.mountPath === "/models");
    for (const m of modelMounts) expect(http.volumeMounts).toContainEqual({ ...m, readOnly: true });
    const service = dynamo.one("kubernetes:core/v1:Service", "m-svc").inputs.spec;
    expect(frontend.podTemplate.metadata.labels).toMatchObject(service.selector);
    expect(worker.podTemplate.metadata.labels).not.toMatchObject(service.selector);
    expect(service.ports).toEqual([{ name: "http", port: 8000, targetPort: "http" }]);
    // Metrics from the frontend's HTTP port.
    const monitor = dynamo.resources.find((r) => r.type.endsWith(":PodMonitor"))!.inputs.spec;
    expect(frontend.podTemplate.metadata.labels).toMatchObject(monitor.selector.matchLabels);
    // The smoke check watches the workers, which load the model.
    const check = dynamo.one("kubernetes:batch/v1:Job", "m-smoke-check").inputs.spec.template.spec.containers[0];
    const selector = (check.env.find((e: any) => e.name === "SERVER_POD_SELECTOR").value as string).split(",").map((kv) => kv.split("="));
    expect(worker.podTemplate.metadata.labels).toMatchObject(Object.fromEntries(selector));
    expect(frontend.podTemplate.metadata.labels).not.toMatchObject(Object.fromEntries(selector));
  });
});

describe("dynamo's caches and platform", () => {
  it("localPath: the claim a StatefulSet's first pod would get, kept on destroy", async () => {
    const run = await runProgram(stack("localPath", "dynamo"));
    const claim = run.one("kubernetes:core/v1:PersistentVolumeClaim", "m-models");
    expect(claim.inputs.metadata.name).toBe("models-m-0");
    expect(claim.opts.retainOnDelete).toBe(true);
    const worker = component(graph(run.resources).spec, "worker").podTemplate.spec;
    expect(worker.volumes).toContainEqual({ name: "models", persistentVolumeClaim: { claimName: "models-m-0" } });
  });

  it("hostPath: the frontend goes to the node with the weights", async () => {
    const run = await runProgram(stack("hostPath", "dynamo"));
    const { spec } = graph(run.resources);
    expect(component(spec, "frontend").podTemplate.spec.nodeSelector).toEqual(component(spec, "worker").podTemplate.spec.nodeSelector);
    expect(Object.keys(component(spec, "frontend").podTemplate.spec.nodeSelector)).toContain("llm-serving.io/model-host");
  });

  it("revision cleanup waits for the smoke check, since nothing awaits a DynamoGraphDeployment's pods", async () => {
    const run = await runProgram(stack("hostPath", "dynamo"));
    const prune = run.one("kubernetes:batch/v1:Job", "m-prune-revisions");
    const dependsOn = (prune.opts.dependsOn as any[]).map((d) => d);
    const check = run.resources.find((r) => r.name === "m-smoke-check")!;
    expect(dependsOn.length).toBe(1);
    expect(await new Promise((res) => (dependsOn[0].urn as any).apply(res))).toContain(check.name);
  });

  it("dynamo.install: the dynamo-platform chart, which every graph waits for", async () => {
    const off = await runProgram(stack("longhorn", "dynamo"));
    expect(off.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release")).toEqual([]);
    const on = await runProgram(stack("longhorn", "dynamo", {}, { dynamo: { install: { enabled: true } } }));
    const release = on.one("kubernetes:helm.sh/v3:Release", "dynamo-platform").inputs;
    expect(release).toMatchObject({
      chart: "dynamo-platform",
      version: "1.6.1",
      namespace: "dynamo-system",
      repositoryOpts: { repo: "https://helm.ngc.nvidia.com/nvidia/ai-dynamo" },
    });
    const dgd = graph(on.resources).dgd;
    expect((dgd.opts.dependsOn as any[]).length).toBeGreaterThan(0);
  });

  it("the router mode and frontend replicas reach the frontend", async () => {
    const run = await runProgram(stack("longhorn", "dynamo", { dynamo: { backend: "sglang", routerMode: "kv", frontendReplicas: 2 } }));
    const frontend = component(graph(run.resources).spec, "frontend");
    expect(frontend.replicas).toBe(2);
    expect(frontend.podTemplate.spec.containers[0].args.slice(-2)).toEqual(["--router-mode", "kv"]);
  });
});

describe("what Dynamo cannot serve is refused, naming the key", () => {
  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    ["no backend", stack("longhorn", "dynamo", { dynamo: undefined }), /models\[0\]\.dynamo\.backend: is required with engine "dynamo"/],
    [
      "dynamo settings on vLLM",
      stack("longhorn", "vllm", { dynamo: { backend: "vllm" } }),
      /models\[0\]\.dynamo: is only valid with engine "dynamo"/,
    ],
    [
      "s3Streaming × sglang",
      stack("s3Streaming", "dynamo", { dynamo: { backend: "sglang" } }),
      /storage\.strategy: is "s3Streaming", but models\[0\] runs Dynamo's sglang worker/,
    ],
    [
      "mirror: false",
      stack("longhorn", "dynamo", { mirror: false }),
      /models\[0\]\.mirror: is false, but Dynamo's workers serve from the cache/,
    ],
    [
      "an SGLang runtime with backend vllm",
      stack("longhorn", "dynamo", { image: "nvcr.io/nvidia/ai-dynamo/sglang-runtime:1.6.1" }),
      /models\[0\]\.image: found "nvcr\.io\/nvidia\/ai-dynamo\/sglang-runtime:1\.6\.1", a Dynamo sglang runtime, but dynamo\.backend is "vllm"/,
    ],
    [
      "an API key",
      stack("longhorn", "dynamo", {}, { apiKey: "dynamo-key-0123456789abcdef" }),
      /apiKeys\.m: .*Dynamo 1\.6\.1's frontend checks none/,
    ],
    [
      "autoscaling",
      stack(
        "longhorn",
        "dynamo",
        { autoscaling: { maxReplicas: 2, target: 4 } },
        { observability: { prometheus: { enabled: true, serverAddress: "http://p:9090" } } },
      ),
      /models\[0\]\.autoscaling: is not available with engine "dynamo"/,
    ],
    [
      "prod, which serves no open endpoint",
      stack("longhorn", "dynamo", { revision: REV }, { environment: "prod", networkPolicy: { enabled: false } }),
      /apiKey: is required in environment "prod".*m run engine "dynamo", whose frontend takes no key/,
    ],
    ["a surge roll", stack("longhorn", "dynamo", { rollout: "surge" }), /models\[0\]\.rollout: is "surge", but the Dynamo operator rolls/],
    [
      "NetworkPolicies",
      stack("longhorn", "dynamo", {}, { networkPolicy: { enabled: true, clientPodLabels: { app: "chat" } } }),
      /networkPolicy\.enabled: is on, but models\[0\] is a Dynamo graph/,
    ],
  ];
  it.each(refusals)("%s", async (_what, raw, message) => {
    const { error, registered } = await expectConfigError(raw);
    expect(error.message).toMatch(message);
    expect(registered).toBe(0);
  });
});
