/** One inference service per model: Deployment or StatefulSet, Service, PDB, probes from the budget. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { withScripts } from "../scripts";
import { hubDownloadGiB } from "../hub";
import {
  ClusterContext,
  ENGINE_UID,
  placement,
  podSecurity,
  restrictedContainerSecurity,
  serverCpu,
  TMP_MOUNT,
  TMP_VOLUME,
  withFailureMessages,
} from "../cluster";
import { CompileCacheConfig, ModelConfig } from "../config/schema";
import { CACHE_ROOT, EngineModelSource, GroupRole, InferenceEngine, serverImage, sourceLocation } from "../engines/engine";
import { labels, modelAnnotations, selectorLabels } from "../naming";
import { ModelCachePlan } from "../storage/strategy";
import { compileCachePieces, mergeEnv } from "./compileCache";
import { leaderWorkerSetSpec, LWS_API_VERSION, LWS_KIND, WORKER_INDEX_LABEL, workerMemberSpec } from "./leaderWorkerSet";
import { DGD_API_VERSION, DGD_KIND, DYNAMO_WORKER_COMPONENT, dynamoGraphSpec, firstPodClaimName, workerPodSpec } from "./dynamoGraph";
import { memoryQuantity, shmSizeGiB } from "./memory";
import { POD_TEMPLATE_ANNOTATION, podTemplateDigest, ServedModelCheck, ServerRollout } from "./smokeCheck";
import { estimateStartup, PROBE_PERIOD_SECONDS, StartupEstimate } from "./startup";

export const INFERENCE_COMPONENT = "inference-server";
export const BUDGET_ANNOTATION = "llm-serving.io/startup-budget-seconds";
export const LOAD_ESTIMATE_ANNOTATION = "llm-serving.io/load-estimate-seconds";

/** A loading plan whose source may also be Hugging Face (mirror: false). */
export type ServingPlan = Omit<ModelCachePlan, "source"> & { readonly source: EngineModelSource };

export interface ModelServerArgs {
  /** The model to serve. */
  readonly model: ModelConfig;
  /** Engine adapter (vLLM or SGLang). */
  readonly engine: InferenceEngine;
  /** How the weights reach the pod (from the storage strategy, or straight from the Hub). */
  readonly plan: ServingPlan;
  /** Cluster context. */
  readonly cluster: ClusterContext;
  /** Secret holding HF_TOKEN, referenced only when the engine downloads from the Hub. */
  readonly hfTokenSecret?: pulumi.Input<string>;
  /** Whether Prometheus scrapes this server (`observability.prometheus.enabled`). Default: false. */
  readonly metrics?: boolean;
  /** The Secret holding the key the server requires (`llm-serving:apiKey[s]`). Default: none, an open endpoint. */
  readonly apiKeySecret?: pulumi.Input<string>;
  /** Persistent compile caches on the node (`compileCache`). Default: off (an emptyDir per pod). */
  readonly compileCache?: CompileCacheConfig;
  /** What the workload waits for besides the cache (the Dynamo platform's Helm release). Default: none. */
  readonly platform?: pulumi.Resource;
}

/** The replicas a model starts with: KEDA's minimum when it autoscales. */
export function initialReplicas(model: ModelConfig): number {
  return model.autoscaling?.minReplicas ?? model.replicas;
}

/** The rollout the smoke check waits for: none with skipAwait, where no check runs. */
export function serverRollout(
  resource: ServerRollout["resource"],
  name: string,
  template: pulumi.Input<k8s.types.input.core.v1.PodTemplateSpec>,
  skipAwait: boolean,
): ServerRollout | undefined {
  return skipAwait ? undefined : { resource, name, templateDigest: podTemplateDigest(template) };
}

/** The workload's metadata with its pod template's digest: on the workload, not its pods, whose template it would change. */
export function withTemplateDigest(
  metadata: k8s.types.input.meta.v1.ObjectMeta & { annotations: Record<string, string> },
  rollout: ServerRollout | undefined,
): k8s.types.input.meta.v1.ObjectMeta {
  return rollout ? { ...metadata, annotations: { ...metadata.annotations, [POD_TEMPLATE_ANNOTATION]: rollout.templateDigest } } : metadata;
}

/** The most replicas a model can have (spread, PDB and roll strategy follow it). */
export function maxReplicas(model: ModelConfig): number {
  return model.autoscaling?.maxReplicas ?? model.replicas;
}

/**
 * `surge`: one extra pod at a time, none unavailable, so the old revision serves until the new pod is
 * Ready (needs a spare GPU). Otherwise roll without one: every pod at once for one replica or a pinned
 * node, else one at a time.
 *
 * "Every pod at once" is a rolling update with no surge and all pods unavailable, not `Recreate`:
 * while Recreate's old pods terminate (an engine's grace period) the controller has not made the new
 * ReplicaSet yet, and Pulumi's Deployment await takes that state for a finished rollout (seen on a
 * real node), so `pulumi up` returned before the new revision ran and a server that could not start
 * went unreported. Here too the old pods stop first, as the new ones wait for their GPUs (a
 * terminating pod keeps its GPU for the scheduler), but the new ReplicaSet exists at once.
 */
/**
 * How long a terminating server keeps serving before its SIGTERM: the kubelet stops the pod while its
 * endpoint is still leaving every node's Service rules (kube-proxy, ingress controllers), and a
 * request sent to the pod in that window would hang on a gone address (seen on a real node during a
 * surge roll). A sleep action needs nothing of the image (Kubernetes ≥ 1.30).
 */
export const ENDPOINT_DRAIN_SECONDS = 10;

export function deploymentStrategy(model: ModelConfig, spreadable: boolean): k8s.types.input.apps.v1.DeploymentStrategy {
  if (model.rollout === "surge") return { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
  if (maxReplicas(model) === 1 || !spreadable) return { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: "100%" } };
  return { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } };
}

export function podSpec(
  args: ModelServerArgs,
  startup: StartupEstimate,
  serviceAccountName: pulumi.Input<string>,
  role: GroupRole = "leader",
): k8s.types.input.core.v1.PodSpec {
  const { model, engine, plan, cluster } = args;
  const kube = cluster.kubernetes;
  const launch = engine.launch({ model, source: plan.source, kvCacheDir: plan.kvCache?.mountPath, metrics: args.metrics, role });
  const health = { httpGet: { path: engine.healthPath, port: "http" }, timeoutSeconds: 5 };
  const fromHub = plan.source.kind === "huggingFace";
  const cacheGiB = fromHub ? hubDownloadGiB(model.sizeGiB) : 20;
  // The download lands in the cache emptyDir: requested, so the scheduler picks a node with the room
  // and the kubelet does not evict the pod mid-download for exceeding the node's ephemeral storage.
  const scratch: Record<string, string> = fromHub ? { "ephemeral-storage": `${cacheGiB}Gi` } : {};
  const hfToken =
    plan.source.kind === "huggingFace" && args.hfTokenSecret
      ? [{ name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: args.hfTokenSecret, key: "HF_TOKEN" } } }]
      : [];
  // Each member of a group spanning nodes has the node's GPUs and the interconnect's resources.
  const gpu = { [kube.gpuResource]: String(model.gpus), ...(model.nodes > 1 ? (model.multiNode?.resources ?? {}) : {}) };
  const memory = memoryQuantity(model);
  const apiKey = args.apiKeySecret ? engine.apiKey(args.apiKeySecret) : { env: [], args: [], volumes: [], volumeMounts: [] };
  const compile = args.compileCache?.enabled ? compileCachePieces(model, engine, kube, args.compileCache, cluster.pythonImage) : undefined;
  return {
    serviceAccountName,
    automountServiceAccountToken: false,
    securityContext: podSecurity(),
    ...(kube.runtimeClassName ? { runtimeClassName: kube.runtimeClassName } : {}),
    ...(kube.priorityClassName ? { priorityClassName: kube.priorityClassName } : {}),
    ...placement(kube, plan.nodeSelector),
    ...(plan.affinity ? { affinity: plan.affinity } : {}),
    ...(maxReplicas(model) > 1 && plan.spreadable
      ? {
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: "kubernetes.io/hostname",
              whenUnsatisfiable: "ScheduleAnyway",
              labelSelector: { matchLabels: selectorLabels(model.name, INFERENCE_COMPONENT) },
            },
          ],
        }
      : {}),
    terminationGracePeriodSeconds: 60,
    initContainers: [...plan.initContainers, ...(compile?.initContainers ?? [])],
    containers: [
      {
        name: engine.name,
        image: serverImage(model, engine, kube),
        command: launch.command,
        args: [...launch.args, ...apiKey.args],
        ports: [{ name: "http", containerPort: engine.port }],
        lifecycle: { preStop: { sleep: { seconds: ENDPOINT_DRAIN_SECONDS } } },
        env: mergeEnv(launch.env, plan.env, hfToken, apiKey.env, compile?.env ?? []),
        resources: {
          requests: { cpu: serverCpu(model), memory, ...gpu, ...scratch },
          limits: { memory, ...gpu },
        },
        startupProbe: { ...health, periodSeconds: PROBE_PERIOD_SECONDS, failureThreshold: startup.failureThreshold },
        readinessProbe: { ...health, periodSeconds: 10, failureThreshold: 3 },
        livenessProbe: { ...health, periodSeconds: 20, failureThreshold: 6 },
        // Its own uid; the pod's fsGroup still lets it read the caches the preload wrote and write shared ones.
        securityContext: { ...restrictedContainerSecurity(), runAsUser: ENGINE_UID, runAsGroup: ENGINE_UID },
        volumeMounts: [
          ...plan.volumeMounts,
          { name: "cache", mountPath: CACHE_ROOT },
          { name: "dshm", mountPath: "/dev/shm" },
          TMP_MOUNT,
          ...(plan.kvCache ? [{ name: plan.kvCache.volume.name as string, mountPath: plan.kvCache.mountPath }] : []),
          ...(compile ? [compile.mount] : []),
          ...apiKey.volumeMounts,
        ],
      },
    ],
    volumes: [
      ...plan.volumes,
      { name: "cache", emptyDir: { sizeLimit: `${cacheGiB}Gi` } },
      { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: `${shmSizeGiB(model.gpus)}Gi` } },
      TMP_VOLUME,
      ...(plan.kvCache ? [plan.kvCache.volume] : []),
      ...(compile ? [compile.volume] : []),
      ...apiKey.volumes,
    ],
  };
}

export class ModelServer extends pulumi.ComponentResource {
  /** OpenAI-compatible base URL inside the cluster. */
  public readonly baseUrl: pulumi.Output<string>;
  /** Where the server reports the model it loaded, and what it must report for this revision (where the engine reports it). */
  public readonly servedModel?: ServedModelCheck;
  public readonly startup: StartupEstimate;
  public readonly workloadKind: "Deployment" | "StatefulSet" | "DynamoGraphDeployment" | "LeaderWorkerSet";
  /** The Deployment or StatefulSet (Pulumi finishes creating it once its pods are Ready), or the DynamoGraphDeployment. */
  public readonly workload: pulumi.CustomResource;
  /** Whether Pulumi's await of the workload means its pods are Ready (not for a DynamoGraphDeployment or a LeaderWorkerSet: the smoke check tells). */
  public readonly awaitsReady: boolean;
  /** The labels of the pods that load the model (the smoke check watches them). */
  public readonly loadingPodLabels: Record<string, string>;
  /** The Deployment or StatefulSet whose rollout the smoke check waits for (none with skipAwait, for a LeaderWorkerSet or Dynamo). */
  public readonly rollout?: ServerRollout;

  constructor(name: string, args: ModelServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:serving:ModelServer", name, {}, opts);
    const { model, engine, plan, cluster } = args;
    const ns = cluster.namespace;
    const appLabels = labels(model.name, INFERENCE_COMPONENT);
    const selector = selectorLabels(model.name, INFERENCE_COMPONENT);
    const child = { parent: this };
    this.startup = estimateStartup(model, plan.bandwidth, engine.warmupSeconds, plan.fillAt);

    const service = new k8s.core.v1.Service(
      `${name}-svc`,
      {
        metadata: { name: model.name, namespace: ns, labels: appLabels },
        // A group's leader alone serves HTTP.
        spec: {
          selector: model.nodes > 1 ? { ...selector, [WORKER_INDEX_LABEL]: "0" } : selector,
          ports: [{ name: "http", port: engine.port, targetPort: "http" }],
        },
      },
      child,
    );
    const timeout = `${Math.ceil(this.startup.awaitSeconds / 60)}m`;
    const workloadOpts = {
      parent: this,
      dependsOn: [...plan.dependsOn, ...(args.platform ? [args.platform] : [])],
      customTimeouts: { create: timeout, update: timeout },
      // With autoscaling the replica count is the HPA's: an `up` never resets it.
      ...(model.autoscaling ? { ignoreChanges: ["spec.replicas"] } : {}),
    };
    const metadata = { name: model.name, namespace: ns, labels: appLabels, annotations: cluster.workloadAnnotations };
    const podAnnotations = (extra: Record<string, string>) => ({
      ...modelAnnotations(model),
      [BUDGET_ANNOTATION]: String(this.startup.budgetSeconds),
      [LOAD_ESTIMATE_ANNOTATION]: String(this.startup.probedSeconds),
      ...extra,
    });
    this.awaitsReady = !engine.dynamo && model.nodes === 1;
    this.loadingPodLabels = selector;
    if (engine.dynamo) {
      // No StatefulSet to make a pod's claim from its template: the claim its first pod would get, kept like it.
      const claims = plan.volumeClaimTemplates.map((template) => {
        const meta = template.metadata as k8s.types.input.meta.v1.ObjectMeta;
        const volume = meta.name as string;
        const claimName = firstPodClaimName(volume, model);
        new k8s.core.v1.PersistentVolumeClaim(
          `${name}-${volume}`,
          { metadata: { ...meta, name: claimName, namespace: ns }, spec: template.spec },
          { ...child, retainOnDelete: true },
        );
        return { name: volume, persistentVolumeClaim: { claimName } };
      });
      const server = podSpec(args, this.startup, model.name);
      const pod = withScripts(
        withFailureMessages({ ...server, volumes: [...(server.volumes as k8s.types.input.core.v1.Volume[]), ...claims] }),
        cluster.scripts,
      );
      const image = serverImage(model, engine, cluster.kubernetes);
      this.workloadKind = "DynamoGraphDeployment";
      this.loadingPodLabels = selectorLabels(model.name, DYNAMO_WORKER_COMPONENT);
      this.workload = new k8s.apiextensions.CustomResource(
        `${name}-server`,
        {
          apiVersion: DGD_API_VERSION,
          kind: DGD_KIND,
          metadata,
          spec: dynamoGraphSpec({
            model,
            graph: engine.dynamo,
            image,
            worker: { spec: workerPodSpec(pod.spec, engine.dynamo, this.startup), annotations: podAnnotations(pod.annotations) },
            modelMounts: plan.volumeMounts,
            frontendLabels: appLabels,
            workerReplicas: initialReplicas(model),
          }),
        },
        workloadOpts,
      );
    } else {
      const serviceAccount = new k8s.core.v1.ServiceAccount(
        `${name}-sa`,
        { metadata: { name: model.name, namespace: ns, labels: appLabels }, automountServiceAccountToken: false },
        child,
      );
      const pod = withScripts(withFailureMessages(podSpec(args, this.startup, serviceAccount.metadata.name)), cluster.scripts);
      const template = { metadata: { labels: appLabels, annotations: podAnnotations(pod.annotations) }, spec: pod.spec };
      if (model.nodes > 1) {
        const worker = withScripts(
          withFailureMessages(podSpec(args, this.startup, serviceAccount.metadata.name, "worker")),
          cluster.scripts,
        );
        this.workloadKind = "LeaderWorkerSet";
        this.workload = new k8s.apiextensions.CustomResource(
          `${name}-server`,
          {
            apiVersion: LWS_API_VERSION,
            kind: LWS_KIND,
            metadata,
            spec: leaderWorkerSetSpec({
              model,
              replicas: initialReplicas(model),
              labels: appLabels,
              annotations: podAnnotations(pod.annotations),
              leader: pod.spec,
              worker: workerMemberSpec(worker.spec),
              volumeClaimTemplates: plan.volumeClaimTemplates,
            }),
          },
          workloadOpts,
        );
      } else if (plan.volumeClaimTemplates.length > 0) {
        this.workloadKind = "StatefulSet";
        this.rollout = serverRollout("statefulsets", model.name, template, cluster.kubernetes.skipAwait);
        this.workload = new k8s.apps.v1.StatefulSet(
          `${name}-server`,
          {
            metadata: withTemplateDigest(metadata, this.rollout),
            spec: {
              serviceName: service.metadata.name,
              replicas: initialReplicas(model),
              selector: { matchLabels: selector },
              podManagementPolicy: "Parallel",
              // Per-pod weight caches survive the serving layer's deletion and scale-down.
              persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
              template,
              volumeClaimTemplates: plan.volumeClaimTemplates,
            },
          },
          workloadOpts,
        );
      } else {
        this.workloadKind = "Deployment";
        this.rollout = serverRollout("deployments", model.name, template, cluster.kubernetes.skipAwait);
        this.workload = new k8s.apps.v1.Deployment(
          `${name}-server`,
          {
            metadata: withTemplateDigest(metadata, this.rollout),
            spec: {
              replicas: initialReplicas(model),
              selector: { matchLabels: selector },
              strategy: deploymentStrategy(model, plan.spreadable),
              progressDeadlineSeconds: Math.max(600, this.startup.awaitSeconds),
              template,
            },
          },
          workloadOpts,
        );
      }
    }
    if (maxReplicas(model) > 1) {
      new k8s.policy.v1.PodDisruptionBudget(
        `${name}-pdb`,
        {
          metadata: { name: model.name, namespace: ns, labels: appLabels },
          spec: { maxUnavailable: 1, selector: { matchLabels: this.loadingPodLabels } },
        },
        child,
      );
    }
    const origin = pulumi.interpolate`http://${service.metadata.name}.${ns}.svc.cluster.local:${engine.port}`;
    this.baseUrl = pulumi.interpolate`${origin}/v1`;
    const served = engine.servedModel(plan.source);
    if (served)
      this.servedModel = { url: pulumi.interpolate`${origin}${served.path}`, field: served.field, expected: sourceLocation(plan.source) };
    this.registerOutputs({ baseUrl: this.baseUrl });
  }
}
