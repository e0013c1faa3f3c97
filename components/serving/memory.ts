/**
 * Pod memory for a model server: request = limit, so the scheduler places the pod only where it
 * fits and the kernel never OOM-kills it for using what it was sized for.
 *
 *   shm     = 8 GiB × gpus with tensor parallelism (NCCL), else 2 GiB   (memory-backed /dev/shm)
 *   host    = SGLang HiCache's host KV pool, per tensor-parallel rank:
 *             --hicache-size GB, or ratio (SGLang's default 2) × the GPU's KV pool, estimated as
 *             gpuMemoryGiB × static fraction (gpuMemoryUtilization, SGLang's 0.88) − weights per GPU
 *   default = ceil(1.2 × sizeGiB / shards) (weights staging) + 8 GiB runtime + shm + host
 *             (shards: the nodes a group splits the weights across, else 1)
 *   minimum = 8 GiB runtime + shm + host   (`models[].memory` below it is refused)
 */
import { ModelConfig } from "../config/schema";

export const RUNTIME_GIB = 8;
/** SGLang's default `--hicache-ratio`. */
export const SGLANG_HICACHE_RATIO = 2;
/** SGLang's `--mem-fraction-static` on large GPUs, when the model does not set one. */
export const SGLANG_STATIC_FRACTION = 0.88;
const GB_IN_GIB = 1e9 / 2 ** 30;

/**
 * How many ways a group spanning nodes splits the weights: its nodes with pipeline or tensor parallel
 * across them; 1 for one node, or data parallel, where every rank holds them all.
 */
export function weightShards(model: ModelConfig): number {
  return model.nodes > 1 && model.multiNode?.mode !== "data" ? model.nodes : 1;
}

/** `/dev/shm`: NCCL needs room for tensor parallel; a small one otherwise. */
export function shmSizeGiB(gpus: number): number {
  return gpus > 1 ? 8 * gpus : 2;
}

/** The KV pool SGLang allocates on one GPU, estimated. */
export function kvPoolGiBPerGpu(model: ModelConfig): number {
  const fraction = model.gpuMemoryUtilization ?? SGLANG_STATIC_FRACTION;
  return Math.max(0, model.gpuMemoryGiB * fraction - model.sizeGiB / weightShards(model) / model.gpus);
}

/** SGLang HiCache's host KV pool across the pod's tensor-parallel ranks (0 without HiCache). */
export function hicacheHostGiB(model: ModelConfig): number {
  const h = model.engine === "sglang" ? model.sglang?.hicache : undefined;
  if (!h) return 0;
  const perRank = h.sizeGiB !== undefined ? h.sizeGiB * GB_IN_GIB : (h.ratio ?? SGLANG_HICACHE_RATIO) * kvPoolGiBPerGpu(model);
  return Math.ceil(perRank * model.gpus - 1e-9);
}

/** The least memory the server can run with: runtime, /dev/shm and the HiCache host pool. */
export function minimumMemoryGiB(model: ModelConfig): number {
  return RUNTIME_GIB + shmSizeGiB(model.gpus) + hicacheHostGiB(model);
}

/** The pod's memory request and limit: `models[].memory`, else the default above (a group's member stages its share). */
export function memoryQuantity(model: ModelConfig): string {
  return model.memory ?? `${Math.ceil((model.sizeGiB / weightShards(model)) * 1.2) + minimumMemoryGiB(model)}Gi`;
}
