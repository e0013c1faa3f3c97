/** The loading path for models with `mirror: false`: the engine downloads from Hugging Face itself. */
import { ModelConfig } from "../config/schema";
import { ModelCachePlan } from "../storage/strategy";
import { EngineModelSource } from "../engines/engine";
import { HUB_TRANSFER_ENV, hubEndpointEnv } from "../hub";

/** A plan with no storage: weights land in the pod's cache emptyDir on every cold start. */
export function directFromHubPlan(
  model: ModelConfig,
  hubEndpoint?: string,
): Omit<ModelCachePlan, "source"> & { source: EngineModelSource } {
  return {
    source: { kind: "huggingFace", repo: model.huggingFace, revision: model.revision },
    loadingPath: `Hugging Face ${model.huggingFace}@${model.revision} (not mirrored; downloaded by the engine)`,
    volumes: [],
    volumeMounts: [],
    volumeClaimTemplates: [],
    initContainers: [],
    env: [...HUB_TRANSFER_ENV, ...hubEndpointEnv(hubEndpoint)],
    nodeSelector: {},
    spreadable: true,
    fillAt: "engine",
    // Hub downloads are the slow part; nothing persists across pod restarts.
    bandwidth: { fillMiBps: 100, serveMiBps: 1500, warmMiBps: 100 },
    dependsOn: [],
  };
}
