/**
 * A model served by NVIDIA Dynamo: a DynamoGraphDeployment (nvidia.com/v1beta1) of a frontend and
 * workers. The worker's pod template is the one every other engine's server gets (the strategy's
 * volumes, init steps and placement, GPUs, probes from the startup budget, the hardened security
 * context, Secrets by reference), in the container the operator completes (`main`); the frontend
 * mounts the same weights read-only, as the tokenizer and config are read from them.
 */
import * as k8s from "@pulumi/kubernetes";
import { ENGINE_UID, podSecurity, restrictedContainerSecurity, TMP_MOUNT, TMP_VOLUME, withFailureMessages } from "../cluster";
import { ModelConfig } from "../config/schema";
import { CACHE_ROOT, cacheEnv, DynamoGraphEngine } from "../engines/engine";
import { labels } from "../naming";
import { PROBE_PERIOD_SECONDS, StartupEstimate } from "./startup";

export const DGD_API_VERSION = "nvidia.com/v1beta1";
export const DGD_KIND = "DynamoGraphDeployment";
/** The container of a component's pod template that the operator completes (command defaults, env, ports). */
export const DYNAMO_MAIN_CONTAINER = "main";
/** The component label of a model's Dynamo workers (the frontend carries the server's). */
export const DYNAMO_WORKER_COMPONENT = "dynamo-worker";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

/**
 * The worker's pod spec from the server's: its container becomes `main`, its probes point at the
 * system port (/live while loading and alive, /health once serving), and what the operator provides
 * goes: the HTTP port and the ServiceAccount (the operator's Kubernetes discovery needs the pod's
 * token). /dev/shm stays the pod's own memory-backed emptyDir, sized as for every engine (the
 * operator's is turned off: `sharedMemorySize: 0`).
 */
export function workerPodSpec(server: PodSpec, graph: DynamoGraphEngine, startup: StartupEstimate): PodSpec {
  const { serviceAccountName: _sa, automountServiceAccountToken: _token, ...spec } = server;
  const [container, ...sidecars] = server.containers as Container[];
  const probe = (path: string) => ({ httpGet: { path, port: graph.systemPort }, timeoutSeconds: 5 });
  const { ports: _ports, ...main } = container;
  return {
    ...spec,
    containers: [
      {
        ...main,
        name: DYNAMO_MAIN_CONTAINER,
        startupProbe: { ...probe("/live"), periodSeconds: PROBE_PERIOD_SECONDS, failureThreshold: startup.failureThreshold },
        readinessProbe: { ...probe("/health"), periodSeconds: 10, failureThreshold: 3 },
        livenessProbe: { ...probe("/live"), periodSeconds: 20, failureThreshold: 6 },
      },
      ...sidecars,
    ],
  };
}

/** The frontend's pod spec: no GPU, the worker's weights mounted read-only at the same paths. */
export function frontendPodSpec(args: {
  readonly model: ModelConfig;
  readonly graph: DynamoGraphEngine;
  readonly image: string;
  readonly worker: PodSpec;
  readonly modelMounts: VolumeMount[];
}): PodSpec {
  const { worker, modelMounts } = args;
  const mounted = new Set(modelMounts.map((m) => m.name));
  const modelVolumes = (worker.volumes as Volume[]).filter((v) => mounted.has(v.name as string));
  const health = (path: string) => ({ httpGet: { path, port: "http" }, timeoutSeconds: 5 });
  return withFailureMessages({
    securityContext: podSecurity(),
    // With the weights on a node (hostPath, a local PV) the frontend goes where they are.
    ...(worker.nodeSelector ? { nodeSelector: worker.nodeSelector } : {}),
    ...(worker.tolerations ? { tolerations: worker.tolerations } : {}),
    ...(worker.priorityClassName ? { priorityClassName: worker.priorityClassName } : {}),
    containers: [
      {
        name: DYNAMO_MAIN_CONTAINER,
        image: args.image,
        command: ["python3"],
        args: args.graph.frontendArgs(args.model),
        ports: [{ name: "http", containerPort: 8000 }],
        env: cacheEnv(),
        resources: { requests: { cpu: "1", memory: "2Gi" }, limits: { memory: "2Gi" } },
        // /live answers once the HTTP server runs; /health once a worker has registered the model.
        startupProbe: { ...health("/live"), periodSeconds: 10, failureThreshold: 30 },
        readinessProbe: { ...health("/health"), periodSeconds: 10, failureThreshold: 3 },
        livenessProbe: { ...health("/live"), periodSeconds: 20, failureThreshold: 6 },
        securityContext: { ...restrictedContainerSecurity(), runAsUser: ENGINE_UID, runAsGroup: ENGINE_UID },
        volumeMounts: [...modelMounts.map((m) => ({ ...m, readOnly: true })), { name: "cache", mountPath: CACHE_ROOT }, TMP_MOUNT],
      },
    ],
    volumes: [...modelVolumes, { name: "cache", emptyDir: { sizeLimit: "5Gi" } }, TMP_VOLUME],
  });
}

/** The claim a StatefulSet would make from a claim template for its first pod: `<template>-<set>-0`. */
export function firstPodClaimName(template: string, model: ModelConfig): string {
  return `${template}-${model.name}-0`;
}

export interface DynamoGraphArgs {
  readonly model: ModelConfig;
  readonly graph: DynamoGraphEngine;
  readonly image: string;
  readonly worker: { readonly spec: PodSpec; readonly annotations: Record<string, string> };
  readonly modelMounts: VolumeMount[];
  readonly frontendLabels: Record<string, string>;
  readonly workerReplicas: number;
}

/** The DynamoGraphDeployment's spec: a frontend and a worker component. */
export function dynamoGraphSpec(args: DynamoGraphArgs): Record<string, unknown> {
  const { model, graph } = args;
  return {
    backendFramework: graph.backend,
    components: [
      {
        name: "frontend",
        type: "frontend",
        replicas: model.dynamo?.frontendReplicas ?? 1,
        podTemplate: {
          metadata: { labels: args.frontendLabels },
          spec: frontendPodSpec({ model, graph, image: args.image, worker: args.worker.spec, modelMounts: args.modelMounts }),
        },
      },
      {
        name: "worker",
        type: "worker",
        replicas: args.workerReplicas,
        // The pod's own /dev/shm (see workerPodSpec), so the operator adds none.
        sharedMemorySize: "0",
        podTemplate: {
          metadata: { labels: labels(model.name, DYNAMO_WORKER_COMPONENT), annotations: args.worker.annotations },
          spec: args.worker.spec,
        },
      },
    ],
  };
}
