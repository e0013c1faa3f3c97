/** What every Kubernetes-facing component needs to know about the target cluster. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KubernetesConfig, ModelConfig } from "./config/schema";

export interface ClusterContext {
  /** Namespace all serving objects live in. */
  readonly namespace: pulumi.Output<string>;
  /** The parsed `kubernetes` config block. */
  readonly kubernetes: KubernetesConfig;
  /** Annotations added to every workload (e.g. `pulumi.com/skipAwait` for GitOps-style applies). */
  readonly workloadAnnotations: Record<string, string>;
  /** The Python image of the mirror, preload, checks and housekeeping (`images.python`, under `kubernetes.imageRegistry`). */
  readonly pythonImage: string;
  /** Name of the stack's scripts ConfigMap, which pods running a pod script mount (scripts.ts `withScripts`). */
  readonly scripts: pulumi.Input<string>;
}

/** The non-root user every container we control runs as, but the engines. */
export const RUN_AS_USER = 1000;
/**
 * The engines' own uid (and the compile-cache housekeeping's): not 1000, the first login user on many
 * hosts, so no login user on a node owns, or can plant code in, the compile caches they load.
 */
export const ENGINE_UID = 61000;

/** Restricted-profile container security: no escalation, no capabilities, RuntimeDefault seccomp. */
export function restrictedContainerSecurity(readOnlyRootFilesystem = true): k8s.types.input.core.v1.SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    readOnlyRootFilesystem,
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    runAsGroup: RUN_AS_USER,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/**
 * Every container reports the end of its log as its termination message when it fails: `kubectl
 * describe` and Pulumi's await errors then say why (an engine's argument error, a script's FATAL
 * line), not only "exit code 2".
 */
export function withFailureMessages(spec: k8s.types.input.core.v1.PodSpec): k8s.types.input.core.v1.PodSpec {
  type Container = k8s.types.input.core.v1.Container;
  const explain = (c: Container): Container => ({ terminationMessagePolicy: "FallbackToLogsOnError", ...c });
  const initContainers = spec.initContainers as Container[] | undefined;
  return {
    ...spec,
    ...(initContainers ? { initContainers: initContainers.map(explain) } : {}),
    containers: (spec.containers as Container[]).map(explain),
  };
}

/** Pod-level security: non-root, group-owned volumes, RuntimeDefault seccomp. */
export function podSecurity(): k8s.types.input.core.v1.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    runAsGroup: RUN_AS_USER,
    fsGroup: RUN_AS_USER,
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** The model server's CPU request (`models[].cpu`, default 2 per GPU). */
export function serverCpu(model: ModelConfig): string {
  return model.cpu ?? String(2 * model.gpus);
}

/** Cores in a CPU quantity as the schema accepts it ("4", "1.5", "500m"). */
export function cpuCores(quantity: string): number {
  return quantity.endsWith("m") ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity);
}

/** A scratch emptyDir mounted at /tmp so read-only root filesystems still work. */
export const TMP_VOLUME: k8s.types.input.core.v1.Volume = { name: "tmp", emptyDir: { sizeLimit: "1Gi" } };
export const TMP_MOUNT: k8s.types.input.core.v1.VolumeMount = { name: "tmp", mountPath: "/tmp" };

/**
 * The cluster as one model sees it: its own placement (`models[].nodeSelector` merged key by key
 * over the stack's, `tolerations`, `priorityClassName`, `runtimeClassName`, `gpuResource` replacing
 * the stack's), so its server, cache Jobs and checks all land where the model may run.
 */
export function modelCluster(cluster: ClusterContext, model: ModelConfig): ClusterContext {
  const kube = cluster.kubernetes;
  const nodeSelector = { ...(kube.nodeSelector ?? {}), ...(model.nodeSelector ?? {}) };
  return {
    ...cluster,
    kubernetes: {
      ...kube,
      nodeSelector: Object.keys(nodeSelector).length ? nodeSelector : undefined,
      tolerations: model.tolerations ?? kube.tolerations,
      priorityClassName: model.priorityClassName ?? kube.priorityClassName,
      runtimeClassName: model.runtimeClassName ?? kube.runtimeClassName,
      gpuResource: model.gpuResource ?? kube.gpuResource,
    },
  };
}

/** Annotations for workloads from the kubernetes config. */
export function workloadAnnotations(kubernetes: KubernetesConfig): Record<string, string> {
  return kubernetes.skipAwait ? { "pulumi.com/skipAwait": "true" } : {};
}

/** Node placement from the kubernetes config, merged with a strategy's own constraints. */
export function placement(
  kubernetes: KubernetesConfig,
  extraSelector: Record<string, string> = {},
): Pick<k8s.types.input.core.v1.PodSpec, "nodeSelector" | "tolerations"> {
  const nodeSelector = { ...(kubernetes.nodeSelector ?? {}), ...extraSelector };
  return {
    ...(Object.keys(nodeSelector).length ? { nodeSelector } : {}),
    ...(kubernetes.tolerations?.length ? { tolerations: kubernetes.tolerations } : {}),
  };
}
