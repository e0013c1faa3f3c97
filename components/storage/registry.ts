/** One line per storage strategy: adding a 7th touches a new file and this map. */
import { StrategyName } from "../config/schema";
import { fluidStrategy } from "./fluid";
import { hostPathStrategy } from "./hostPath";
import { juicefsStrategy } from "./juicefs";
import { localPathStrategy } from "./localPath";
import { longhornStrategy } from "./longhorn";
import { s3StreamingStrategy } from "./s3Streaming";
import { StorageStrategy } from "./strategy";

export const strategies: Record<StrategyName, StorageStrategy<never>> = {
  hostPath: hostPathStrategy,
  localPath: localPathStrategy,
  longhorn: longhornStrategy,
  fluid: fluidStrategy,
  juicefs: juicefsStrategy,
  s3Streaming: s3StreamingStrategy,
} as Record<StrategyName, StorageStrategy<never>>;
