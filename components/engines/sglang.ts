/** SGLang (`python3 -m sglang.launch_server`, port 30000, /health). Flags follow SGLang v0.5.23. */
import { ConfigIssue } from "../config/issues";
import { ModelConfig } from "../config/schema";
import { API_KEY_CONFIG_FILE, cacheEnv, commonCompileCacheEnv, EngineLaunch, EngineLaunchArgs, InferenceEngine, LWS_ENV } from "./engine";

export const SGLANG_IMAGE = "lmsysorg/sglang:v0.5.23";
/** Where the server-args file with the API key is mounted from the model's Secret. */
const SGLANG_API_KEY_DIR = "/etc/llm-serving/api-key";

/** HiCache flags (seed 004, with the real `--hicache-storage-backend-extra-config`). */
export function hicacheArgs(model: ModelConfig): string[] {
  const h = model.sglang?.hicache;
  if (!h) return [];
  const args = ["--enable-hierarchical-cache", "--hicache-write-policy", h.writePolicy];
  if (h.sizeGiB !== undefined) args.push("--hicache-size", String(h.sizeGiB));
  else if (h.ratio !== undefined) args.push("--hicache-ratio", String(h.ratio));
  if (h.memLayout) args.push("--hicache-mem-layout", h.memLayout);
  if (h.ioBackend) args.push("--hicache-io-backend", h.ioBackend);
  if (h.storageBackend) args.push("--hicache-storage-backend", h.storageBackend);
  if (h.prefetchPolicy) args.push("--hicache-storage-prefetch-policy", h.prefetchPolicy);
  if (h.extraConfig) args.push("--hicache-storage-backend-extra-config", JSON.stringify(h.extraConfig));
  return args;
}

/** A group's flags (LeaderWorkerSet's SGLang example): tensor parallel over every GPU of the group, each member at its rank. */
export function sglangGroupArgs(model: ModelConfig): string[] {
  if (model.nodes === 1) return [];
  return [
    "--dist-init-addr",
    `$(${LWS_ENV.leaderAddress}):${model.multiNode?.port ?? 29500}`,
    "--nnodes",
    String(model.nodes),
    "--node-rank",
    `$(${LWS_ENV.workerIndex})`,
  ];
}

export function sglangArgs({ model, source, metrics }: EngineLaunchArgs): EngineLaunch["args"] {
  const args: EngineLaunch["args"] = ["-m", "sglang.launch_server", "--model-path"];
  if (source.kind === "path") args.push(source.path);
  else if (source.kind === "s3") args.push(source.uri);
  else args.push(source.repo, "--revision", source.revision);
  args.push("--host", "0.0.0.0", "--port", "30000", "--served-model-name", model.name, "--tp-size", String(model.gpus * model.nodes));
  if (model.maxModelLen !== undefined) args.push("--context-length", String(model.maxModelLen));
  if (model.gpuMemoryUtilization !== undefined) args.push("--mem-fraction-static", String(model.gpuMemoryUtilization));
  if (source.kind === "s3") {
    const extra: Record<string, unknown> = { concurrency: source.concurrency };
    if (source.memoryLimitBytes !== undefined) extra.memory_limit = source.memoryLimitBytes;
    args.push("--load-format", "runai_streamer", "--model-loader-extra-config", JSON.stringify(extra));
  }
  if (metrics) args.push("--enable-metrics");
  return [...args, ...hicacheArgs(model), ...sglangGroupArgs(model), ...model.extraArgs];
}

export const sglangEngine: InferenceEngine = {
  name: "sglang",
  defaultImage: SGLANG_IMAGE,
  // No cuda12Image: SGLang stopped publishing CUDA 12 images after lmsysorg/sglang:v0.5.19-cu129 (its install docs).
  port: 30000,
  healthPath: "/health",
  // /v1/models reports the served name as `root`; /model_info the model_path (http_server.py). For an
  // s3:// model ModelConfig swaps in a local directory of its config (configs/model_config.py): not checked.
  servedModel: (source) => (source.kind === "s3" ? undefined : { path: "/model_info", field: "model_path" }),
  warmupSeconds: 90,
  // sglang/srt/metrics/collector.py (0.5.23); served on the API port with --enable-metrics.
  metrics: {
    path: "/metrics",
    running: "sglang:num_running_reqs",
    waiting: "sglang:num_queue_reqs",
    ttftSeconds: "sglang:time_to_first_token_seconds",
    generationTokens: "sglang:generation_tokens_total",
    kvCacheUsage: "sglang:token_usage",
  },
  compileCacheEnv: commonCompileCacheEnv,
  // SGLang 0.5.23 has no env form of --api-key; `--config FILE` (exactly that form: its parser merges
  // the YAML's keys as flags, prepare_server_args) keeps the key out of argv and the process table.
  // /health*, /ready*, /metrics stay open (utils/auth.py). It still logs server_args at INFO (docs/operations.md).
  apiKey: (secretName) => ({
    env: [],
    args: ["--config", `${SGLANG_API_KEY_DIR}/${API_KEY_CONFIG_FILE}`],
    volumes: [
      {
        name: "api-key",
        secret: { secretName, items: [{ key: API_KEY_CONFIG_FILE, path: API_KEY_CONFIG_FILE }], defaultMode: 0o440 },
      },
    ],
    volumeMounts: [{ name: "api-key", mountPath: SGLANG_API_KEY_DIR, readOnly: true }],
  }),
  validate(model) {
    const h = model.sglang?.hicache;
    const issues: ConfigIssue[] = [];
    if (h?.ratio !== undefined && h.sizeGiB !== undefined) {
      issues.push({ path: ["sglang", "hicache"], message: "set ratio OR sizeGiB (sizeGiB overrides ratio in SGLang), not both" });
    }
    if (h?.extraConfig !== undefined && h.storageBackend === undefined) {
      issues.push({
        path: ["sglang", "hicache", "extraConfig"],
        message: "only applies with a storageBackend; set sglang.hicache.storageBackend",
      });
    }
    if (h?.prefetchPolicy !== undefined && h.storageBackend === undefined) {
      issues.push({
        path: ["sglang", "hicache", "prefetchPolicy"],
        message: "only applies with a storageBackend; set sglang.hicache.storageBackend",
      });
    }
    return issues;
  },
  launch: (args) => ({
    command: ["python3"],
    args: sglangArgs(args),
    env: [...cacheEnv(), ...(args.kvCacheDir ? [{ name: "SGLANG_HICACHE_FILE_BACKEND_STORAGE_DIR", value: args.kvCacheDir }] : [])],
  }),
};
