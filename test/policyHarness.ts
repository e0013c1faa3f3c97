/**
 * Runs policies the way the policy SDK does, without an engine: builds the validation args for a
 * resource (or a stack), applies the policy's config defaults and the pack config, collects reports.
 */
import type {
  Policies,
  Policy,
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RecordedResource } from "./harness";

export interface TestResource {
  readonly type: string;
  readonly props: Record<string, any>;
  readonly name?: string;
  readonly protect?: boolean;
}

export interface Violation {
  readonly policy: string;
  readonly level: string;
  readonly resource?: string;
  readonly message: string;
}

/** A pack config file as `pulumi preview --policy-pack-config` reads it. */
export type PackConfig = Record<string, string | ({ enforcementLevel?: string } & Record<string, unknown>)>;

export function packConfigFile(stack: string): PackConfig {
  return JSON.parse(readFileSync(join(__dirname, "..", "policies", "config", `${stack}.json`), "utf8")) as PackConfig;
}

/** The policy's config: schema defaults overlaid with the pack config's entry and overrides. */
export function policyConfig(policy: Policy, pack: PackConfig = {}, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const defaults = Object.fromEntries(
    Object.entries(policy.configSchema?.properties ?? {}).map(([k, v]) => [k, (v as { default?: unknown }).default]),
  );
  const entry = pack[policy.name];
  const fromPack = typeof entry === "object" ? Object.fromEntries(Object.entries(entry).filter(([k]) => k !== "enforcementLevel")) : {};
  return { ...defaults, ...fromPack, ...overrides };
}

/** Effective enforcement level: the policy's entry, else `all`, else the policy's own. */
export function enforcementLevel(policy: Policy, pack: PackConfig = {}): string {
  const entry = pack[policy.name];
  if (typeof entry === "string") return entry;
  if (entry?.enforcementLevel) return entry.enforcementLevel;
  return typeof pack.all === "string" ? pack.all : (policy.enforcementLevel ?? "advisory");
}

const urnOf = (r: TestResource) => `urn:pulumi:test::llm-serving::${r.type}::${r.name ?? "r"}`;

const optionsOf = (r: TestResource) => ({
  protect: r.protect ?? false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
});

function policyResource(r: TestResource): PolicyResource {
  return {
    type: r.type,
    props: r.props,
    urn: urnOf(r),
    name: r.name ?? "r",
    opts: optionsOf(r),
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
  };
}

function notApplicable(): never {
  throw new NotApplicable();
}
class NotApplicable extends Error {}

/** Reports of one resource policy for one resource. */
export async function validateResource(
  policy: ResourceValidationPolicy,
  resource: TestResource,
  config: Record<string, unknown> = policyConfig(policy),
): Promise<string[]> {
  const messages: string[] = [];
  const args: ResourceValidationArgs = {
    type: resource.type,
    props: resource.props,
    urn: urnOf(resource),
    name: resource.name ?? "r",
    opts: optionsOf(resource),
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => config as T,
    notApplicable,
  };
  const validations = [policy.validateResource ?? []].flat();
  try {
    for (const validate of validations) await validate(args, (message) => messages.push(message));
  } catch (e) {
    if (!(e instanceof NotApplicable)) throw e;
  }
  return messages;
}

/** Reports of one stack policy over a set of resources. */
export async function validateStack(
  policy: StackValidationPolicy,
  resources: TestResource[],
  config: Record<string, unknown> = policyConfig(policy),
): Promise<Array<{ message: string; urn?: string }>> {
  const reports: Array<{ message: string; urn?: string }> = [];
  const args: StackValidationArgs = {
    resources: resources.map(policyResource),
    stackTags: new Map(),
    getConfig: <T extends object>() => config as T,
    notApplicable,
  };
  try {
    await policy.validateStack(args, (message, urn) => reports.push({ message, urn }));
  } catch (e) {
    if (!(e instanceof NotApplicable)) throw e;
  }
  return reports;
}

/** Every policy of a pack over every resource, with the pack config's levels; disabled policies skipped. */
export async function runPack(policies: Policies, resources: TestResource[], pack: PackConfig = {}): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const policy of policies) {
    const level = enforcementLevel(policy, pack);
    if (level === "disabled") continue;
    const config = policyConfig(policy, pack);
    if ("validateStack" in policy) {
      for (const r of await validateStack(policy, resources, config))
        violations.push({ policy: policy.name, level, resource: r.urn, message: r.message });
    } else {
      for (const resource of resources) {
        for (const message of await validateResource(policy, resource, config))
          violations.push({ policy: policy.name, level, resource: urnOf(resource), message });
      }
    }
  }
  return violations;
}

/** The program's recorded custom resources as the policy engine sees them (inputs during preview). */
export function fromProgram(resources: RecordedResource[]): TestResource[] {
  return resources
    .filter((r) => !r.type.startsWith("llm-serving:") && !r.type.startsWith("pulumi:providers:"))
    .map((r) => ({ type: r.type, name: r.name, props: r.inputs, protect: r.opts.protect === true }));
}
