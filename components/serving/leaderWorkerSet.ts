/**
 * A model larger than one node: a LeaderWorkerSet (leaderworkerset.x-k8s.io/v1) of groups of
 * `models[].nodes` pods, one per node. Every member gets the pod template every server gets (the
 * strategy's volumes and init steps, GPUs, /dev/shm, placement, the hardened security context) and
 * the engine's group flags at its rank (`$(LWS_WORKER_INDEX)`, which the LWS webhook sets); only the
 * leader (rank 0) serves HTTP, so it alone carries the port and the probes and is behind the Service.
 */
import * as k8s from "@pulumi/kubernetes";
import { ModelConfig } from "../config/schema";

export const LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1";
export const LWS_KIND = "LeaderWorkerSet";
/** The label LeaderWorkerSet puts on each member: its index in the group, 0 for the leader. */
export const WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Container = k8s.types.input.core.v1.Container;

/** A worker member's pod spec: the same pod, but its engine serves no HTTP (no port, no probes). */
export function workerMemberSpec(spec: PodSpec): PodSpec {
  const [engine, ...rest] = spec.containers as Container[];
  const { ports: _ports, startupProbe: _startup, readinessProbe: _readiness, livenessProbe: _liveness, ...worker } = engine;
  return { ...spec, containers: [worker, ...rest] };
}

/** How groups roll: `surge` adds a new group before an old one goes (a spare group's nodes); else one group at a time. */
export function groupRollout(model: ModelConfig): Record<string, unknown> {
  return {
    type: "RollingUpdate",
    rollingUpdateConfiguration: model.rollout === "surge" ? { maxUnavailable: 0, maxSurge: 1 } : { maxUnavailable: 1, maxSurge: 0 },
  };
}

export interface LeaderWorkerSetArgs {
  readonly model: ModelConfig;
  readonly replicas: number;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly leader: PodSpec;
  readonly worker: PodSpec;
  readonly volumeClaimTemplates: k8s.types.input.core.v1.PersistentVolumeClaim[];
}

/** The LeaderWorkerSet's spec: groups of `nodes` pods, recreated whole when one of them fails. */
export function leaderWorkerSetSpec(args: LeaderWorkerSetArgs): Record<string, unknown> {
  const metadata = { labels: args.labels, annotations: args.annotations };
  return {
    replicas: args.replicas,
    startupPolicy: "LeaderCreated",
    rolloutStrategy: groupRollout(args.model),
    leaderWorkerTemplate: {
      size: args.model.nodes,
      // A rank that dies takes the collective with it: the whole group restarts together.
      restartPolicy: "RecreateGroupOnPodRestart",
      leaderTemplate: { metadata, spec: args.leader },
      workerTemplate: { metadata, spec: args.worker },
      ...(args.volumeClaimTemplates.length
        ? {
            volumeClaimTemplates: args.volumeClaimTemplates,
            // Per-member weight caches survive the serving layer's deletion and scale-down.
            persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
          }
        : {}),
    },
  };
}
