/**
 * The engine axis: how a model server is launched and probed. One file per engine; the serving
 * layer only sees this interface.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ConfigIssue } from "../config/issues";
import { EngineName, KubernetesConfig, ModelConfig, MultiNodeMode } from "../config/schema";
import { withRegistry } from "../images";

/** Where the engine reads weights from, as decided by the storage strategy or the mirror switch. */
export type EngineModelSource =
  | { readonly kind: "path"; readonly path: string }
  | { readonly kind: "s3"; readonly uri: pulumi.Input<string>; readonly concurrency: number; readonly memoryLimitBytes?: number }
  | { readonly kind: "huggingFace"; readonly repo: string; readonly revision: string };

/** The model argument the engine gets for a source: what its server then reports as loaded. */
export function sourceLocation(source: EngineModelSource): pulumi.Input<string> {
  if (source.kind === "path") return source.path;
  if (source.kind === "s3") return source.uri;
  return source.repo;
}

export interface EngineLaunchArgs {
  readonly model: ModelConfig;
  readonly source: EngineModelSource;
  /** Whether Prometheus scrapes the server (SGLang only exports metrics when asked). */
  readonly metrics?: boolean;
  /** Writable directory for the HiCache `file` L3 backend, when the model uses it. */
  readonly kvCacheDir?: string;
  /** Which member of a group spanning nodes (`models[].nodes` > 1) the pod is; the leader serves HTTP. Default: leader. */
  readonly role?: GroupRole;
}

/** A member of a LeaderWorkerSet group: the leader (rank 0, the HTTP server) or a worker. */
export type GroupRole = "leader" | "worker";

/** The env LeaderWorkerSet gives every member (its webhook), expanded by the kubelet in the args. */
export const LWS_ENV = { leaderAddress: "LWS_LEADER_ADDRESS", groupSize: "LWS_GROUP_SIZE", workerIndex: "LWS_WORKER_INDEX" } as const;

/** The container command, arguments and plain (non-secret) environment. */
export interface EngineLaunch {
  readonly command: string[];
  readonly args: pulumi.Input<string>[];
  readonly env: k8s.types.input.core.v1.EnvVar[];
}

/** Prometheus metrics of the pinned engine version, on the API port (`path`). */
export interface EngineMetrics {
  readonly path: string;
  /** Requests being decoded (gauge). */
  readonly running: string;
  /** Requests waiting for a slot: the queue depth autoscaling follows (gauge). */
  readonly waiting: string;
  /** Time to first token (histogram; `_bucket` series). */
  readonly ttftSeconds: string;
  /** Generated tokens (counter). */
  readonly generationTokens: string;
  /** KV-cache usage, 0..1 (gauge); none where the server exports no such gauge (Dynamo's frontend). */
  readonly kvCacheUsage?: string;
}

export interface InferenceEngine {
  readonly name: EngineName;
  /** Pinned image (a CUDA 13 build); docs/engines.md lists the version whose flags we follow. */
  readonly defaultImage: string;
  /** The same release's CUDA 12 build, where upstream publishes one (`kubernetes.cudaVersion: 12`). */
  readonly cuda12Image?: string;
  readonly port: number;
  readonly healthPath: string;
  /**
   * Where the running server reports the model it loaded from `source` (the path, URI or repo id it
   * was given): a path on the API port and the field, in the model's entry of an OpenAI model list or
   * at the top level; undefined where the engine reports something else for that source.
   */
  servedModel(source: EngineModelSource): { readonly path: string; readonly field: string } | undefined;
  /** Seconds after the weights are read until /health answers (CUDA graphs, compile, warm-up). */
  readonly warmupSeconds: number;
  readonly metrics: EngineMetrics;
  /**
   * How the server requires a key held in Secret `secretName` (keys API_KEY and API_KEY_CONFIG_FILE):
   * an env var by reference, or a config file from the Secret where the engine has no env form —
   * never the key in argv. Health and metrics paths stay open in both pinned versions (probes and
   * Prometheus need no key).
   */
  apiKey(secretName: pulumi.Input<string>): ServerApiKey;
  /** Where the engine keeps compiled kernels and graphs, all under `dir` (env names of the pinned version). */
  compileCacheEnv(dir: string): k8s.types.input.core.v1.EnvVar[];
  /** Engine-specific config rules (paths relative to the model). */
  validate(model: ModelConfig): ConfigIssue[];
  launch(args: EngineLaunchArgs): EngineLaunch;
  /** For a Dynamo graph: the workers' backend and system port, and the frontend's command line. */
  readonly dynamo?: DynamoGraphEngine;
}

/** What the serving layer needs to render a DynamoGraphDeployment instead of a Deployment. */
export interface DynamoGraphEngine {
  readonly backend: "vllm" | "sglang";
  /** The workers' health and metrics port (the operator's probes point there). */
  readonly systemPort: number;
  /** The frontend's arguments after `python3`. */
  frontendArgs(model: ModelConfig): string[];
}

/** What a server needs to require its API key: env by reference, or args naming a file on a Secret volume. */
export interface ServerApiKey {
  readonly env: k8s.types.input.core.v1.EnvVar[];
  readonly args: string[];
  readonly volumes: k8s.types.input.core.v1.Volume[];
  readonly volumeMounts: k8s.types.input.core.v1.VolumeMount[];
}

/** The image a model's server runs: its own `models[].image`, else the engine's build for `kubernetes.cudaVersion`. */
export function serverImage(model: ModelConfig, engine: InferenceEngine, kube: KubernetesConfig): string {
  if (model.image) return model.image;
  if (kube.cudaVersion === 12) {
    if (!engine.cuda12Image)
      throw new Error(`${engine.name} has no CUDA 12 image; parseStackConfig refuses kubernetes.cudaVersion 12 for it`);
    return withRegistry(engine.cuda12Image, kube.imageRegistry);
  }
  return withRegistry(engine.defaultImage, kube.imageRegistry);
}

/** The NVIDIA driver a model's image needs, in words (a stack output and the driver floor in docs/environments.md). */
export function driverFloor(model: ModelConfig, kube: KubernetesConfig): string {
  if (model.image) return `set by models[].image ${model.image}: the CUDA version it was built with`;
  return kube.cudaVersion === 12
    ? "CUDA 12.9 build: NVIDIA driver R575 or newer (R525+ with CUDA minor-version compatibility)"
    : "CUDA 13 build: NVIDIA driver R580 or newer";
}

/** The key, in the Secret every authenticated model gets, that holds its API key. */
export const API_KEY_SECRET_KEY = "API_KEY";
/** The same Secret's key holding `api-key: "<key>"`, a server-args YAML file (SGLang's `--config`). */
export const API_KEY_CONFIG_FILE = "server-args.yaml";

/** The server-args YAML that sets the key (a JSON string is a valid YAML double-quoted scalar). */
export function apiKeyConfigFile(key: string): string {
  return `api-key: ${JSON.stringify(key)}\n`;
}

/** An env var taking the model's API key from its Secret. */
export function apiKeyEnv(name: string, secretName: pulumi.Input<string>): k8s.types.input.core.v1.EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secretName, key: API_KEY_SECRET_KEY } } };
}

/** The compile and JIT caches both images use (Triton, Inductor, torch extensions, FlashInfer, CUDA PTX). */
export function commonCompileCacheEnv(dir: string): k8s.types.input.core.v1.EnvVar[] {
  return [
    { name: "TRITON_CACHE_DIR", value: `${dir}/triton` },
    { name: "TORCHINDUCTOR_CACHE_DIR", value: `${dir}/inductor` },
    { name: "TORCH_EXTENSIONS_DIR", value: `${dir}/torch-extensions` },
    { name: "FLASHINFER_WORKSPACE_BASE", value: `${dir}/flashinfer` },
    { name: "CUDA_CACHE_PATH", value: `${dir}/cuda` },
  ];
}

/** Writable cache directories so the image runs with a read-only root filesystem. */
export const CACHE_ROOT = "/cache";
export function cacheEnv(): k8s.types.input.core.v1.EnvVar[] {
  return [
    { name: "HOME", value: `${CACHE_ROOT}/home` },
    { name: "HF_HOME", value: `${CACHE_ROOT}/huggingface` },
    { name: "XDG_CACHE_HOME", value: `${CACHE_ROOT}/xdg` },
    { name: "TRITON_CACHE_DIR", value: `${CACHE_ROOT}/triton` },
    { name: "TORCHINDUCTOR_CACHE_DIR", value: `${CACHE_ROOT}/torchinductor` },
  ];
}

/** The modes each engine's group can run, its default first. */
export const GROUP_MODES: Record<"vllm" | "sglang", readonly MultiNodeMode[]> = { vllm: ["pipeline", "data"], sglang: ["tensor"] };

/** The group's mode: the configured one, else the engine's default. */
export function groupMode(engine: "vllm" | "sglang", mode: MultiNodeMode | undefined): MultiNodeMode {
  return mode ?? GROUP_MODES[engine][0];
}
