// Thin wiring: the stack outputs of the program, for `pulumi up` / `preview`.
import { llmServingProgram } from "./components/program";

export const { namespace, bucket, endpoint, models, catalog, skypilot, monthlyStorageCostUsd } = llmServingProgram();
