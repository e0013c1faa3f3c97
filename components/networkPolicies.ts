/**
 * NetworkPolicies (`networkPolicy.enabled`, on by default in prod): each model's server admits only
 * the configured clients, its own smoke check and Prometheus; MinIO admits only this stack's pods (and
 * the JuiceFS CSI namespace, whose mount pods write the volume); Redis only the JuiceFS CSI namespace.
 * The Jobs admit nothing and reach only what they need: DNS, the store, the Hub (the mirror), the
 * servers (the smoke check), nothing at all (the cleanup and the Fluid verification).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext } from "./cluster";
import { ModelConfig, StackConfig, strategyDefaults } from "./config/schema";
import { InferenceEngine } from "./engines/engine";
import { labels, PART_OF, selectorLabels } from "./naming";
import { INFERENCE_COMPONENT } from "./serving/modelServer";
import { REDIS_PORT, REDIS_SELECTOR } from "./storage/juicefs";
import { MINIO_PORT, MINIO_SELECTOR } from "./store/minio";

type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;
type Spec = k8s.types.input.networking.v1.NetworkPolicySpec;

const namespaceNamed = (name: string): Peer => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
const ownPods: Peer = { podSelector: { matchLabels: { "app.kubernetes.io/part-of": PART_OF } } };

/**
 * Ingress to one model's server: its clients, its smoke check, Prometheus when it scrapes; for a
 * group spanning nodes also its own members, on any port (the rendezvous port and NCCL's, which
 * picks its own), and nothing else of them.
 */
export function modelPolicySpec(model: ModelConfig, engine: InferenceEngine, config: StackConfig): Spec {
  const np = config.networkPolicy;
  const clients: Peer[] = [
    ...(np.clientPodLabels ? [{ podSelector: { matchLabels: np.clientPodLabels } }] : []),
    ...(np.clientNamespaceLabels ? [{ namespaceSelector: { matchLabels: np.clientNamespaceLabels } }] : []),
    { podSelector: { matchLabels: selectorLabels(model.name, "smoke-check") } },
    ...(config.observability.prometheus.enabled ? [namespaceNamed(np.prometheusNamespace)] : []),
  ];
  return {
    podSelector: { matchLabels: selectorLabels(model.name, INFERENCE_COMPONENT) },
    policyTypes: ["Ingress"],
    ingress: [
      { from: clients, ports: [{ protocol: "TCP", port: engine.port }] },
      ...(model.nodes > 1 ? [{ from: [{ podSelector: { matchLabels: selectorLabels(model.name, INFERENCE_COMPONENT) } }] }] : []),
    ],
  };
}

/** The JuiceFS CSI driver's namespace (its mount pods talk to Redis and the bucket). */
function csiNamespace(config: StackConfig): string {
  return (config.storage.juicefs ?? strategyDefaults.juicefs()).install.namespace;
}

/** Ingress to MinIO: this stack's pods (mirror, preload, setup, streaming servers), Fluid's and JuiceFS's. */
export function minioPolicySpec(config: StackConfig): Spec {
  const strategy = config.storage.strategy;
  const from: Peer[] = [
    ownPods,
    // Fluid's cache workers carry Fluid's labels, not ours: the namespace's pods.
    ...(strategy === "fluid" ? [{ podSelector: {} }] : []),
    ...(strategy === "juicefs" ? [namespaceNamed(csiNamespace(config))] : []),
  ];
  return {
    podSelector: { matchLabels: MINIO_SELECTOR },
    policyTypes: ["Ingress"],
    ingress: [{ from, ports: [{ protocol: "TCP", port: MINIO_PORT }] }],
  };
}

/** Ingress to the in-cluster Redis: only the JuiceFS CSI namespace (controller and mount pods). */
export function redisPolicySpec(config: StackConfig): Spec {
  return {
    podSelector: { matchLabels: REDIS_SELECTOR },
    policyTypes: ["Ingress"],
    ingress: [{ from: [namespaceNamed(csiNamespace(config))], ports: [{ protocol: "TCP", port: REDIS_PORT }] }],
  };
}

type Egress = k8s.types.input.networking.v1.NetworkPolicyEgressRule;

const DNS: Egress = {
  ports: [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ],
};
/** HTTPS anywhere outside the cluster's own pods: R2, S3 and the Hub are names, not addresses a policy can list. */
const HTTPS: Egress = { to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 443 }] };
/** The API server, wherever its endpoint is (policies see the address after the Service's DNAT): 443 or 6443. */
const API_SERVER: Egress = {
  to: [{ ipBlock: { cidr: "0.0.0.0/0" } }],
  ports: [
    { protocol: "TCP", port: 443 },
    { protocol: "TCP", port: 6443 },
  ],
};
const MINIO: Egress = { to: [{ podSelector: { matchLabels: MINIO_SELECTOR } }], ports: [{ protocol: "TCP", port: MINIO_PORT }] };

/** A Hub mirror on a port other than 443 (anywhere: it may be in the cluster or outside). */
function hubEgress(endpoint: string | undefined): Egress[] {
  if (!endpoint) return [];
  const url = new URL(endpoint);
  const port = Number(url.port || (url.protocol === "http:" ? 80 : 443));
  return port === 443 ? [] : [{ ports: [{ protocol: "TCP", port }] }];
}

/** A Job's pods (by their component label): no ingress, only the listed egress. */
function jobPolicySpec(components: string[], egress: Egress[]): Spec {
  return {
    podSelector: {
      matchLabels: { "app.kubernetes.io/part-of": PART_OF },
      matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: components }],
    },
    // No ingress rules (and none at all for egress when empty): the API server stores an empty list
    // as absent, so writing one would make every apply a change.
    policyTypes: ["Ingress", "Egress"],
    ...(egress.length > 0 ? { egress } : {}),
  };
}

/** Every Job's policy, by name: what each kind of Job may reach. */
export function jobPolicySpecs(config: StackConfig, models: { engine: InferenceEngine }[]): Record<string, Spec> {
  const store = config.objectStore.provider === "minio" ? MINIO : HTTPS;
  const ports = [...new Set(models.map((m) => m.engine.port))].map((port) => ({ protocol: "TCP", port }));
  const servers: Egress = { to: [{ podSelector: { matchLabels: { "app.kubernetes.io/component": INFERENCE_COMPONENT } } }], ports };
  return {
    // The mirror reads the Hub (HTTPS, or huggingFace.endpoint's port) and writes the store.
    "jobs-mirror": jobPolicySpec(["model-mirror"], [DNS, HTTPS, ...hubEgress(config.huggingFace.endpoint), store]),
    "jobs-preload": jobPolicySpec(["model-preload"], [DNS, store]),
    ...(config.objectStore.provider === "minio" ? { "jobs-minio-setup": jobPolicySpec(["object-store-setup"], [DNS, MINIO]) } : {}),
    // The servers, and the API server for the placement watch (it reads the servers' pods).
    "jobs-smoke-check": jobPolicySpec(["smoke-check"], [DNS, servers, API_SERVER]),
    // They read and delete files of a mounted volume: no network at all.
    "jobs-offline": jobPolicySpec(["model-cache-cleanup", "model-verify"], []),
  };
}

export interface NetworkPoliciesArgs {
  readonly config: StackConfig;
  readonly cluster: ClusterContext;
  readonly models: { model: ModelConfig; engine: InferenceEngine }[];
}

export class NetworkPolicies extends pulumi.ComponentResource {
  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:network:NetworkPolicies", name, {}, opts);
    const { config } = args;
    const ns = args.cluster.namespace;
    const policy = (resourceName: string, objectName: string, spec: Spec) =>
      new k8s.networking.v1.NetworkPolicy(
        resourceName,
        { metadata: { name: objectName, namespace: ns, labels: labels(objectName, "network-policy") }, spec },
        { parent: this },
      );
    for (const { model, engine } of args.models) policy(`${model.name}-ingress`, model.name, modelPolicySpec(model, engine, config));
    if (config.objectStore.provider === "minio") policy("minio-ingress", "minio", minioPolicySpec(config));
    const juicefs = config.storage.juicefs ?? strategyDefaults.juicefs();
    if (config.storage.strategy === "juicefs" && juicefs.redis.mode === "inCluster")
      policy("redis-ingress", "juicefs-redis", redisPolicySpec(config));
    for (const [name, spec] of Object.entries(jobPolicySpecs(config, args.models))) policy(name, name, spec);
    this.registerOutputs({});
  }
}
