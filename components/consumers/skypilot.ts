/**
 * Consumers outside Kubernetes (seed 001): SkyPilot clusters (`sky launch`) that stream a mirrored
 * model straight from the bucket with the pinned vLLM and the Run:ai streamer. The task file holds
 * no credential: it declares the two as SkyPilot secrets, which `sky launch --secret NAME` takes
 * from the caller's environment and redacts in logs.
 */
import * as pulumi from "@pulumi/pulumi";
import { ModelConfig } from "../config/schema";
import { VLLM_IMAGE } from "../engines/vllm";
import { modelPrefix } from "../naming";
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
  /** The streamer's S3 request timeout (`storage.s3Streaming.requestTimeoutMs`). */
  readonly requestTimeoutMs: number;
}

/** The task, as plain data (config → task): SkyPilot's task YAML schema. */
export function skypilotTask(model: ModelConfig, store: SkyPilotStore): Record<string, unknown> {
  const uri = `s3://${store.bucket}/${modelPrefix(model)}`;
  const accelerators = Object.fromEntries(ACCELERATORS.filter(([, gib]) => gib >= model.gpuMemoryGiB).map(([name]) => [name, model.gpus]));
  const flags = [
    `--served-model-name ${model.name}`,
    `--tensor-parallel-size ${model.gpus}`,
    ...(model.maxModelLen ? [`--max-model-len ${model.maxModelLen}`] : []),
    ...(model.gpuMemoryUtilization ? [`--gpu-memory-utilization ${model.gpuMemoryUtilization}`] : []),
  ];
  return {
    name: `llm-serving-${model.name}`,
    resources: { accelerators, ports: PORT },
    envs: {
      MODEL_URI: uri,
      [S3_SECRET_KEYS.endpoint]: store.endpoint,
      [S3_SECRET_KEYS.region]: store.region,
      // R2 and MinIO need path-style requests; never ask a cloud metadata service for credentials.
      RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING: store.pathStyle ? "0" : "1",
      AWS_EC2_METADATA_DISABLED: "true",
      RUNAI_STREAMER_S3_REQUEST_TIMEOUT_MS: String(store.requestTimeoutMs),
    },
    // Values come from `sky launch --secret NAME` (the caller's environment), never from this file.
    secrets: { [S3_SECRET_KEYS.accessKeyId]: null, [S3_SECRET_KEYS.secretAccessKey]: null },
    setup: `pip install "vllm[runai]==${SKYPILOT_VLLM_VERSION}"`,
    run: [`vllm serve "$MODEL_URI" --load-format runai_streamer \\`, `  --host 0.0.0.0 --port ${PORT} ${flags.join(" ")}`, ""].join("\n"),
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

export function skypilotConsumer(model: ModelConfig, store: ModelStore, requestTimeoutMs: number): SkyPilotConsumer {
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
          header + toYaml(skypilotTask(model, { bucket, endpoint, region: store.region, pathStyle: store.pathStyle, requestTimeoutMs })),
      ),
  };
}
