/**
 * Runs the real program (config parsing + LlmServing) under Pulumi mocks for a given raw config and
 * returns every registered resource: type, name, resolved inputs, raw inputs (to check secrets),
 * parent and resource options.
 */
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { loadStackConfig } from "../components/stackConfig";
import { LlmServing } from "../components/llmServing";

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  /** Inputs as the engine receives them (Outputs resolved). */
  readonly inputs: Record<string, any>;
  /** Inputs as the program passed them (Outputs kept, for pulumi.isSecret checks). */
  readonly props: Record<string, any>;
  /** `type::name` of the parent resource. */
  readonly parent?: string;
  readonly opts: pulumi.CustomResourceOptions & pulumi.ComponentResourceOptions;
}

export interface ProgramRun {
  readonly resources: RecordedResource[];
  readonly serving: LlmServing;
  byType(type: string): RecordedResource[];
  one(type: string, name: string): RecordedResource;
}

/** An SGLang image with the Run:ai streamer's S3 backend, as s3Streaming × sglang requires (see SGLANG_STREAMER_IMAGE_HINT). */
export const SGLANG_RUNAI_IMAGE = "registry.example.com/sglang-runai:v0.5.23";

/** The GPU nodes' label the tests place models by (fluid requires a selector: its cache workers follow it). */
export const GPU_NODES = { "nvidia.com/gpu.present": "true" };

/** The `kubernetes` block a strategy needs beyond the namespace. */
export function kubernetesFor(strategy: string, namespace = "llm"): Record<string, unknown> {
  return strategy === "fluid" ? { namespace, nodeSelector: GPU_NODES } : { namespace };
}

/** The image a model needs on a strategy: SGLang streaming from S3 needs one with the streamer's S3 backend. */
export function imageFor(strategy: string, engine: string): Record<string, string> {
  return strategy === "s3Streaming" && engine === "sglang" ? { image: SGLANG_RUNAI_IMAGE } : {};
}

/** The API server a preview kubeconfig names in mock runs (the CLI's comes from the deploying kubeconfig). */
export const TEST_API_SERVER = "https://k8s.test.example:6443";

/** Mock outputs that providers compute (ids, token values, generated passwords). */
function mockState(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  switch (type) {
    case "kubernetes:core/v1:Secret":
      // The token controller's answer to a ServiceAccount token Secret.
      return inputs.type === "kubernetes.io/service-account-token"
        ? {
            ...inputs,
            data: { token: Buffer.from(`sa-token-${name}`).toString("base64"), "ca.crt": Buffer.from("TEST CA").toString("base64") },
          }
        : inputs;
    case "cloudflare:index/apiToken:ApiToken":
      return { ...inputs, value: `token-value-${name}` };
    case "random:index/randomPassword:RandomPassword":
      return { ...inputs, result: `generated-${name}` };
    case "aws:iam/accessKey:AccessKey":
      return { ...inputs, secret: `aws-secret-${name}` };
    case "aws:s3/bucket:Bucket":
      return { ...inputs, arn: `arn:aws:s3:::${inputs.bucket}` };
    default:
      if (type.startsWith("kubernetes:") && inputs.metadata && !inputs.metadata.name) {
        return { ...inputs, metadata: { ...inputs.metadata, name: `${name}-generated` } };
      }
      return inputs;
  }
}

/** Pulumi config map for a raw namespace object (structured values as JSON strings). */
export function toPulumiConfig(raw: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [`llm-serving:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
}

export interface RunOptions {
  /** Run as `pulumi preview` (true, the default: provider outputs unknown) or as `pulumi up`. */
  readonly preview?: boolean;
}

export async function runProgram(raw: Record<string, unknown>, secretKeys: string[] = [], options: RunOptions = {}): Promise<ProgramRun> {
  const inputs = new Map<string, Record<string, any>>();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        inputs.set(`${args.type}::${args.name}`, args.inputs);
        // Like the AWS provider, an S3 bucket's id is its name.
        const id = args.type === "aws:s3/bucket:Bucket" ? args.inputs.bucket : `${args.name}-id`;
        return { id, state: mockState(args.type, args.name, args.inputs) };
      },
      call: (args) => args.inputs,
    },
    "llm-serving",
    "test",
    options.preview ?? true,
  );
  pulumi.runtime.setAllConfig(
    toPulumiConfig(raw),
    secretKeys.map((k) => `llm-serving:${k}`),
  );

  const recorded: Omit<RecordedResource, "inputs">[] = [];
  const keys = new WeakMap<pulumi.Resource, string>();
  const record: pulumi.ResourceTransformation = (args) => {
    keys.set(args.resource, `${args.type}::${args.name}`);
    recorded.push({
      type: args.type,
      name: args.name,
      props: args.props as Record<string, any>,
      opts: args.opts,
      parent: args.opts.parent ? keys.get(args.opts.parent) : undefined,
    });
    return undefined;
  };
  const root = new pulumi.ComponentResource("test:index:Root", "root", {}, { transformations: [record] });
  keys.set(root, "test:index:Root::root");

  const { config, hfToken, juicefsRedisUrl, apiKey, apiKeys } = loadStackConfig();
  const previewServer = config.previewIdentity.enabled ? (config.previewIdentity.server ?? TEST_API_SERVER) : undefined;
  const serving = new LlmServing("llm-serving", { config, hfToken, juicefsRedisUrl, apiKey, apiKeys, previewServer }, { parent: root });
  await new Promise<void>((resolve) => pulumi.all([serving.urn, serving.bucket, serving.endpoint]).apply(() => resolve()));
  // Registrations finish asynchronously; wait until every outstanding RPC has settled.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> }).waitForRPCs();

  const seen = new Set<string>();
  const resources = recorded
    .filter((r) => r.type !== "test:index:Root")
    .map((r) => {
      const key = `${r.type}::${r.name}`;
      if (seen.has(key)) throw new Error(`duplicate resource ${key}`);
      seen.add(key);
      return { ...r, inputs: inputs.get(key) ?? {} };
    });
  return {
    resources,
    serving,
    byType: (type) => resources.filter((r) => r.type === type),
    one(type, name) {
      const found = resources.find((r) => r.type === type && r.name === name);
      if (!found)
        throw new Error(
          `no ${type} named ${name}; have: ${resources
            .filter((r) => r.type === type)
            .map((r) => r.name)
            .join(", ")}`,
        );
      return found;
    },
  };
}

/** Runs the program and expects it to throw before registering anything; returns the error. */
export async function expectConfigError(raw: Record<string, unknown>): Promise<{ error: Error; registered: number }> {
  let registered = 0;
  await pulumi.runtime.setMocks(
    { newResource: (args) => ((registered += 1), { id: args.name, state: args.inputs }), call: (args) => args.inputs },
    "llm-serving",
    "test",
    true,
  );
  pulumi.runtime.setAllConfig(toPulumiConfig(raw));
  try {
    const { config } = loadStackConfig();
    new LlmServing("llm-serving", { config });
  } catch (error) {
    await new Promise((r) => setTimeout(r, 10));
    return { error: error as Error, registered };
  }
  throw new Error("expected a configuration error, but the program ran");
}

/** The `llm-serving:` namespace of a repo stack file, as raw values. */
export function stackFileConfig(stack: string): Record<string, unknown> {
  const doc = parse(readFileSync(join(__dirname, "..", `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
  return Object.fromEntries(
    Object.entries(doc.config)
      .filter(([k]) => k.startsWith("llm-serving:"))
      .map(([k, v]) => [k.slice("llm-serving:".length), v]),
  );
}

/** The secrets docs/environments.md has a user set before `pulumi up` of a repo stack (its file cannot hold them). */
export const REPO_STACK_SECRETS: Record<string, Record<string, string>> = { prod: { apiKey: "prod-api-key-0123456789abcdef" } };

/** A repo stack as `pulumi up` sees it once those secrets are set: its file plus REPO_STACK_SECRETS. */
export function repoStackConfig(stack: string): Record<string, unknown> {
  return { ...stackFileConfig(stack), ...(REPO_STACK_SECRETS[stack] ?? {}) };
}

/** Resolves an Output (or plain value) in tests. */
export function resolve<T>(value: pulumi.Input<T>): Promise<T> {
  return new Promise((res) => pulumi.output(value).apply((v) => res(v as T)));
}

/** Whether an Input is a secret Output. */
export async function isSecret(value: unknown): Promise<boolean> {
  return pulumi.Output.isInstance(value) ? await pulumi.isSecret(value as pulumi.Output<unknown>) : false;
}

/** A minimal valid raw config to mutate in tests. */
export function baseConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    environment: "dev",
    kubernetes: kubernetesFor(String((overrides.storage as { strategy?: string } | undefined)?.strategy ?? "hostPath")),
    objectStore: { provider: "minio", bucket: "llm-models" },
    storage: { strategy: "hostPath" },
    models: [
      {
        name: "small",
        huggingFace: "Qwen/Qwen2.5-0.5B-Instruct",
        revision: "7ae557604adf67be50417f59c2c2f167def9a775",
        engine: "vllm",
        sizeGiB: 1,
      },
    ],
    ...overrides,
  };
}
