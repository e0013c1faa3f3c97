/** One served model: its mirror, its cache, its API key, its server and what checks and prunes after it. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { verifiedCopyBudgetSeconds } from "./budgets";
import { ClusterContext, modelCluster } from "./cluster";
import { ModelConfig, StackConfig } from "./config/schema";
import { SkyPilotConsumer, skypilotConsumer } from "./consumers/skypilot";
import { API_KEY_CONFIG_FILE, API_KEY_SECRET_KEY, apiKeyConfigFile, driverFloor, InferenceEngine, serverImage } from "./engines/engine";
import { engineFor } from "./engines/registry";
import { ModelMirror } from "./mirror/modelMirror";
import { labels } from "./naming";
import { scaledObject } from "./serving/autoscaling";
import { directFromHubPlan } from "./serving/directFromHub";
import { ModelServer, ServingPlan } from "./serving/modelServer";
import { smokeCheckAccount, smokeCheckJob } from "./serving/smokeCheck";
import { s3StreamingSettings } from "./storage/s3Streaming";
import { revisionCleanupJob, StorageStrategy } from "./storage/strategy";
import { ModelStore } from "./store/modelStore";

export interface ServedModelArgs {
  /** The model's entry of `models[]`. */
  readonly model: ModelConfig;
  /** Its config key, e.g. `llm-serving:models[0]`, named in the Jobs' and the smoke check's errors. */
  readonly configKey: string;
  /** The parsed stack config (storage, compile cache, observability and await settings). */
  readonly config: StackConfig;
  /** The stack's namespace, scripts and placement defaults (`models[]` placement keys override them). */
  readonly cluster: ClusterContext;
  /** The bucket the weights are mirrored into. */
  readonly store: ModelStore;
  /** The stack's storage strategy and what it created once for every model. */
  readonly strategy: StorageStrategy;
  readonly sharedStorage: unknown;
  /** The Secret holding HF_TOKEN, for gated models. Default: none. */
  readonly hfTokenSecret?: pulumi.Input<string>;
  /** The Dynamo platform's Helm release, which a DynamoGraphDeployment waits for (`dynamo.install`). Default: none. */
  readonly dynamoPlatform?: pulumi.Resource;
  /** The LeaderWorkerSet controller's Helm release, which a group spanning nodes waits for (`lws.install`). Default: none. */
  readonly lwsController?: pulumi.Resource;
  /** The key the server requires (secret), kept in the Secret `<model>-api-key`. Default: none, an open endpoint. */
  readonly apiKey?: pulumi.Output<string>;
}

/** A model's outputs. */
export interface ModelEndpoint {
  readonly baseUrl: pulumi.Output<string>;
  readonly engine: string;
  readonly image: string;
  /** The NVIDIA driver the image needs (the default images are CUDA 13 builds: R580+). */
  readonly cudaDriver: string;
  readonly workload: string;
  /** Nodes per replica (a LeaderWorkerSet group above 1) and the GPUs of a replica across them. */
  readonly nodes: number;
  readonly gpus: number;
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

export class ServedModel extends pulumi.ComponentResource {
  public readonly endpoint: ModelEndpoint;
  public readonly catalogEntry: CatalogEntry;
  /** What a SkyPilot cluster needs to stream the model from the bucket (seed 001); mirrored models only. */
  public readonly skypilot?: SkyPilotConsumer;
  public readonly engine: InferenceEngine;
  /** The namespace and placement of this model's pods. */
  public readonly cluster: ClusterContext;

  constructor(name: string, args: ServedModelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:index:ServedModel", name, {}, opts);
    const { model, config, configKey, store } = args;
    // These were the stack component's own children before ServedModel grouped them: the alias
    // keeps their state (and so every object in the cluster) where an existing stack has it.
    const child = { parent: this, aliases: opts?.parent ? [{ parent: opts.parent }] : [] };
    const cluster = modelCluster(args.cluster, model);
    const engine = engineFor(model);

    let plan: ServingPlan;
    if (model.mirror) {
      const mirror = new ModelMirror(
        model.name,
        {
          model,
          store,
          cluster,
          preload: config.storage.preload,
          hfTokenSecret: args.hfTokenSecret,
          hubEndpoint: config.huggingFace.endpoint,
          configKey,
        },
        child,
      );
      const cache = args.strategy.createModelCache(
        model.name,
        {
          model,
          store,
          cluster,
          preload: config.storage.preload,
          mirror: mirror.job,
          needsKvCacheDir: model.sglang?.hicache?.storageBackend === "file",
          configKey,
          keepRevisions: config.storage.keepRevisions,
        },
        args.sharedStorage,
        child,
      );
      plan = cache.plan;
      this.skypilot = skypilotConsumer(model, store, s3StreamingSettings(config));
      this.catalogEntry = {
        uri: mirror.uri,
        huggingFace: model.huggingFace,
        revision: model.revision,
        sizeGiB: model.sizeGiB,
        mirrored: true,
      };
    } else {
      plan = directFromHubPlan(model, config.huggingFace.endpoint);
      this.catalogEntry = {
        uri: `hf://${model.huggingFace}@${model.revision}`,
        huggingFace: model.huggingFace,
        revision: model.revision,
        sizeGiB: model.sizeGiB,
        mirrored: false,
      };
    }
    const apiKeySecret = args.apiKey ? apiKeySecretFor(model.name, args.apiKey, cluster.namespace, child) : undefined;
    const server = new ModelServer(
      model.name,
      {
        model,
        engine,
        plan,
        cluster,
        hfTokenSecret: args.hfTokenSecret,
        metrics: config.observability.prometheus.enabled,
        apiKeySecret,
        compileCache: config.compileCache,
        ...(engine.dynamo && args.dynamoPlatform ? { platform: args.dynamoPlatform } : {}),
        ...(model.nodes > 1 && args.lwsController ? { platform: args.lwsController } : {}),
      },
      child,
    );
    const prometheus = config.observability.prometheus;
    // (Dynamo's workers scale through its planner: parseStackConfig refuses autoscaling there.)
    if (model.autoscaling && prometheus.serverAddress && server.workloadKind !== "DynamoGraphDeployment") {
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
    let smokeCheck: pulumi.Resource | undefined;
    if (!config.kubernetes.skipAwait) {
      const checkName = `${model.name}-smoke-check`;
      smokeCheck = smokeCheckJob(
        checkName,
        {
          model,
          cluster,
          baseUrl: server.baseUrl,
          servedModel: server.servedModel,
          apiKeySecret,
          // The mirror and the preload first, where a cache is filled; then the server's own await budget.
          serverWaitSeconds: (model.mirror ? verifiedCopyBudgetSeconds(model) : 0) + server.startup.awaitSeconds,
          serverPodLabels: server.loadingPodLabels,
          serverReadySeconds: server.startup.awaitSeconds,
          configKey,
          serviceAccountName: smokeCheckAccount(checkName, cluster, server.rollout, { parent: server }),
          ...(server.rollout ? { rollout: server.rollout } : {}),
        },
        // Beside the server, not after it (it watches the server's pods while Pulumi awaits them);
        // after what fills the cache, so a failed mirror or preload leaves no check waiting.
        { parent: server, dependsOn: plan.dependsOn },
      );
    }
    // After the smoke check has seen the new revision answer (and after the server's own await where
    // Pulumi has one): the provider's Deployment await alone can call a rollout complete whose pods
    // never came up (seen on a node, an image that does not exist), and the old revision must stay.
    if (plan.revisionCleanup && smokeCheck) {
      revisionCleanupJob(
        `${model.name}-prune-revisions`,
        { model, cluster, keepRevisions: config.storage.keepRevisions },
        plan.revisionCleanup,
        { parent: server, dependsOn: server.awaitsReady ? [server.workload, smokeCheck] : [smokeCheck] },
      );
    } else if (plan.revisionCleanup) {
      pulumi.log.warn(
        `superseded revisions of ${model.name} stay in its cache: llm-serving:kubernetes.skipAwait is on, so nothing waits for the new revision to serve before removing the old (storage.keepRevisions is not applied)`,
        this,
      );
    }

    this.engine = engine;
    this.cluster = cluster;
    this.endpoint = {
      baseUrl: server.baseUrl,
      engine: engine.name,
      image: serverImage(model, engine, cluster.kubernetes),
      cudaDriver: driverFloor(model, cluster.kubernetes),
      workload: server.workloadKind,
      nodes: model.nodes,
      gpus: model.gpus * model.nodes,
      loadingPath: plan.loadingPath,
      startupBudgetSeconds: server.startup.budgetSeconds,
      coldStartSeconds: server.startup.coldStartSeconds,
      warmStartSeconds: server.startup.warmStartSeconds,
      authorization: apiKeySecret
        ? pulumi.interpolate`Authorization: Bearer $(kubectl -n ${cluster.namespace} get secret ${apiKeySecret} -o jsonpath='{.data.API_KEY}' | base64 -d)`
        : "none",
    };
    this.registerOutputs({ endpoint: this.endpoint, catalogEntry: this.catalogEntry, skypilot: this.skypilot });
  }
}

/** The Secret `<model>-api-key` (key API_KEY, and the same as a server-args file) holding the model's key. */
function apiKeySecretFor(
  name: string,
  key: pulumi.Output<string>,
  namespace: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): pulumi.Output<string> {
  return new k8s.core.v1.Secret(
    `${name}-api-key`,
    {
      metadata: { name: `${name}-api-key`, namespace, labels: labels(`${name}-api-key`, "credentials") },
      type: "Opaque",
      stringData: { [API_KEY_SECRET_KEY]: pulumi.secret(key), [API_KEY_CONFIG_FILE]: pulumi.secret(key.apply(apiKeyConfigFile)) },
    },
    opts,
  ).metadata.name;
}
