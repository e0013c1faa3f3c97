/**
 * The namespace's Pod Security level: the strictest Pod Security Standard every pod of the stack
 * passes, enforced (and audited) so a cluster admin sees the stack's real needs, and warned at
 * `restricted` so what keeps it from that level shows on every apply.
 */
import { StackConfig } from "./config/schema";

export type PodSecurityLevel = "restricted" | "baseline" | "privileged";

/** Why the stack's pods need more than `restricted` (empty: they pass it). */
export function podSecurityNeeds(config: StackConfig): { level: PodSecurityLevel; why: string }[] {
  const needs: { level: PodSecurityLevel; why: string }[] = [];
  // Baseline forbids hostPath volumes outright; the hostPath writer also runs as uid 0.
  if (config.storage.strategy === "hostPath") needs.push({ level: "privileged", why: "storage.strategy hostPath mounts a host directory" });
  if (config.compileCache.enabled) needs.push({ level: "privileged", why: "compileCache mounts a host directory" });
  // Fluid runs its AlluxioRuntime master, workers and FUSE in the Dataset's namespace, with the host's
  // network and host directories for the cache tier.
  if (config.storage.strategy === "fluid")
    needs.push({ level: "privileged", why: "Fluid's cache pods run in this namespace with hostNetwork and hostPath" });
  return needs;
}

const ORDER: PodSecurityLevel[] = ["restricted", "baseline", "privileged"];

/** The strictest level every pod of the stack passes. */
export function podSecurityLevel(config: StackConfig): PodSecurityLevel {
  return podSecurityNeeds(config).reduce<PodSecurityLevel>(
    (level, need) => (ORDER.indexOf(need.level) > ORDER.indexOf(level) ? need.level : level),
    "restricted",
  );
}

/** The namespace labels: enforce and audit at the stack's level, warn at restricted. */
export function podSecurityLabels(config: StackConfig): Record<string, string> {
  const level = podSecurityLevel(config);
  return {
    "pod-security.kubernetes.io/enforce": level,
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/audit": level,
    "pod-security.kubernetes.io/audit-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
  };
}
