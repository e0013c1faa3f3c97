/** One line per engine: adding one touches a new file and this map. */
import { ModelConfig } from "../config/schema";
import { dynamoEngines } from "./dynamo";
import { InferenceEngine } from "./engine";
import { sglangEngine } from "./sglang";
import { vllmEngine } from "./vllm";

/** The engine of a model; Dynamo's depends on the backend its workers run. */
export function engineFor(model: ModelConfig): InferenceEngine {
  if (model.engine === "dynamo") return dynamoEngines[model.dynamo?.backend ?? "vllm"];
  return model.engine === "sglang" ? sglangEngine : vllmEngine;
}
