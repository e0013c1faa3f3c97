/** The running stack's raw `llm-serving:*` keys (parsed by `../stackConfig.ts`), and what loading them yields. */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE } from "./issues";
import { StackConfig } from "./schema";

/** The typed config plus the secrets, which stay Pulumi secrets end to end. */
export interface LoadedConfig {
  readonly config: StackConfig;
  /** Hugging Face token for gated models (mirror job, direct-from-HF serving). */
  readonly hfToken?: pulumi.Output<string>;
  /** External JuiceFS metadata URL (redis://...), when storage.juicefs.redis.mode is external. */
  readonly juicefsRedisUrl?: pulumi.Output<string>;
  /** The API key of every model server, and per-model keys overriding it. */
  readonly apiKey?: pulumi.Output<string>;
  readonly apiKeys?: pulumi.Output<Record<string, string>>;
}

/** Collects the raw namespace as one object; structured values arrive as JSON strings. */
export function rawNamespaceConfig(all: Record<string, string> = pulumi.runtime.allConfig()): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  const prefix = `${CONFIG_NAMESPACE}:`;
  for (const [key, value] of Object.entries(all)) {
    if (!key.startsWith(prefix)) continue;
    let parsed: unknown = value;
    try {
      parsed = JSON.parse(value);
    } catch {
      // A plain string value (e.g. environment: dev) is not JSON; keep it as is.
    }
    raw[key.slice(prefix.length)] = parsed;
  }
  return raw;
}
