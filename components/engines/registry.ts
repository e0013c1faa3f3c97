/** One line per engine: adding a 3rd touches a new file and this map. */
import { EngineName } from "../config/schema";
import { InferenceEngine } from "./engine";
import { sglangEngine } from "./sglang";
import { vllmEngine } from "./vllm";

export const engines: Record<EngineName, InferenceEngine> = {
  vllm: vllmEngine,
  sglang: sglangEngine,
};
