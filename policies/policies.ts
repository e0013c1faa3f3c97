/** Every policy of the llm-serving pack, importable without creating the PolicyPack (tests use this). */
import type { Policies } from "@pulumi/policy";
import { modelsPinnedToCommit } from "./modelPolicies";
import { bucketsProtected, r2TokensScoped, s3BlockPublicAccess } from "./objectStorePolicies";
import { hostPathOnlyInDev, juicefsRedisDurable, sharedClaimsAreMany } from "./storagePolicies";
import {
  containerResources,
  gpuLimitsEqualRequests,
  imagesPinned,
  inferenceProbes,
  inferenceRequiresApiKey,
  noLiteralCredentials,
  restrictedContainers,
  servicesInternal,
  tensorParallelShm,
} from "./workloadPolicies";

export const llmServingPolicies: Policies = [
  gpuLimitsEqualRequests,
  imagesPinned,
  noLiteralCredentials,
  hostPathOnlyInDev,
  sharedClaimsAreMany,
  r2TokensScoped,
  bucketsProtected,
  s3BlockPublicAccess,
  inferenceProbes,
  inferenceRequiresApiKey,
  tensorParallelShm,
  juicefsRedisDurable,
  modelsPinnedToCommit,
  restrictedContainers,
  containerResources,
  servicesInternal,
];
