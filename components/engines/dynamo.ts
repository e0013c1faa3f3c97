/**
 * NVIDIA Dynamo 1.6.1: a DynamoGraphDeployment (nvidia.com/v1beta1) of a frontend (`python3 -m
 * dynamo.frontend`: the OpenAI-compatible HTTP server and router, port 8000) and workers running the
 * backend engine (`python3 -m dynamo.vllm` / `dynamo.sglang`, their system port 9090 with /health,
 * /live, /metrics). Flags follow the ai-dynamo 1.6.1 wheel, whose worker parsers hand every other
 * flag to the engine it pins (vllm 0.31.0's AsyncEngineArgs, sglang 0.5.21's ServerArgs).
 */
import { ConfigIssue } from "../config/issues";
import { DynamoBackend, ModelConfig, StackConfig } from "../config/schema";
import { sglangEngine } from "./sglang";
import { runaiExtraConfig, vllmEngine } from "./vllm";
import { cacheEnv, CACHE_ROOT, EngineLaunch, EngineLaunchArgs, InferenceEngine } from "./engine";

export const DYNAMO_VERSION = "1.6.1";
/** The runtime images of the release: the frontend and the workers run the same one. */
export const DYNAMO_IMAGES: Record<DynamoBackend, string> = {
  vllm: `nvcr.io/nvidia/ai-dynamo/vllm-runtime:${DYNAMO_VERSION}`,
  sglang: `nvcr.io/nvidia/ai-dynamo/sglang-runtime:${DYNAMO_VERSION}`,
};
/** The engine versions ai-dynamo 1.6.1 pins (its `vllm` and `sglang` extras): the workers' flags are theirs. */
export const DYNAMO_BACKEND_VERSIONS: Record<DynamoBackend, string> = { vllm: "0.31.0", sglang: "0.5.21" };
/** The frontend's HTTP port (`--http-port`, the operator's `http` port). */
export const DYNAMO_FRONTEND_PORT = 8000;
/** The workers' system port, where the operator points its probes (`DYN_SYSTEM_PORT`). */
export const DYNAMO_SYSTEM_PORT = 9090;

/** The worker's arguments after `python3`: the backend's model, name, parallelism and loader flags. */
export function dynamoWorkerArgs(backend: DynamoBackend, { model, source }: EngineLaunchArgs): EngineLaunch["args"] {
  if (source.kind === "huggingFace")
    throw new Error(`models ${model.name}: Dynamo serves from the cache (parseStackConfig refuses mirror: false)`);
  const location = source.kind === "path" ? source.path : source.uri;
  if (backend === "vllm") {
    const args: EngineLaunch["args"] = ["-m", "dynamo.vllm", "--model", location, "--served-model-name", model.name];
    args.push("--tensor-parallel-size", String(model.gpus));
    if (model.maxModelLen !== undefined) args.push("--max-model-len", String(model.maxModelLen));
    if (model.gpuMemoryUtilization !== undefined) args.push("--gpu-memory-utilization", String(model.gpuMemoryUtilization));
    if (source.kind === "s3")
      args.push("--load-format", "runai_streamer", "--model-loader-extra-config", runaiExtraConfig(source, model.gpus));
    return [...args, ...model.extraArgs];
  }
  const args: EngineLaunch["args"] = ["-m", "dynamo.sglang", "--model-path", location, "--served-model-name", model.name];
  args.push("--tp-size", String(model.gpus));
  if (model.maxModelLen !== undefined) args.push("--context-length", String(model.maxModelLen));
  if (model.gpuMemoryUtilization !== undefined) args.push("--mem-fraction-static", String(model.gpuMemoryUtilization));
  return [...args, ...model.extraArgs];
}

/** The frontend's command line: HTTP on the operator's port, the model's router mode. */
export function dynamoFrontendArgs(model: ModelConfig): string[] {
  return ["-m", "dynamo.frontend", "--http-port", String(DYNAMO_FRONTEND_PORT), "--router-mode", model.dynamo?.routerMode ?? "round-robin"];
}

/** What Dynamo cannot serve, before anything is created (paths from the stack's root). */
export function dynamoIssues(config: StackConfig, i: number): ConfigIssue[] {
  const m = config.models[i];
  const at = (...path: (string | number)[]) => ["models", i, ...path];
  if (m.engine !== "dynamo") {
    return m.dynamo
      ? [{ path: at("dynamo"), message: `is only valid with engine "dynamo" (found engine ${JSON.stringify(m.engine)})` }]
      : [];
  }
  if (!m.dynamo) {
    return [{ path: at("dynamo", "backend"), message: 'is required with engine "dynamo": the engine its workers run, "vllm" or "sglang"' }];
  }
  const backend = m.dynamo.backend;
  const issues: ConfigIssue[] = [];
  if (!m.mirror) {
    issues.push({
      path: at("mirror"),
      message: "is false, but Dynamo's workers serve from the cache the storage strategy fills: set mirror: true",
    });
  }
  if (config.storage.strategy === "s3Streaming" && backend !== "vllm") {
    issues.push({
      path: ["storage", "strategy"],
      message: `is "s3Streaming", but models[${i}] runs Dynamo's ${backend} worker, which loads from a directory: use dynamo.backend "vllm" (it streams with --load-format runai_streamer) or a strategy with a volume (hostPath, localPath, longhorn, fluid, juicefs)`,
    });
  }
  const other = backend === "vllm" ? "sglang" : "vllm";
  if (m.image && new RegExp(`(^|/)${other}-runtime(:|@|$)`).test(m.image)) {
    issues.push({
      path: at("image"),
      message: `found ${JSON.stringify(m.image)}, a Dynamo ${other} runtime, but dynamo.backend is "${backend}": use ${DYNAMO_IMAGES[backend]} or set dynamo.backend "${other}"`,
    });
  }
  if (config.authenticatedModels.includes(m.name)) {
    issues.push({
      path: ["apiKeys", m.name],
      message: `(or llm-serving:apiKey) gives ${m.name} a key, but Dynamo ${DYNAMO_VERSION}'s frontend checks none (it has TLS and mTLS only): serve it behind a gateway that checks keys, and give the key only to the other models (llm-serving:apiKeys)`,
    });
  }
  if (m.autoscaling) {
    issues.push({
      path: at("autoscaling"),
      message:
        "is not available with engine \"dynamo\": a DynamoGraphDeployment's workers scale through Dynamo's planner, not a KEDA ScaledObject; remove it and set replicas",
    });
  }
  if (m.rollout === "surge") {
    issues.push({
      path: at("rollout"),
      message: 'is "surge", but the Dynamo operator rolls a DynamoGraphDeployment\'s workers itself: use "recreate"',
    });
  }
  if (config.networkPolicy.enabled) {
    issues.push({
      path: ["networkPolicy", "enabled"],
      message: `is on, but models[${i}] is a Dynamo graph, whose frontend, workers, NATS and API-server discovery talk on ports these policies do not admit: set networkPolicy.enabled: false for this stack`,
    });
  }
  return issues;
}

const BACKENDS: Record<DynamoBackend, InferenceEngine> = { vllm: vllmEngine, sglang: sglangEngine };

function dynamoEngine(backend: DynamoBackend): InferenceEngine {
  const base = BACKENDS[backend];
  return {
    name: "dynamo",
    defaultImage: DYNAMO_IMAGES[backend],
    port: DYNAMO_FRONTEND_PORT,
    healthPath: "/health",
    // The frontend's /v1/models lists served names, not the path it loaded: no revision to compare.
    servedModel: () => undefined,
    warmupSeconds: base.warmupSeconds,
    // The frontend's metrics (dynamo/prometheus_names.py, frontend_service; prefix dynamo_frontend_), on its HTTP port.
    metrics: {
      path: "/metrics",
      running: "dynamo_frontend_inflight_requests",
      waiting: "dynamo_frontend_queued_requests",
      ttftSeconds: "dynamo_frontend_time_to_first_token_seconds",
      generationTokens: "dynamo_frontend_output_tokens_total",
    },
    apiKey: () => {
      throw new Error("Dynamo's frontend takes no API key; parseStackConfig refuses one for engine dynamo");
    },
    compileCacheEnv: base.compileCacheEnv,
    validate: () => [],
    launch: (args) => ({
      command: ["python3"],
      args: dynamoWorkerArgs(backend, args),
      env: [
        ...cacheEnv(),
        ...(backend === "vllm"
          ? [
              { name: "VLLM_CACHE_ROOT", value: `${CACHE_ROOT}/vllm` },
              { name: "VLLM_NO_USAGE_STATS", value: "1" },
            ]
          : []),
      ],
    }),
    dynamo: { backend, systemPort: DYNAMO_SYSTEM_PORT, frontendArgs: dynamoFrontendArgs },
  };
}

export const dynamoEngines: Record<DynamoBackend, InferenceEngine> = { vllm: dynamoEngine("vllm"), sglang: dynamoEngine("sglang") };
