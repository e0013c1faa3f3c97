/** The whole program as a function: `index.ts` runs it for the CLI, `scripts/local.ts` inline. */
import { loadStackConfig } from "./stackConfig";
import { LlmServing } from "./llmServing";
import { previewServer } from "./previewIdentity";

/** Parses the stack config once, builds the stack and returns the stack outputs. */
export function llmServingProgram() {
  const { config, hfToken, juicefsRedisUrl, apiKey, apiKeys } = loadStackConfig();
  // Before anything is created: a preview identity without a server to name fails here.
  const server = config.previewIdentity.enabled ? previewServer(config.previewIdentity, config.kubernetes.context) : undefined;
  const serving = new LlmServing("llm-serving", { config, hfToken, juicefsRedisUrl, apiKey, apiKeys, previewServer: server });
  return {
    namespace: serving.namespace,
    podSecurityLevel: serving.podSecurityLevel,
    bucket: serving.bucket,
    endpoint: serving.endpoint,
    models: serving.models,
    catalog: serving.catalog,
    skypilot: serving.skypilot,
    monthlyStorageCostUsd: serving.monthlyStorageCostUsd,
    previewKubeconfig: serving.previewKubeconfig,
    cloudflarePreviewToken: serving.cloudflarePreviewToken,
  };
}
