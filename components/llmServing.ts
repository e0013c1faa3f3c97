/** The top-level component: what the stack shares (namespace, object store, storage, policies, observability), a ServedModel per model, and the outputs. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext, workloadAnnotations } from "./cluster";
import { keyPath } from "./config/issues";
import { StackConfig } from "./config/schema";
import { SkyPilotConsumer } from "./consumers/skypilot";
import { dynamoPlatform } from "./dynamoPlatform";
import { lwsController } from "./lwsController";
import { NetworkPolicies } from "./networkPolicies";
import { Observability, ObservabilityArgs } from "./observability/prometheus";
import { scriptsConfigMapData, scriptsConfigMapName } from "./scripts";
import { labels } from "./naming";
import { podSecurityLevel, podSecurityLabels, PodSecurityLevel } from "./podSecurity";
import { PreviewIdentity } from "./previewIdentity";
import { CatalogEntry, ModelEndpoint, ServedModel } from "./servedModel";
import { strategies } from "./storage/registry";
import { createModelStore } from "./store/registry";

export interface LlmServingArgs {
  /** The parsed stack config. */
  readonly config: StackConfig;
  /** Hugging Face token (secret), for gated models. Default: none. */
  readonly hfToken?: pulumi.Output<string>;
  /** External JuiceFS metadata URL (secret). Default: none (in-cluster Redis). */
  readonly juicefsRedisUrl?: pulumi.Output<string>;
  /** The API key every model server requires (secret). Default: none, open endpoints. */
  readonly apiKey?: pulumi.Output<string>;
  /** Per-model API keys (a secret map model name → key), overriding `apiKey`. Default: none. */
  readonly apiKeys?: pulumi.Output<Record<string, string>>;
  /** The API server the preview kubeconfig names (required with previewIdentity.enabled; see `previewServer`). */
  readonly previewServer?: string;
}

/** Monthly storage estimate in USD (decimal GB, as providers bill). */
export function monthlyStorageCostUsd(sizesGiB: number[], pricePerGbMonth: number): number {
  const gb = sizesGiB.reduce((sum, s) => sum + s, 0) * 1.073741824;
  return Math.round(gb * pricePerGbMonth * 100) / 100;
}

export class LlmServing extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly bucket: pulumi.Output<string>;
  public readonly endpoint: pulumi.Output<string>;
  public readonly models: Record<string, ModelEndpoint> = {};
  public readonly catalog: Record<string, CatalogEntry> = {};
  /** Per mirrored model: what a SkyPilot cluster needs to stream it from the bucket (seed 001). */
  public readonly skypilot: Record<string, SkyPilotConsumer> = {};
  public readonly monthlyStorageCostUsd: number;
  /** The Pod Security level the namespace enforces: what a pre-existing namespace (createNamespace: false) must allow. */
  public readonly podSecurityLevel: PodSecurityLevel;
  /** The read-only kubeconfig for `pulumi preview` (secret), with previewIdentity. */
  public readonly previewKubeconfig?: pulumi.Output<string>;
  /** The read-only Cloudflare API token for `pulumi preview` (secret), on R2 with previewIdentity. */
  public readonly cloudflarePreviewToken?: pulumi.Output<string>;

  constructor(name: string, args: LlmServingArgs, opts?: pulumi.ComponentResourceOptions) {
    const { config } = args;
    const kube = config.kubernetes;
    const provider = kubernetesProvider(name, kube, opts?.parent);
    super("llm-serving:index:LlmServing", name, {}, { ...opts, providers: { ...(opts?.providers as object), kubernetes: provider } });
    const child = { parent: this };

    const namespace = kube.createNamespace ? stackNamespace(config, child) : pulumi.output(kube.namespace);
    // Every pod script, mounted where it runs: inline scripts would go through the kubelet's $(VAR) expansion.
    const scriptsData = scriptsConfigMapData();
    const scripts = new k8s.core.v1.ConfigMap(
      "scripts",
      {
        metadata: { name: scriptsConfigMapName(scriptsData), namespace, labels: labels("llm-serving-scripts", "scripts") },
        data: scriptsData,
      },
      child,
    );
    const stackCluster: ClusterContext = {
      namespace,
      kubernetes: kube,
      workloadAnnotations: workloadAnnotations(kube),
      pythonImage: config.images.python,
      scripts: scripts.metadata.name,
    };

    const store = createModelStore(config, stackCluster, child);
    const hfTokenSecret = args.hfToken
      ? new k8s.core.v1.Secret(
          "hf-token",
          {
            metadata: { name: "hf-token", namespace, labels: labels("hf-token", "credentials") },
            stringData: { HF_TOKEN: pulumi.secret(args.hfToken) },
          },
          child,
        ).metadata.name
      : undefined;

    const strategy = strategies[config.storage.strategy];
    const sharedStorage = strategy.createShared({ config, cluster: stackCluster, store, juicefsRedisUrl: args.juicefsRedisUrl }, this);

    const platform = dynamoPlatform(config.dynamo, child);
    const groups = lwsController(config.lws, child);

    const served: ObservabilityArgs["models"] = [];
    for (const [index, model] of config.models.entries()) {
      const servedModel = new ServedModel(
        model.name,
        {
          model,
          configKey: keyPath(["models", index]),
          config,
          cluster: stackCluster,
          store,
          strategy,
          sharedStorage,
          hfTokenSecret,
          dynamoPlatform: platform,
          lwsController: groups,
          apiKey: config.authenticatedModels.includes(model.name) ? modelApiKey(model.name, args) : undefined,
        },
        child,
      );
      served.push({ model, engine: servedModel.engine, cluster: servedModel.cluster });
      this.models[model.name] = servedModel.endpoint;
      this.catalog[model.name] = servedModel.catalogEntry;
      if (servedModel.skypilot) this.skypilot[model.name] = servedModel.skypilot;
    }

    if (config.networkPolicy.enabled) {
      new NetworkPolicies("network-policies", { config, cluster: stackCluster, models: served }, child);
    }
    if (config.previewIdentity.enabled) {
      if (!args.previewServer) throw new Error("llm-serving:previewIdentity.server: the preview identity needs the API server URL");
      const identity = new PreviewIdentity(
        "preview-identity",
        {
          settings: config.previewIdentity,
          namespace,
          namespaceName: kube.namespace,
          server: args.previewServer,
          context: kube.context,
        },
        child,
      );
      this.previewKubeconfig = identity.kubeconfig;
      this.cloudflarePreviewToken = store.previewToken;
    }
    if (config.observability.prometheus.enabled) {
      new Observability("observability", { settings: config.observability, cluster: stackCluster, models: served }, child);
    }

    this.namespace = namespace;
    this.podSecurityLevel = podSecurityLevel(config);
    this.bucket = store.bucket;
    this.endpoint = store.endpoint;
    this.monthlyStorageCostUsd = monthlyStorageCostUsd(
      config.models.filter((m) => m.mirror).map((m) => m.sizeGiB),
      store.pricePerGbMonth,
    );
    this.registerOutputs({
      bucket: this.bucket,
      endpoint: this.endpoint,
      models: this.models,
      catalog: this.catalog,
      skypilot: this.skypilot,
    });
  }
}

/** A model's API key: its own from `apiKeys`, else the stack's `apiKey`. */
function modelApiKey(name: string, args: LlmServingArgs): pulumi.Output<string> {
  const own = args.apiKeys?.apply((keys) => keys[name]);
  return pulumi.all([own, args.apiKey]).apply(([perModel, shared]) => {
    const value = perModel ?? shared;
    if (!value) throw new Error(`models ${name}: llm-serving:apiKey or llm-serving:apiKeys.${name} is not set as a secret`);
    return value;
  });
}

/** The stack's own Kubernetes provider: the configured context, or only rendering YAML with `renderYamlTo`. */
function kubernetesProvider(name: string, kube: StackConfig["kubernetes"], parent?: pulumi.Resource): k8s.Provider {
  return new k8s.Provider(
    `${name}-kubernetes`,
    {
      ...(kube.context ? { context: kube.context } : {}),
      // The SDK defaults `kubeconfig` to $KUBECONFIG, which a provider that only renders refuses:
      // an empty one is unset to the provider.
      ...(kube.renderYamlTo ? { renderYamlToDirectory: kube.renderYamlTo, ...(process.env.KUBECONFIG ? { kubeconfig: "" } : {}) } : {}),
    },
    parent ? { parent } : {},
  );
}

/** The namespace, labelled with its Pod Security level; never deleted (its claims hold caches, Redis metadata, MinIO data). */
function stackNamespace(config: StackConfig, opts: pulumi.CustomResourceOptions): pulumi.Output<string> {
  const name = config.kubernetes.namespace;
  return new k8s.core.v1.Namespace(
    "namespace",
    { metadata: { name, labels: { ...labels(name, "namespace"), ...podSecurityLabels(config) } } },
    { ...opts, retainOnDelete: true },
  ).metadata.name;
}
