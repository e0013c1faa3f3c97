/**
 * Every stack the pod scans render: the repo's stack files, and each strategy × engine × store with
 * every optional feature that adds containers, env or arguments (API key, compile cache, metrics,
 * HiCache, a `mirror: false` model beside a mirrored one).
 */
import { STORAGE_STRATEGIES } from "../components/config/schema";
import { baseConfig, imageFor, repoStackConfig } from "./harness";

const REV = "7ae557604adf67be50417f59c2c2f167def9a775";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
export const TEST_STORES: Record<string, Record<string, unknown>> = {
  r2: { provider: "r2", bucket: "weights", r2: { accountId: ACCOUNT } },
  s3: { provider: "s3", bucket: "weights", s3: { region: "eu-west-1" } },
  minio: { provider: "minio", bucket: "weights" },
};
/** The API key the feature stacks set; the scans look for it (and every other Secret value) in argv. */
export const TEST_API_KEY = "k3y-0123456789abcdef-shared";

export interface TestStack {
  readonly name: string;
  readonly raw: Record<string, unknown>;
  readonly secretKeys: string[];
}

function featureStack(strategy: string, engine: string, store: string): TestStack {
  const shared = !["hostPath", "localPath"].includes(strategy);
  return {
    name: `${strategy} × ${engine} × ${store}`,
    secretKeys: ["apiKey", "hfToken"],
    raw: baseConfig({
      objectStore: TEST_STORES[store],
      storage: { strategy },
      compileCache: { enabled: true },
      observability: { prometheus: { enabled: true } },
      apiKey: TEST_API_KEY,
      hfToken: "hf_0123456789abcdefghijklmnopqrstuv",
      models: [
        {
          name: "m",
          huggingFace: "Qwen/Qwen2.5-7B-Instruct",
          revision: REV,
          engine,
          sizeGiB: 16,
          ...imageFor(strategy, engine),
          ...(engine === "sglang" && shared ? { sglang: { hicache: { ratio: 2, storageBackend: "file" } } } : {}),
        },
        {
          name: "direct",
          huggingFace: "Qwen/Qwen2.5-0.5B-Instruct",
          revision: REV,
          engine,
          sizeGiB: 1,
          mirror: false,
          // The stack-wide rule asks every SGLang model on s3Streaming for an image with the streamer's S3 backend.
          ...imageFor(strategy, engine),
        },
      ],
    }),
  };
}

/** A Dynamo graph on a strategy, with the features Dynamo takes (no API key: its frontend checks none). */
function dynamoStack(strategy: string, backend: string): TestStack {
  return {
    name: `${strategy} × dynamo/${backend} × minio`,
    secretKeys: ["hfToken"],
    raw: baseConfig({
      objectStore: TEST_STORES.minio,
      storage: { strategy },
      compileCache: { enabled: true },
      observability: { prometheus: { enabled: true } },
      dynamo: { install: { enabled: true } },
      hfToken: "hf_0123456789abcdefghijklmnopqrstuv",
      models: [
        { name: "graph", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: REV, engine: "dynamo", sizeGiB: 16, dynamo: { backend } },
      ],
    }),
  };
}

/** A model on two nodes (a LeaderWorkerSet) on a strategy that can feed a group, with an interconnect resource. */
function groupStack(strategy: string, engine: string): TestStack {
  return {
    name: `${strategy} × ${engine} on 2 nodes × minio`,
    secretKeys: ["apiKey", "hfToken"],
    raw: baseConfig({
      objectStore: TEST_STORES.minio,
      storage: { strategy, ...(strategy === "fluid" ? { fluid: { replicas: 2 } } : {}) },
      compileCache: { enabled: true },
      observability: { prometheus: { enabled: true } },
      lws: { install: { enabled: true } },
      apiKey: TEST_API_KEY,
      hfToken: "hf_0123456789abcdefghijklmnopqrstuv",
      models: [
        {
          name: "group",
          huggingFace: "Qwen/Qwen2.5-7B-Instruct",
          revision: REV,
          engine,
          sizeGiB: 16,
          gpus: 2,
          nodes: 2,
          multiNode: { resources: { "rdma/ib": "1" } },
          ...imageFor(strategy, engine),
        },
      ],
    }),
  };
}

export const TEST_STACKS: TestStack[] = [
  ...["local", "dev", "prod"].map((stack) => ({
    name: `Pulumi.${stack}.yaml`,
    raw: repoStackConfig(stack),
    secretKeys: ["hfToken", "apiKey"],
  })),
  ...STORAGE_STRATEGIES.flatMap((strategy) =>
    ["vllm", "sglang"].flatMap((engine) => Object.keys(TEST_STORES).map((store) => featureStack(strategy, engine, store))),
  ),
  ...STORAGE_STRATEGIES.flatMap((strategy) =>
    ["vllm", "sglang"].filter((b) => !(strategy === "s3Streaming" && b === "sglang")).map((b) => dynamoStack(strategy, b)),
  ),
  ...STORAGE_STRATEGIES.filter((s) => s !== "hostPath").flatMap((strategy) => ["vllm", "sglang"].map((e) => groupStack(strategy, e))),
];
