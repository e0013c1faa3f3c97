/**
 * The stack config, parsed ONCE into a typed StackConfig before anything is created: the config's
 * own rules (`config/`), then those of the chosen storage strategy, of each model's engine and of
 * its server's memory; one ConfigError lists every bad key path, what was found and what is allowed.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, ConfigIssue, CONFIG_NAMESPACE, describe } from "./config/issues";
import { LoadedConfig, rawNamespaceConfig } from "./config/load";
import { quantityGiB, readStackConfig, withImageRegistry } from "./config/parse";
import { StackConfig } from "./config/schema";
import { dynamoIssues } from "./engines/dynamo";
import { engineFor } from "./engines/registry";
import { multiNodeIssues } from "./serving/multiNode";
import { hicacheHostGiB, minimumMemoryGiB, RUNTIME_GIB, shmSizeGiB } from "./serving/memory";
import { strategies } from "./storage/registry";

export function parseStackConfig(raw: unknown): StackConfig {
  const { config, issues } = readStackConfig(raw);
  issues.push(...strategies[config.storage.strategy].validate(config));
  for (const [i, m] of config.models.entries()) {
    const at = (issue: ConfigIssue) => ({ ...issue, path: ["models", i, ...issue.path] });
    issues.push(
      ...engineImageIssues(config, i),
      ...serverMemoryIssues(config, i),
      ...dynamoIssues(config, i),
      ...multiNodeIssues(config, i),
      ...engineFor(m).validate(m).map(at),
    );
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return withImageRegistry(config);
}

/** Reads every `llm-serving:*` key of the running stack and parses it once; the secrets stay Pulumi secrets. */
export function loadStackConfig(): LoadedConfig {
  const config = parseStackConfig(rawNamespaceConfig());
  const pulumiConfig = new pulumi.Config(CONFIG_NAMESPACE);
  return {
    config,
    hfToken: pulumiConfig.getSecret("hfToken"),
    juicefsRedisUrl: pulumiConfig.getSecret("juicefsRedisUrl"),
    apiKey: pulumiConfig.getSecret("apiKey"),
    apiKeys: pulumiConfig.getSecretObject<Record<string, string>>("apiKeys"),
  };
}

/** A model on CUDA 12 nodes needs an image of its own where its engine publishes no CUDA 12 build. */
function engineImageIssues(config: StackConfig, i: number): ConfigIssue[] {
  const m = config.models[i];
  const engine = engineFor(m);
  if (config.kubernetes.cudaVersion !== 12 || m.image || engine.cuda12Image) return [];
  return [
    {
      path: ["models", i, "image"],
      message: `is required for engine ${m.engine} with kubernetes.cudaVersion 12: ${m.engine} publishes no CUDA 12 image of ${engine.defaultImage}${m.engine === "sglang" ? " (lmsysorg/sglang:v0.5.19-cu129 was its last)" : ""}; set an image built for CUDA 12, or kubernetes.cudaVersion 13 on nodes with NVIDIA driver R580 or newer`,
    },
  ];
}

/** `models[].memory` below what the server needs (runtime, /dev/shm, SGLang HiCache's host pool). */
function serverMemoryIssues(config: StackConfig, i: number): ConfigIssue[] {
  const m = config.models[i];
  if (m.memory === undefined || quantityGiB(m.memory) >= minimumMemoryGiB(m)) return [];
  const host = hicacheHostGiB(m);
  const needs = `${RUNTIME_GIB}Gi runtime + ${shmSizeGiB(m.gpus)}Gi /dev/shm`;
  return [
    {
      path: ["models", i, "memory"],
      message: host
        ? `found ${describe(m.memory)} but SGLang HiCache's host pool needs ${host}Gi (${m.gpus} rank(s), see sglang.hicache) + ${needs}; expected at least ${minimumMemoryGiB(m)}Gi, or a smaller sglang.hicache.ratio / sizeGiB`
        : `found ${describe(m.memory)} but the server needs ${needs}; expected at least ${minimumMemoryGiB(m)}Gi`,
    },
  ];
}
