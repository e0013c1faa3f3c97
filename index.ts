// Thin wiring: parse the stack config once, build the stack, export what users need.
import { loadStackConfig } from "./components/config/load";
import { LlmServing } from "./components/llmServing";

const { config, hfToken, juicefsRedisUrl } = loadStackConfig();
const serving = new LlmServing("llm-serving", { config, hfToken, juicefsRedisUrl });

export const namespace = serving.namespace;
export const bucket = serving.bucket;
export const endpoint = serving.endpoint;
export const models = serving.models;
export const catalog = serving.catalog;
export const monthlyStorageCostUsd = serving.monthlyStorageCostUsd;
