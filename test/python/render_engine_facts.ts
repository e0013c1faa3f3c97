/** Prints, per engine, its pinned version (from the default image), the metric names, the compile-cache env names and the API-key arrangement the program uses, as JSON. */
import { apiKeyConfigFile } from "../../components/engines/engine";
import { sglangEngine } from "../../components/engines/sglang";
import { vllmEngine } from "../../components/engines/vllm";
import { HUB_TRANSFER_ENV } from "../../components/hub";
import { DYNAMO_BACKEND_VERSIONS, DYNAMO_VERSION, dynamoEngines, dynamoFrontendArgs } from "../../components/engines/dynamo";
import { parseStackConfig } from "../../components/stackConfig";

/** A key with the characters a YAML file could mangle. */
const SAMPLE_API_KEY = 'k3y:"quoted" #not-a-comment \\ 0123';

const facts = Object.fromEntries(
  [vllmEngine, sglangEngine].map((e) => [
    e.name,
    {
      version: e.defaultImage.split(":v")[1],
      metrics: e.metrics,
      compileEnv: e.compileCacheEnv("/c").map((v) => v.name),
      // How the server gets its API key: env names, args, and the server-args file the Secret holds.
      apiKey: { env: e.apiKey("s").env.map((v) => v.name), args: e.apiKey("s").args, file: apiKeyConfigFile(SAMPLE_API_KEY) },
    },
  ]),
);
/** A Dynamo model with every option that adds a worker flag, as the config parser makes it. */
function dynamoModel(backend: "vllm" | "sglang") {
  return parseStackConfig({
    environment: "dev",
    objectStore: { provider: "minio", bucket: "llm-models" },
    storage: { strategy: "longhorn" },
    models: [
      {
        name: "graph",
        huggingFace: "Qwen/Qwen2.5-7B-Instruct",
        engine: "dynamo",
        dynamo: { backend, routerMode: "kv" },
        sizeGiB: 16,
        gpus: 2,
        maxModelLen: 8192,
        gpuMemoryUtilization: 0.85,
      },
    ],
  }).models[0];
}

/** Dynamo's worker command lines (from a directory, and streamed from S3 where the backend can) and the frontend's. */
const dynamo = {
  version: DYNAMO_VERSION,
  frontendArgs: dynamoFrontendArgs(dynamoModel("vllm")),
  backends: Object.fromEntries(
    (["vllm", "sglang"] as const).map((backend) => {
      const model = dynamoModel(backend);
      const sources = [
        { kind: "path" as const, path: "/models/Qwen/Qwen2.5-7B-Instruct/main" },
        ...(backend === "vllm"
          ? [{ kind: "s3" as const, uri: "s3://llm-models/models/Qwen/Qwen2.5-7B-Instruct/main", concurrency: 8 }]
          : []),
      ];
      const workerArgs = sources.map((source) => dynamoEngines[backend].launch({ model, source }).args);
      return [backend, { version: DYNAMO_BACKEND_VERSIONS[backend], workerArgs }];
    }),
  ),
  metrics: dynamoEngines.vllm.metrics,
};

/** A group's command lines (models[].nodes: 2), per engine and mode, for the leader and a worker. */
function groupModel(engine: "vllm" | "sglang", mode: string) {
  return parseStackConfig({
    environment: "dev",
    objectStore: { provider: "minio", bucket: "llm-models" },
    storage: { strategy: "longhorn" },
    models: [{ name: "group", huggingFace: "Qwen/Qwen2.5-7B-Instruct", engine, sizeGiB: 16, gpus: 2, nodes: 2, multiNode: { mode } }],
  }).models[0];
}
const groups = Object.fromEntries(
  [
    ["vllm", "pipeline", vllmEngine],
    ["vllm", "data", vllmEngine],
    ["sglang", "tensor", sglangEngine],
  ].flatMap(([name, mode, engine]) => {
    const model = groupModel(name as "vllm" | "sglang", mode as string);
    const source = { kind: "path" as const, path: "/models/Qwen/Qwen2.5-7B-Instruct/main" };
    const e = engine as typeof vllmEngine;
    return [
      [
        `${name}/${mode}`,
        {
          engine: name,
          leader: e.launch({ model, source, role: "leader" }).args,
          worker: e.launch({ model, source, role: "worker" }).args,
        },
      ],
    ];
  }),
);

process.stdout.write(
  JSON.stringify({ engines: facts, dynamo, groups, hubTransferEnv: HUB_TRANSFER_ENV.map((e) => e.name), sampleApiKey: SAMPLE_API_KEY }),
);
