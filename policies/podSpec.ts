/** Read-only views of the pod templates inside Kubernetes workload resources, as policies see them. */

/** A workload's pod template, whatever resource kind carries it. */
export interface PodTemplateView {
  /** Kubernetes kind (`Deployment`, `StatefulSet`, `Job`, ...). */
  readonly kind: string;
  readonly namespace?: string;
  /** Pods that may run at once; DaemonSets count as many. */
  readonly replicas: number;
  readonly metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  readonly spec: PodSpec;
  /** StatefulSet claim templates (one claim per pod, never shared). */
  readonly volumeClaimTemplates: Array<{ metadata?: { name?: string } }>;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name?: string; key?: string } } }>;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  startupProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: { allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[]; add?: string[] } };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}

export interface Probe {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface Volume {
  name: string;
  hostPath?: { path: string };
  emptyDir?: { medium?: string };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  secret?: { secretName?: string };
}

export interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}

/** Resource inputs as the engine hands them to policies: untyped JSON, like the SDK's own `props`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Props = Record<string, any>;

const POD_TEMPLATE_PATHS: Record<string, { kind: string; template: (p: Props) => Props | undefined; replicas: (p: Props) => number }> = {
  "kubernetes:core/v1:Pod": { kind: "Pod", template: (p) => ({ metadata: p.metadata, spec: p.spec }), replicas: () => 1 },
  "kubernetes:apps/v1:Deployment": { kind: "Deployment", template: (p) => p.spec?.template, replicas: (p) => p.spec?.replicas ?? 1 },
  "kubernetes:apps/v1:StatefulSet": { kind: "StatefulSet", template: (p) => p.spec?.template, replicas: (p) => p.spec?.replicas ?? 1 },
  "kubernetes:apps/v1:ReplicaSet": { kind: "ReplicaSet", template: (p) => p.spec?.template, replicas: (p) => p.spec?.replicas ?? 1 },
  "kubernetes:apps/v1:DaemonSet": { kind: "DaemonSet", template: (p) => p.spec?.template, replicas: () => Number.POSITIVE_INFINITY },
  "kubernetes:batch/v1:Job": { kind: "Job", template: (p) => p.spec?.template, replicas: (p) => p.spec?.parallelism ?? 1 },
  "kubernetes:batch/v1:CronJob": {
    kind: "CronJob",
    template: (p) => p.spec?.jobTemplate?.spec?.template,
    replicas: (p) => p.spec?.jobTemplate?.spec?.parallelism ?? 1,
  },
};

/** NVIDIA Dynamo's graph: one pod template per component (`spec.components[].podTemplate`). */
const DYNAMO_GRAPH = "kubernetes:nvidia.com/v1beta1:DynamoGraphDeployment";

/** A LeaderWorkerSet's worker template: members that serve no HTTP (the Service selects the leader). */
export const LWS_WORKER_KIND = "LeaderWorkerSet worker";

/** A LeaderWorkerSet: a leader and a worker template, `size` pods per group, `replicas` groups. */
const LEADER_WORKER_SET = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet";

/** The pod templates of a workload resource (a Dynamo graph has one per component, a LeaderWorkerSet a leader's and a worker's); none for any other type. */
export function podTemplatesOf(type: string, props: Props): PodTemplateView[] {
  if (type === LEADER_WORKER_SET) {
    const groups: number = props?.spec?.replicas ?? 1;
    const template: Props = props?.spec?.leaderWorkerTemplate ?? {};
    const size: number = template.size ?? 1;
    const leader = template.leaderTemplate ?? template.workerTemplate;
    return [
      ["LeaderWorkerSet leader", leader, groups],
      [LWS_WORKER_KIND, template.workerTemplate, groups * (size - 1)],
    ]
      .filter(([, t, pods]) => (t as Props | undefined)?.spec && (pods as number) > 0)
      .map(([kind, t, pods]) => ({
        kind: kind as string,
        namespace: props.metadata?.namespace,
        replicas: pods as number,
        metadata: (t as Props).metadata ?? {},
        spec: (t as Props).spec,
        volumeClaimTemplates: template.volumeClaimTemplates ?? [],
      }));
  }
  if (type === DYNAMO_GRAPH) {
    const components: Props[] = props?.spec?.components ?? [];
    return components
      .filter((c) => c.podTemplate?.spec)
      .map((c) => ({
        kind: `DynamoGraphDeployment component ${c.name}`,
        namespace: props.metadata?.namespace,
        replicas: c.replicas ?? 1,
        metadata: c.podTemplate.metadata ?? {},
        spec: c.podTemplate.spec,
        volumeClaimTemplates: [],
      }));
  }
  const shape = POD_TEMPLATE_PATHS[type];
  const template = shape?.template(props ?? {});
  if (!shape || !template?.spec) return [];
  return [
    {
      kind: shape.kind,
      namespace: props.metadata?.namespace,
      replicas: shape.replicas(props),
      metadata: template.metadata ?? {},
      spec: template.spec,
      volumeClaimTemplates: props.spec?.volumeClaimTemplates ?? [],
    },
  ];
}

/** Init containers first, then the main containers. */
export function allContainers(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

/** Whether a resource name is a GPU (nvidia.com/gpu, amd.com/gpu, gpu.intel.com/i915, ...). */
export function isGpuResource(name: string, extra: readonly string[] = []): boolean {
  return extra.includes(name) || /(^|[./])gpu(\.|\/|$)/.test(name);
}

/** The number of GPUs a container asks for (limits win; requests alone count too). */
export function gpuCount(container: Container, extra: readonly string[] = []): number {
  const pick = (r?: Record<string, string | number>) =>
    Object.entries(r ?? {})
      .filter(([k]) => isGpuResource(k, extra))
      .reduce((sum, [, v]) => sum + Number(v), 0);
  return Math.max(pick(container.resources?.limits), pick(container.resources?.requests));
}

/** Seconds a startup probe tolerates before the kubelet kills the container. */
export function startupProbeSeconds(probe: Probe): number {
  return (probe.initialDelaySeconds ?? 0) + (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3);
}

/** Splits an image reference into its tag (undefined when absent) and digest. */
export function imageReference(image: string): { tag?: string; digest?: string } {
  const [name, digest] = image.split("@");
  const lastSlash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  return { tag: colon > lastSlash ? name.slice(colon + 1) : undefined, digest };
}
