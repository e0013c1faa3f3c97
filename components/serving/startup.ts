/**
 * Start-time model, shared by the startup probe, Pulumi's await timeout and the outputs.
 *
 *   load    = sizeGiB * 1024 / serveMiBps            (engine reading weights, cold node; a group
 *                                                     splitting the model across N nodes: its share, / N)
 *   fill    = sizeGiB * 1024 / fillMiBps             (preload/DataLoad/first copy; 0 when streaming)
 *   probed  = load + warmup, plus fill when the engine container downloads itself (mirror: false)
 *   budget  = ceil(2 * probed), at least 300 s       (startupProbe: never kill a loading pod)
 *   cold    = fill + load + warmup,  warm = sizeGiB * 1024 / warmMiBps + warmup
 *   await   = fill (in an init container) + budget + pull (scheduling and the image pull, 300 s)
 *
 * `models[].startup.bandwidthMiBps` overrides serveMiBps; `budgetSeconds` overrides the budget;
 * `warmupSeconds` overrides the engine's warm-up; `pullSeconds` the scheduling and pull margin.
 */
import { ModelConfig } from "../config/schema";
import { Bandwidth, FillAt } from "../storage/strategy";
import { weightShards } from "./memory";

export const PROBE_PERIOD_SECONDS = 10;
export const MIN_BUDGET_SECONDS = 300;
/** Scheduling and pulling an engine image (10+ GB) before the startup budget starts. */
export const DEFAULT_PULL_SECONDS = 300;

export interface StartupEstimate {
  readonly loadSeconds: number;
  readonly warmupSeconds: number;
  /** What the startup probe waits through: load + warm-up, plus the download when the engine does it. */
  readonly probedSeconds: number;
  /** startupProbe budget = periodSeconds * failureThreshold. */
  readonly budgetSeconds: number;
  readonly failureThreshold: number;
  readonly coldStartSeconds: number;
  readonly warmStartSeconds: number;
  /** Pulumi customTimeouts for the workload. */
  readonly awaitSeconds: number;
}

export function estimateStartup(model: ModelConfig, bandwidth: Bandwidth, engineWarmupSeconds: number, fillAt: FillAt): StartupEstimate {
  const mib = model.sizeGiB * 1024;
  const warmupSeconds = model.startup.warmupSeconds ?? engineWarmupSeconds;
  const serve = model.startup.bandwidthMiBps ?? bandwidth.serveMiBps;
  // A group splitting the model (pipeline or tensor parallel across nodes): each member loads its share, in parallel.
  const loadSeconds = Math.ceil(mib / weightShards(model) / serve);
  const fillSeconds = bandwidth.fillMiBps > 0 ? Math.ceil(mib / bandwidth.fillMiBps) : 0;
  const probedSeconds = (fillAt === "engine" ? fillSeconds : 0) + loadSeconds + warmupSeconds;
  const computed = Math.max(MIN_BUDGET_SECONDS, Math.ceil(2 * probedSeconds));
  const requested = model.startup.budgetSeconds ?? computed;
  const failureThreshold = Math.ceil(requested / PROBE_PERIOD_SECONDS);
  const budgetSeconds = failureThreshold * PROBE_PERIOD_SECONDS;
  return {
    loadSeconds,
    warmupSeconds,
    probedSeconds,
    budgetSeconds,
    failureThreshold,
    coldStartSeconds: fillSeconds + loadSeconds + warmupSeconds,
    warmStartSeconds: Math.ceil(mib / weightShards(model) / bandwidth.warmMiBps) + warmupSeconds,
    awaitSeconds: (fillAt === "initContainer" ? fillSeconds : 0) + budgetSeconds + (model.startup.pullSeconds ?? DEFAULT_PULL_SECONDS),
  };
}
