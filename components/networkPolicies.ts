/**
 * NetworkPolicies (`networkPolicy.enabled`): each model's server admits only the configured clients,
 * its own smoke check and Prometheus; MinIO admits only this stack's pods (and the JuiceFS CSI
 * namespace, whose mount pods write the volume); Redis only the JuiceFS CSI namespace.
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

/** Ingress to one model's server: its clients, its smoke check, Prometheus when it scrapes. */
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
    ingress: [{ from: clients, ports: [{ protocol: "TCP", port: engine.port }] }],
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
    this.registerOutputs({});
  }
}
