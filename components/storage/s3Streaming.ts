/** s3Streaming: no volume; the engine streams safetensors straight from the bucket (Run:ai streamer). */
import { mirrorBudgetSeconds } from "../budgets";
import * as pulumi from "@pulumi/pulumi";
import { cpuCores, restrictedContainerSecurity, serverCpu } from "../cluster";
import { ModelConfig, S3StreamingConfig, StackConfig, strategyDefaults } from "../config/schema";
import { modelPrefix } from "../naming";
import { SGLANG_IMAGE } from "../engines/sglang";
import { runScript, VERIFY_STREAMED } from "../scripts";
import { s3EnvFromSecret } from "../store/modelStore";
import { ModelCache, ModelCacheArgs, ModelCachePlan, nodeLocalKvCache, nodeLocalKvCacheIssues, StorageStrategy } from "./strategy";

export function s3StreamingSettings(config: StackConfig): S3StreamingConfig {
  return config.storage.s3Streaming ?? strategyDefaults.s3Streaming();
}

/**
 * How the streamer reads a model, from the server's CPUs (BENCHMARKS.md section 3): on loopback,
 * where the streamer, the kernel and the S3 server share the CPUs, 2 readers per core were fastest
 * and more only added system time; a remote store wants bytes in flight instead, so the chunk grows
 * as the readers shrink, keeping IN_FLIGHT_MIB requested at once (16 × 8 MiB, the earlier default).
 */
export const IN_FLIGHT_MIB = 128;

export interface StreamerReads {
  readonly concurrency: number;
  readonly chunkBytes: number;
}

export function streamerReads(settings: S3StreamingConfig, model: ModelConfig): StreamerReads {
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const concurrency = settings.concurrency ?? clamp(Math.ceil(2 * cpuCores(serverCpu(model))), 4, 64);
  const chunkMiB = settings.chunkSizeMiB ?? clamp(Math.round(IN_FLIGHT_MIB / concurrency), 8, 64);
  return { concurrency, chunkBytes: chunkMiB * 2 ** 20 };
}

/** The engine's streamer settings besides the reader's credentials (the bucket's Secret gives those). */
export function streamerEnv(settings: S3StreamingConfig, pathStyle: boolean, reads: StreamerReads): { name: string; value: string }[] {
  return [
    { name: "RUNAI_STREAMER_CHUNK_BYTESIZE", value: String(reads.chunkBytes) },
    // R2 and MinIO need path-style requests; never ask the EC2 metadata service for credentials.
    { name: "RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING", value: pathStyle ? "0" : "1" },
    { name: "AWS_EC2_METADATA_DISABLED", value: "true" },
    // The streamer's S3 client settings (runai-model-streamer's s3 client config, 0.15.7 and later).
    { name: "RUNAI_STREAMER_S3_REQUEST_TIMEOUT_MS", value: String(settings.requestTimeoutMs) },
    ...(settings.maxConnections ? [{ name: "RUNAI_STREAMER_S3_MAX_CONNECTIONS", value: String(settings.maxConnections) }] : []),
  ];
}

export class S3StreamingModelCache extends ModelCache {
  public readonly plan: ModelCachePlan;

  constructor(name: string, args: ModelCacheArgs, settings: S3StreamingConfig, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:storage:S3StreamingModelCache", name, {}, opts);
    const { store, model } = args;
    const readerEnv = s3EnvFromSecret(store.readerSecretName);
    const uri = pulumi.interpolate`s3://${store.bucket}/${modelPrefix(model)}`;
    const reads = streamerReads(settings, model);
    this.plan = {
      source: { kind: "s3", uri, concurrency: reads.concurrency, memoryLimitBytes: settings.memoryLimitBytes },
      loadingPath: `Run:ai streamer from s3://${args.model.huggingFace}@${args.model.revision} in the bucket (concurrency ${reads.concurrency}, ${reads.chunkBytes / 2 ** 20} MiB requests)`,
      volumes: [],
      volumeMounts: [],
      volumeClaimTemplates: [],
      // Every object of the manifest present, with its size and stored SHA-256, before the engine streams.
      initContainers: [
        {
          name: "verify-objects",
          image: args.cluster.pythonImage,
          command: runScript(VERIFY_STREAMED),
          env: [
            { name: "BUCKET", value: store.bucket },
            { name: "PREFIX", value: modelPrefix(model) },
            { name: "S3_PATH_STYLE", value: store.pathStyle ? "1" : "0" },
            // Without Pulumi's ordering the server may start before the mirror is done: wait for it, bounded.
            { name: "MANIFEST_WAIT_SECONDS", value: String(mirrorBudgetSeconds(model)) },
            ...readerEnv,
          ],
          resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "256Mi" } },
          securityContext: restrictedContainerSecurity(),
        },
      ],
      env: [...readerEnv, ...streamerEnv(settings, store.pathStyle, reads)],
      nodeSelector: {},
      spreadable: true,
      fillAt: "job",
      // bench:load: the streamer reached 0.49× the warm-cache load on loopback (0.51 vs 1.03 GiB/s),
      // which would be ~740 MiB/s against hostPath's 1500; 300 leaves room for a remote store's network.
      bandwidth: { fillMiBps: 0, serveMiBps: 300, warmMiBps: 300 },
      dependsOn: [...store.ready, ...(args.mirror ? [args.mirror] : [])],
      kvCache: args.needsKvCacheDir ? nodeLocalKvCache(model) : undefined,
    };
    this.registerOutputs({ uri });
  }
}

/**
 * The default SGLang image lacks the streamer's S3 backend: lmsysorg/sglang installs sglang[all],
 * whose 0.5.23 extras pull runai_model_streamer only through `diffusion`, without [s3] (the `runai`
 * extra has it). Such a model needs an image that adds it.
 */
export const SGLANG_STREAMER_IMAGE_HINT =
  'an image built FROM lmsysorg/sglang:v0.5.23 with `pip install "sglang[runai]==0.5.23"` (runai-model-streamer[s3])';

export const s3StreamingStrategy: StorageStrategy<S3StreamingConfig> = {
  name: "s3Streaming",
  validate: (config) => [
    ...nodeLocalKvCacheIssues(config),
    ...config.models.flatMap((m, i) =>
      m.engine === "sglang" && m.image === undefined
        ? [
            {
              path: ["models", i, "image"],
              message: `is required for engine sglang with storage.strategy s3Streaming: the default ${SGLANG_IMAGE} has no S3 backend for the Run:ai streamer (sglang[all] installs runai_model_streamer without [s3]); use ${SGLANG_STREAMER_IMAGE_HINT}`,
            },
          ]
        : [],
    ),
  ],
  createShared: ({ config }) => s3StreamingSettings(config),
  createModelCache: (name, args, settings, opts) => new S3StreamingModelCache(name, args, settings, opts),
};
