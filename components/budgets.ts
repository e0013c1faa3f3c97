/**
 * How long each step that fills a cache may take: Pulumi's await of its Job (customTimeouts) and the
 * deadlines of the steps that wait for it in pods, which bound the wait where nothing orders the
 * objects (`kubernetes.skipAwait`, GitOps, `kubectl apply -R -f rendered/`). Two minutes per GiB is
 * 8.5 MiB/s, a twelfth of the Hub throughput the start-time estimates assume (directFromHub.ts):
 * below it a step is stuck, not slow.
 */
import { ModelConfig } from "./config/schema";

/** The mirror Job: the Hub download, the hashing pass and the upload. */
export function mirrorBudgetSeconds(model: Pick<ModelConfig, "sizeGiB">): number {
  return Math.ceil(30 + model.sizeGiB * 2) * 60;
}

/** A preload Job: the copy from the bucket and its verification. */
export function preloadBudgetSeconds(model: Pick<ModelConfig, "sizeGiB">): number {
  return Math.ceil(15 + model.sizeGiB * 2) * 60;
}

/** A pod waiting for the verified copy waits for the mirror, then the preload. */
export function verifiedCopyBudgetSeconds(model: Pick<ModelConfig, "sizeGiB">): number {
  return mirrorBudgetSeconds(model) + preloadBudgetSeconds(model);
}

/** Pulumi's customTimeouts string for a budget. */
export function minutes(seconds: number): string {
  return `${Math.ceil(seconds / 60)}m`;
}
