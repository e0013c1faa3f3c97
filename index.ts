// Thin wiring: the stack outputs of the program, for `pulumi up` / `preview`.
import { llmServingProgram } from "./components/program";

export const {
  namespace,
  podSecurityLevel,
  bucket,
  endpoint,
  models,
  catalog,
  skypilot,
  monthlyStorageCostUsd,
  previewKubeconfig,
  cloudflarePreviewToken,
} = llmServingProgram();
