/**
 * Start-time model, shared by the startup probe, Pulumi's await timeout and the outputs.
 *
 *   load    = sizeGiB * 1024 / serveMiBps            (engine reading weights, cold node)
 *   budget  = ceil(2 * (load + warmup)), at least 300 s  (startupProbe: never kill a loading pod)
 *   fill    = sizeGiB * 1024 / fillMiBps             (preload/DataLoad/first copy; 0 when streaming)
 *   cold    = fill + load + warmup,  warm = sizeGiB * 1024 / warmMiBps + warmup
 *   await   = fill (when it happens inside the pod) + budget + 5 min scheduling/image pull margin
 *
 * `models[].startup.bandwidthMiBps` overrides serveMiBps; `budgetSeconds` overrides the budget;
 * `warmupSeconds` overrides the engine's warm-up.
 */
import { ModelConfig } from "../config/schema";
import { Bandwidth } from "../storage/strategy";

export const PROBE_PERIOD_SECONDS = 10;
export const MIN_BUDGET_SECONDS = 300;

export interface StartupEstimate {
  readonly loadSeconds: number;
  readonly warmupSeconds: number;
  /** startupProbe budget = periodSeconds * failureThreshold. */
  readonly budgetSeconds: number;
  readonly failureThreshold: number;
  readonly coldStartSeconds: number;
  readonly warmStartSeconds: number;
  /** Pulumi customTimeouts for the workload. */
  readonly awaitSeconds: number;
}

export function estimateStartup(
  model: ModelConfig,
  bandwidth: Bandwidth,
  engineWarmupSeconds: number,
  fillInPod: boolean,
): StartupEstimate {
  const mib = model.sizeGiB * 1024;
  const warmupSeconds = model.startup.warmupSeconds ?? engineWarmupSeconds;
  const serve = model.startup.bandwidthMiBps ?? bandwidth.serveMiBps;
  const loadSeconds = Math.ceil(mib / serve);
  const computed = Math.max(MIN_BUDGET_SECONDS, Math.ceil(2 * (loadSeconds + warmupSeconds)));
  const requested = model.startup.budgetSeconds ?? computed;
  const failureThreshold = Math.ceil(requested / PROBE_PERIOD_SECONDS);
  const budgetSeconds = failureThreshold * PROBE_PERIOD_SECONDS;
  const fillSeconds = bandwidth.fillMiBps > 0 ? Math.ceil(mib / bandwidth.fillMiBps) : 0;
  return {
    loadSeconds,
    warmupSeconds,
    budgetSeconds,
    failureThreshold,
    coldStartSeconds: fillSeconds + loadSeconds + warmupSeconds,
    warmStartSeconds: Math.ceil(mib / bandwidth.warmMiBps) + warmupSeconds,
    awaitSeconds: (fillInPod ? fillSeconds : 0) + budgetSeconds + 300,
  };
}
