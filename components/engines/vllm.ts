/** vLLM (`vllm serve <model>`, port 8000, /health). Flags follow vLLM v0.33.0. */
import {
  apiKeyEnv,
  CACHE_ROOT,
  cacheEnv,
  commonCompileCacheEnv,
  EngineLaunch,
  EngineLaunchArgs,
  EngineModelSource,
  groupMode,
  GroupRole,
  InferenceEngine,
  LWS_ENV,
} from "./engine";
import { ModelConfig } from "../config/schema";

export const VLLM_IMAGE = "vllm/vllm-openai:v0.33.0";

/** vLLM's --model-loader-extra-config for the Run:ai streamer (RunaiModelStreamerLoader's keys). */
export function runaiExtraConfig(source: Extract<EngineModelSource, { kind: "s3" }>, gpus: number): string {
  const extra: Record<string, unknown> = { concurrency: source.concurrency };
  if (source.memoryLimitBytes !== undefined) extra.memory_limit = source.memoryLimitBytes;
  // Each tensor-parallel rank streams only its own shard.
  if (gpus > 1) extra.distributed = true;
  return JSON.stringify(extra);
}

/**
 * A group's flags (vLLM without Ray, its multi-node docs): every member joins the leader's rendezvous
 * at its rank; `pipeline` splits the layers across the nodes, `data` makes each node a data-parallel
 * rank; the workers run headless (no HTTP server).
 */
export function vllmGroupArgs(model: ModelConfig, role: GroupRole): string[] {
  if (model.nodes === 1) return [];
  const port = String(model.multiNode?.port ?? 29500);
  const headless = role === "worker" ? ["--headless"] : [];
  if (groupMode("vllm", model.multiNode?.mode) === "data") {
    return [
      "--data-parallel-size",
      String(model.nodes),
      "--data-parallel-size-local",
      "1",
      "--data-parallel-start-rank",
      `$(${LWS_ENV.workerIndex})`,
      "--data-parallel-address",
      `$(${LWS_ENV.leaderAddress})`,
      "--data-parallel-rpc-port",
      port,
      ...headless,
    ];
  }
  return [
    "--pipeline-parallel-size",
    String(model.nodes),
    "--nnodes",
    String(model.nodes),
    "--node-rank",
    `$(${LWS_ENV.workerIndex})`,
    "--master-addr",
    `$(${LWS_ENV.leaderAddress})`,
    "--master-port",
    port,
    ...headless,
  ];
}

export function vllmArgs({ model, source, role }: EngineLaunchArgs): EngineLaunch["args"] {
  const args: EngineLaunch["args"] = [];
  if (source.kind === "path") args.push(source.path);
  else if (source.kind === "s3") args.push(source.uri);
  else args.push(source.repo, "--revision", source.revision);
  args.push("--host", "0.0.0.0", "--port", "8000", "--served-model-name", model.name, "--tensor-parallel-size", String(model.gpus));
  if (model.maxModelLen !== undefined) args.push("--max-model-len", String(model.maxModelLen));
  if (model.gpuMemoryUtilization !== undefined) args.push("--gpu-memory-utilization", String(model.gpuMemoryUtilization));
  if (source.kind === "s3")
    args.push("--load-format", "runai_streamer", "--model-loader-extra-config", runaiExtraConfig(source, model.gpus));
  if (source.kind === "huggingFace") args.push("--download-dir", `${CACHE_ROOT}/huggingface/hub`);
  return [...args, ...vllmGroupArgs(model, role ?? "leader"), ...model.extraArgs];
}

export const vllmEngine: InferenceEngine = {
  name: "vllm",
  defaultImage: VLLM_IMAGE,
  // vLLM publishes every release's CUDA 12.9 build as v<version>-cu129 (.buildkite/scripts/publish-release-images.sh).
  cuda12Image: `${VLLM_IMAGE}-cu129`,
  port: 8000,
  healthPath: "/health",
  // /v1/models: ModelCard(root=base_model.model_path), the model argument as given (app_state.py).
  servedModel: () => ({ path: "/v1/models", field: "root" }),
  warmupSeconds: 120,
  // vllm/v1/metrics/loggers.py (0.33.0): always served on the API port. The counter
  // vllm:generation_tokens is exported with the _total suffix.
  metrics: {
    path: "/metrics",
    running: "vllm:num_requests_running",
    waiting: "vllm:num_requests_waiting",
    ttftSeconds: "vllm:time_to_first_token_seconds",
    generationTokens: "vllm:generation_tokens_total",
    kvCacheUsage: "vllm:kv_cache_usage_perc",
  },
  // vllm/entrypoints/serve/middleware: VLLM_API_KEY guards /v1, /v2, /inference, /cohere only.
  // VLLM_CACHE_ROOT holds torch.compile's cache (torch_compile_cache/) in 0.33.0.
  compileCacheEnv: (dir) => [{ name: "VLLM_CACHE_ROOT", value: `${dir}/vllm` }, ...commonCompileCacheEnv(dir)],
  // vLLM 0.33.0 reads VLLM_API_KEY when --api-key is absent (vllm/envs.py) and never logs it.
  apiKey: (secretName) => ({ env: [apiKeyEnv("VLLM_API_KEY", secretName)], args: [], volumes: [], volumeMounts: [] }),
  validate: () => [],
  launch: (args) => ({
    command: ["vllm", "serve"],
    args: vllmArgs(args),
    env: [...cacheEnv(), { name: "VLLM_CACHE_ROOT", value: `${CACHE_ROOT}/vllm` }, { name: "VLLM_NO_USAGE_STATS", value: "1" }],
  }),
};
