/** The top-level component: object store, per-model mirror + cache + server, and the outputs. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext, modelCluster, workloadAnnotations } from "./cluster";
import { keyPath } from "./config/issues";
import { StackConfig } from "./config/schema";
import { API_KEY_CONFIG_FILE, API_KEY_SECRET_KEY, apiKeyConfigFile, driverFloor, serverImage } from "./engines/engine";
import { engines } from "./engines/registry";
import { SkyPilotConsumer, skypilotConsumer } from "./consumers/skypilot";
import { ModelMirror } from "./mirror/modelMirror";
import { NetworkPolicies } from "./networkPolicies";
import { Observability, ObservabilityArgs } from "./observability/prometheus";
import { scriptsConfigMapData } from "./scripts";
import { verifiedCopyBudgetSeconds } from "./budgets";
import { labels, selectorLabels } from "./naming";
import { podSecurityLevel, podSecurityLabels, PodSecurityLevel } from "./podSecurity";
import { PreviewIdentity } from "./previewIdentity";
import { directFromHubPlan } from "./serving/directFromHub";
import { scaledObject } from "./serving/autoscaling";
import { INFERENCE_COMPONENT, ModelServer, ServingPlan } from "./serving/modelServer";
import { smokeCheckAccount, smokeCheckJob } from "./serving/smokeCheck";
import { strategies } from "./storage/registry";
import { s3StreamingSettings } from "./storage/s3Streaming";
import { revisionCleanupJob } from "./storage/strategy";
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

/** Per-model outputs. */
export interface ModelEndpoint {
  readonly baseUrl: pulumi.Output<string>;
  readonly engine: string;
  readonly image: string;
  /** The NVIDIA driver the image needs (the default images are CUDA 13 builds: R580+). */
  readonly cudaDriver: string;
  readonly workload: string;
  readonly loadingPath: string;
  readonly startupBudgetSeconds: number;
  readonly coldStartSeconds: number;
  readonly warmStartSeconds: number;
  /** How to authenticate: "none", or where the Bearer token is (the key itself is never an output). */
  readonly authorization: pulumi.Output<string> | string;
}

export interface CatalogEntry {
  readonly uri: pulumi.Output<string> | string;
  readonly huggingFace: string;
  readonly revision: string;
  readonly sizeGiB: number;
  readonly mirrored: boolean;
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
    const provider = new k8s.Provider(
      `${name}-kubernetes`,
      {
        ...(kube.context ? { context: kube.context } : {}),
        // The SDK defaults `kubeconfig` to $KUBECONFIG, which a provider that only renders refuses:
        // an empty one is unset to the provider.
        ...(kube.renderYamlTo ? { renderYamlToDirectory: kube.renderYamlTo, ...(process.env.KUBECONFIG ? { kubeconfig: "" } : {}) } : {}),
      },
      opts?.parent ? { parent: opts.parent } : {},
    );
    super("llm-serving:index:LlmServing", name, {}, { ...opts, providers: { ...(opts?.providers as object), kubernetes: provider } });
    const child = { parent: this };

    const namespace = kube.createNamespace
      ? new k8s.core.v1.Namespace(
          "namespace",
          {
            metadata: {
              name: kube.namespace,
              labels: { ...labels(kube.namespace, "namespace"), ...podSecurityLabels(config) },
            },
          },
          // Deleting a namespace deletes its claims (caches, Redis metadata, MinIO data): never do it.
          { ...child, retainOnDelete: true },
        ).metadata.name
      : pulumi.output(kube.namespace);
    // Every pod script, mounted where it runs: inline scripts would go through the kubelet's $(VAR) expansion.
    const scripts = new k8s.core.v1.ConfigMap(
      "scripts",
      {
        metadata: { name: "llm-serving-scripts", namespace, labels: labels("llm-serving-scripts", "scripts") },
        data: scriptsConfigMapData(),
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
    const shared = strategy.createShared({ config, cluster: stackCluster, store, juicefsRedisUrl: args.juicefsRedisUrl }, this);

    const served: ObservabilityArgs["models"] = [];
    for (const [index, model] of config.models.entries()) {
      const cluster = modelCluster(stackCluster, model);
      const engine = engines[model.engine];
      let plan: ServingPlan;
      if (model.mirror) {
        const mirror = new ModelMirror(
          model.name,
          {
            model,
            store,
            cluster,
            preload: config.storage.preload,
            hfTokenSecret,
            hubEndpoint: config.huggingFace.endpoint,
            configKey: keyPath(["models", index]),
          },
          child,
        );
        const cache = strategy.createModelCache(
          model.name,
          {
            model,
            store,
            cluster,
            preload: config.storage.preload,
            mirror: mirror.job,
            needsKvCacheDir: model.sglang?.hicache?.storageBackend === "file",
            configKey: keyPath(["models", index]),
            keepRevisions: config.storage.keepRevisions,
          },
          shared as never,
          child,
        );
        plan = cache.plan;
        this.skypilot[model.name] = skypilotConsumer(model, store, s3StreamingSettings(config));
        this.catalog[model.name] = {
          uri: mirror.uri,
          huggingFace: model.huggingFace,
          revision: model.revision,
          sizeGiB: model.sizeGiB,
          mirrored: true,
        };
      } else {
        plan = directFromHubPlan(model, config.huggingFace.endpoint);
        this.catalog[model.name] = {
          uri: `hf://${model.huggingFace}@${model.revision}`,
          huggingFace: model.huggingFace,
          revision: model.revision,
          sizeGiB: model.sizeGiB,
          mirrored: false,
        };
      }
      const apiKeySecret = config.authenticatedModels.includes(model.name) ? this.apiKeySecret(model.name, args, namespace) : undefined;
      const server = new ModelServer(
        model.name,
        {
          model,
          engine,
          plan,
          cluster,
          hfTokenSecret,
          metrics: config.observability.prometheus.enabled,
          apiKeySecret,
          compileCache: config.compileCache,
        },
        child,
      );
      served.push({ model, engine, cluster });
      const prometheus = config.observability.prometheus;
      if (model.autoscaling && prometheus.serverAddress) {
        scaledObject(
          `${model.name}-autoscaling`,
          {
            model,
            engine,
            cluster,
            serverAddress: prometheus.serverAddress,
            workloadKind: server.workloadKind,
            startupBudgetSeconds: server.startup.budgetSeconds,
          },
          { parent: server, dependsOn: [server.workload] },
        );
      }
      // With skipAwait nothing waits for Ready, so the check would race the rollout.
      if (!config.kubernetes.skipAwait) {
        const checkName = `${model.name}-smoke-check`;
        smokeCheckJob(
          checkName,
          {
            model,
            cluster,
            baseUrl: server.baseUrl,
            servedModel: server.servedModel,
            apiKeySecret,
            // The mirror and the preload first, where a cache is filled; then the server's own await budget.
            serverWaitSeconds: (model.mirror ? verifiedCopyBudgetSeconds(model) : 0) + server.startup.awaitSeconds,
            serverPodLabels: selectorLabels(model.name, INFERENCE_COMPONENT),
            serverReadySeconds: server.startup.awaitSeconds,
            configKey: keyPath(["models", index]),
            serviceAccountName: smokeCheckAccount(checkName, cluster, { parent: server }),
          },
          // Beside the server, not after it (it watches the server's pods while Pulumi awaits them);
          // after what fills the cache, so a failed mirror or preload leaves no check waiting.
          { parent: server, dependsOn: plan.dependsOn },
        );
      }
      // After the server: Pulumi waits for it to be Ready, so the new revision is verified and served.
      if (plan.revisionCleanup && !config.kubernetes.skipAwait) {
        revisionCleanupJob(
          `${model.name}-prune-revisions`,
          { model, cluster, keepRevisions: config.storage.keepRevisions },
          plan.revisionCleanup,
          { parent: server, dependsOn: [server.workload] },
        );
      } else if (plan.revisionCleanup) {
        pulumi.log.warn(
          `superseded revisions of ${model.name} stay in its cache: llm-serving:kubernetes.skipAwait is on, so nothing waits for the new revision to serve before removing the old (storage.keepRevisions is not applied)`,
          this,
        );
      }
      this.models[model.name] = {
        baseUrl: server.baseUrl,
        engine: engine.name,
        image: serverImage(model, engine, cluster.kubernetes),
        cudaDriver: driverFloor(model, cluster.kubernetes),
        workload: server.workloadKind,
        loadingPath: plan.loadingPath,
        startupBudgetSeconds: server.startup.budgetSeconds,
        coldStartSeconds: server.startup.coldStartSeconds,
        warmStartSeconds: server.startup.warmStartSeconds,
        authorization: apiKeySecret
          ? pulumi.interpolate`Authorization: Bearer $(kubectl -n ${namespace} get secret ${apiKeySecret} -o jsonpath='{.data.API_KEY}' | base64 -d)`
          : "none",
      };
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

  /** The Secret `<model>-api-key` (key API_KEY, and the same as a server-args file) holding the model's key: its own from `apiKeys`, else `apiKey`. */
  private apiKeySecret(name: string, args: LlmServingArgs, namespace: pulumi.Input<string>): pulumi.Output<string> {
    const own = args.apiKeys?.apply((keys) => keys[name]);
    const key = pulumi.all([own, args.apiKey]).apply(([perModel, shared]) => {
      const value = perModel ?? shared;
      if (!value) throw new Error(`models ${name}: llm-serving:apiKey or llm-serving:apiKeys.${name} is not set as a secret`);
      return value;
    });
    return new k8s.core.v1.Secret(
      `${name}-api-key`,
      {
        metadata: { name: `${name}-api-key`, namespace, labels: labels(`${name}-api-key`, "credentials") },
        type: "Opaque",
        stringData: { [API_KEY_SECRET_KEY]: pulumi.secret(key), [API_KEY_CONFIG_FILE]: pulumi.secret(key.apply(apiKeyConfigFile)) },
      },
      { parent: this },
    ).metadata.name;
  }
}
