/** Policies on which model revision a workload serves. */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { podTemplatesOf } from "./podSpec";

/** Pod-template annotations the program sets on model servers and mirror Jobs. */
export const MODEL_ANNOTATION = "llm-serving.io/model";
export const REVISION_ANNOTATION = "llm-serving.io/model-revision";

export interface PinnedRevisionConfig {
  /** The stack's environment (local, dev, staging, prod). */
  environment: string;
  /** Environments whose models must name a commit. */
  pinnedEnvironments: string[];
}

export const modelsPinnedToCommit: ResourceValidationPolicy = {
  name: "models-pinned-to-commit",
  description: "In pinned environments (prod) every model names a 40-hex Hugging Face commit, not a branch or tag that can move.",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      environment: { type: "string", default: "prod" },
      pinnedEnvironments: { type: "array", items: { type: "string" }, default: ["prod"] },
    },
  },
  validateResource: (args, report) => {
    const config = args.getConfig<PinnedRevisionConfig>();
    if (!config.pinnedEnvironments.includes(config.environment)) return;
    for (const pod of podTemplatesOf(args.type, args.props)) {
      const annotations = pod.metadata.annotations ?? {};
      const revision = annotations[REVISION_ANNOTATION];
      if (revision === undefined || /^[0-9a-f]{40}$/.test(revision)) continue;
      report(
        `${annotations[MODEL_ANNOTATION] ?? "the model"} uses revision "${revision}" in ${config.environment}; set models[].revision to the 40-hex commit sha (the Hub's "Files and versions" page shows it).`,
      );
    }
  },
};
