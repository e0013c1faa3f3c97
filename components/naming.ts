/** Names, labels and bucket layout shared by every component. */
import { ModelConfig } from "./config/schema";

export const PART_OF = "llm-serving";

/** Recommended `app.kubernetes.io/*` labels. */
export function labels(name: string, component: string, instance = name): Record<string, string> {
  return {
    "app.kubernetes.io/name": name,
    "app.kubernetes.io/instance": instance,
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/part-of": PART_OF,
    "app.kubernetes.io/managed-by": "pulumi",
  };
}

/** The subset of labels used as a selector (immutable on Deployments, so kept minimal). */
export function selectorLabels(name: string, component: string): Record<string, string> {
  return { "app.kubernetes.io/name": name, "app.kubernetes.io/component": component };
}

/** Pod-template annotations naming the model a workload serves or copies (read by the policy pack). */
export function modelAnnotations(model: Pick<ModelConfig, "huggingFace" | "revision">): Record<string, string> {
  return { "llm-serving.io/model": model.huggingFace, "llm-serving.io/model-revision": model.revision };
}

/** The JuiceFS volume's own bucket on R2, beside the weights' (`<bucket>-juicefs`). */
export function r2VolumeBucketName(bucket: string): string {
  return `${bucket}-juicefs`;
}

/** The bucket prefix every mirrored model lives under. */
export const MIRROR_ROOT_PREFIX = "models";

/** `models/<org>/<name>/<revision>` — where a model's files live in the bucket (no trailing slash). */
export function modelPrefix(model: Pick<ModelConfig, "huggingFace" | "revision">): string {
  return `${MIRROR_ROOT_PREFIX}/${model.huggingFace}/${model.revision}`;
}

/** Short, stable, DNS-safe digest of a string (for names that must change with their content). */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** Revision as it can appear in a Kubernetes name: the first 8 chars of a sha, or a hashed branch. */
export function revisionSlug(revision: string): string {
  return /^[0-9a-f]{40}$/.test(revision) ? revision.slice(0, 8) : shortHash(revision);
}
