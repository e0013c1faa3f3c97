/**
 * Consumers outside Kubernetes (seed 001): SkyPilot clusters (`sky launch`) that stream a mirrored
 * model straight from the bucket with the pinned vLLM and the Run:ai streamer, exactly as the
 * cluster's s3Streaming pods do: the same object check first (sizes and stored SHA-256s), the same
 * streamer reads and settings. The task file holds no credential: it declares the two as SkyPilot
 * secrets, which `sky launch --secret NAME` takes from the caller's environment and redacts in logs.
 */
import * as pulumi from "@pulumi/pulumi";
import { cpuCores, serverCpu } from "../cluster";
import { ModelConfig, S3StreamingConfig } from "../config/schema";
import { runaiExtraConfig, VLLM_IMAGE } from "../engines/vllm";
import { modelPrefix } from "../naming";
import { VERIFY_STREAMED } from "../scripts";
import { streamerEnv, streamerReads } from "../storage/s3Streaming";
import { ModelStore, S3_SECRET_KEYS } from "../store/modelStore";

/** The vLLM release the cluster's engine pins (`vllm/vllm-openai:v<version>`). */
export const SKYPILOT_VLLM_VERSION = VLLM_IMAGE.split(":v")[1];
const PORT = 8000;

/** GPUs SkyPilot may pick, with their memory (GiB): those with at least `models[].gpuMemoryGiB`. */
const ACCELERATORS: ReadonlyArray<readonly [string, number]> = [
  ["H200", 141],
  ["H100", 80],
  ["A100-80GB", 80],
  ["L40S", 48],
  ["A100", 40],
  ["L4", 24],
];

export interface SkyPilotStore {
  readonly bucket: string;
  readonly endpoint: string;
  readonly region: string;
  readonly pathStyle: boolean;
}

/** The task, as plain data (config → task): SkyPilot's task YAML schema. */
export function skypilotTask(model: ModelConfig, store: SkyPilotStore, streaming: S3StreamingConfig): Record<string, unknown> {
  const uri = `s3://${store.bucket}/${modelPrefix(model)}`;
  const accelerators = Object.fromEntries(ACCELERATORS.filter(([, gib]) => gib >= model.gpuMemoryGiB).map(([name]) => [name, model.gpus]));
  // The VM gets at least the CPUs a server pod requests, so the streamer's reads follow them too.
  const reads = streamerReads(streaming, model);
  const extraConfig = runaiExtraConfig(
    { kind: "s3", uri, concurrency: reads.concurrency, memoryLimitBytes: streaming.memoryLimitBytes },
    model.gpus,
  );
  const flags = [
    `--served-model-name ${model.name}`,
    `--tensor-parallel-size ${model.gpus}`,
    ...(model.maxModelLen ? [`--max-model-len ${model.maxModelLen}`] : []),
    ...(model.gpuMemoryUtilization ? [`--gpu-memory-utilization ${model.gpuMemoryUtilization}`] : []),
  ];
  return {
    name: `llm-serving-${model.name}`,
    resources: { accelerators, cpus: `${Math.ceil(cpuCores(serverCpu(model)))}+`, ports: PORT },
    envs: {
      MODEL_URI: uri,
      // The object check's: the same as the s3Streaming pod's init step.
      BUCKET: store.bucket,
      PREFIX: modelPrefix(model),
      S3_PATH_STYLE: store.pathStyle ? "1" : "0",
      [S3_SECRET_KEYS.endpoint]: store.endpoint,
      [S3_SECRET_KEYS.region]: store.region,
      ...Object.fromEntries(streamerEnv(streaming, store.pathStyle, reads).map((e) => [e.name, e.value])),
    },
    // Values come from `sky launch --secret NAME` (the caller's environment), never from this file.
    secrets: { [S3_SECRET_KEYS.accessKeyId]: null, [S3_SECRET_KEYS.secretAccessKey]: null },
    setup: `pip install "vllm[runai]==${SKYPILOT_VLLM_VERSION}"`,
    // Every object checked against the manifest before vLLM streams a byte (standard-library Python).
    run: [
      `python3 - <<'VERIFY_OBJECTS' || exit 1`,
      VERIFY_STREAMED.text.trimEnd(),
      "VERIFY_OBJECTS",
      `vllm serve "$MODEL_URI" --load-format runai_streamer --model-loader-extra-config '${extraConfig}' \\`,
      `  --host 0.0.0.0 --port ${PORT} ${flags.join(" ")}`,
      "",
    ].join("\n"),
  };
}

/** YAML for the few shapes a task has: maps, strings (multi-line as blocks), numbers, null. */
export function toYaml(value: unknown, indent = ""): string {
  if (value === null || typeof value !== "object") throw new Error("toYaml renders maps only");
  return Object.entries(value as Record<string, unknown>)
    .map(([key, v]) => {
      const name = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key) ? key : JSON.stringify(key);
      if (v !== null && typeof v === "object") return `${indent}${name}:\n${toYaml(v, `${indent}  `)}`;
      if (typeof v === "string" && v.includes("\n")) {
        const body = v
          .replace(/\n$/, "")
          .split("\n")
          .map((line) => `${indent}  ${line}`);
        return `${indent}${name}: |\n${body.join("\n")}\n`;
      }
      return `${indent}${name}: ${v === null ? "null" : JSON.stringify(v)}\n`;
    })
    .join("");
}

/** What a SkyPilot user needs for one model: where it is, how to reach it, who may read it. */
export interface SkyPilotConsumer {
  /** `s3://bucket/models/<org>/<name>/<revision>` */
  readonly uri: pulumi.Output<string>;
  readonly endpoint: pulumi.Output<string>;
  readonly region: string;
  /** The READER credential (secret outputs: `pulumi stack output skypilot --show-secrets`). */
  readonly accessKeyId: pulumi.Output<string>;
  readonly secretAccessKey: pulumi.Output<string>;
  /** The task file: `sky launch -c <name> <file> --secret AWS_ACCESS_KEY_ID --secret AWS_SECRET_ACCESS_KEY`. */
  readonly taskYaml: pulumi.Output<string>;
}

export function skypilotConsumer(model: ModelConfig, store: ModelStore, streaming: S3StreamingConfig): SkyPilotConsumer {
  const header = `# sky launch -c ${model.name} ${model.name}.yaml --secret AWS_ACCESS_KEY_ID --secret AWS_SECRET_ACCESS_KEY\n`;
  return {
    uri: pulumi.interpolate`s3://${store.bucket}/${modelPrefix(model)}`,
    endpoint: store.endpoint,
    region: store.region,
    accessKeyId: pulumi.secret(store.reader.accessKeyId),
    secretAccessKey: pulumi.secret(store.reader.secretAccessKey),
    taskYaml: pulumi
      .all([store.bucket, store.endpoint])
      .apply(
        ([bucket, endpoint]) =>
          header + toYaml(skypilotTask(model, { bucket, endpoint, region: store.region, pathStyle: store.pathStyle }, streaming)),
      ),
  };
}
