/** The llm-serving policy pack: `pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json`. */
import { PolicyPack } from "@pulumi/policy";
import { llmServingPolicies } from "./policies";

new PolicyPack("llm-serving", { policies: llmServingPolicies });
