/**
 * compileCache: the engines' compile and JIT caches on a node directory, so a restart reuses
 * torch.compile graphs, Triton/Inductor kernels, FlashInfer JIT modules and CUDA PTX instead of
 * building them again. One subdirectory per engine image × model revision × tensor-parallel size
 * (× GPU product when the placement names it), so a stale cache is never reused; size-capped by an
 * init step that removes the least recently used others.
 */
import * as k8s from "@pulumi/kubernetes";
import { KubernetesConfig, CompileCacheConfig, ModelConfig } from "../config/schema";
import { ENGINE_UID, restrictedContainerSecurity } from "../cluster";
import { InferenceEngine, serverImage } from "../engines/engine";
import { shortHash } from "../naming";
import { COMPILE_CACHE_GC, runScript } from "../scripts";

export const COMPILE_CACHE_MOUNT = "/compile-cache";
const GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";

/** The cache directory's name: what must match for compiled artifacts to be valid. */
export function compileCacheKey(model: ModelConfig, engine: InferenceEngine, kube: KubernetesConfig): string {
  const image = serverImage(model, engine, kube);
  const product = kube.nodeSelector?.[GPU_PRODUCT_LABEL];
  const gpu = product ? `-${product.toLowerCase().replace(/[^a-z0-9]+/g, "-")}` : "";
  // The whole commit (a branch name by its digest): an 8-character prefix could collide.
  const revision = /^[0-9a-f]{40}$/.test(model.revision) ? model.revision : shortHash(model.revision);
  return `${engine.name}-${shortHash(image)}-${revision}-tp${model.gpus}${gpu}`;
}

export interface CompileCachePieces {
  readonly volume: k8s.types.input.core.v1.Volume;
  readonly mount: k8s.types.input.core.v1.VolumeMount;
  readonly initContainers: k8s.types.input.core.v1.Container[];
  readonly env: k8s.types.input.core.v1.EnvVar[];
}

export function compileCachePieces(
  model: ModelConfig,
  engine: InferenceEngine,
  kube: KubernetesConfig,
  settings: CompileCacheConfig,
  pythonImage: string,
): CompileCachePieces {
  const key = compileCacheKey(model, engine, kube);
  const mount = { name: "compile-cache", mountPath: COMPILE_CACHE_MOUNT };
  const small = { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "256Mi" } };
  return {
    volume: { name: "compile-cache", hostPath: { path: settings.hostPath, type: "DirectoryOrCreate" } },
    mount,
    initContainers: [
      {
        // kubelet creates the directory root-owned 0755: its owner (uid 0, no capabilities) makes it
        // sticky and world-writable; each server then makes its own subdirectory as ENGINE_UID, 0700,
        // and refuses one another user owns or may write (compile_cache_gc.py).
        name: "compile-cache-permissions",
        image: pythonImage,
        command: ["python3", "-c", `import os; os.chmod("${COMPILE_CACHE_MOUNT}", 0o1777)`],
        resources: small,
        securityContext: { ...restrictedContainerSecurity(), runAsNonRoot: false, runAsUser: 0, runAsGroup: 0 },
        volumeMounts: [mount],
      },
      {
        name: "compile-cache-gc",
        image: pythonImage,
        command: runScript(COMPILE_CACHE_GC, COMPILE_CACHE_MOUNT, key, String(settings.sizeGiB)),
        resources: small,
        securityContext: { ...restrictedContainerSecurity(), runAsUser: ENGINE_UID, runAsGroup: ENGINE_UID },
        volumeMounts: [mount],
      },
    ],
    env: engine.compileCacheEnv(`${COMPILE_CACHE_MOUNT}/${key}`),
  };
}

/** Env with later entries replacing earlier ones of the same name (the compile cache moves the scratch caches). */
export function mergeEnv(...lists: k8s.types.input.core.v1.EnvVar[][]): k8s.types.input.core.v1.EnvVar[] {
  const byName = new Map<string, k8s.types.input.core.v1.EnvVar>();
  for (const e of lists.flat()) {
    byName.delete(e.name as string);
    byName.set(e.name as string, e);
  }
  return [...byName.values()];
}
