/**
 * One ServedModel per model: everything a model owns (mirror, cache, API key Secret, server and
 * what hangs off it) is under `llm-serving:index:ServedModel::<model>`, and what the stack shares is
 * not (but the NetworkPolicies and Observability components, which keep one concern's objects
 * of every model together); the moved children carry the alias of their old parent, so existing stacks replace nothing
 * (the engine suite's upgrade test applies it: test/integration/engine.test.ts).
 */
import { describe, expect, it } from "vitest";
import { RecordedResource, runProgram } from "./harness";
import { TEST_STACKS } from "./testStacks";

const SERVED_MODEL = "llm-serving:index:ServedModel";
/** Stack-wide components that hold per-model objects of one concern: a model's ingress policy, its PodMonitor. */
const PER_CONCERN = ["llm-serving:network:NetworkPolicies::", "llm-serving:observability:Observability::"];

/** The `type::name` keys from a resource up to the root. */
function ancestry(resource: RecordedResource, byKey: Map<string, RecordedResource>): string[] {
  const chain: string[] = [];
  for (let parent = resource.parent; parent; parent = byKey.get(parent)?.parent) chain.push(parent);
  return chain;
}

/** The model a resource's Pulumi name belongs to (`<model>` or `<model>-…`), if any. */
function owner(name: string, models: string[]): string | undefined {
  return models.find((m) => name === m || name.startsWith(`${m}-`));
}

describe.each(TEST_STACKS.filter((s) => s.name.includes(" × minio") || s.name.startsWith("Pulumi.")))("ServedModel: %s", (stack) => {
  it("groups each model's resources under its own ServedModel, and nothing of the stack's", async () => {
    const run = await runProgram(stack.raw, stack.secretKeys);
    const byKey = new Map(run.resources.map((r) => [`${r.type}::${r.name}`, r]));
    const models = (stack.raw.models as Array<{ name: string }>).map((m) => m.name);
    const served = run.byType(SERVED_MODEL);
    expect(served.map((r) => r.name).sort()).toEqual([...models].sort());
    for (const r of served) expect(r.parent).toBe("llm-serving:index:LlmServing::llm-serving");

    const misplaced: string[] = [];
    for (const r of run.resources) {
      if (r.type === SERVED_MODEL || r.type.startsWith("pulumi:providers:")) continue;
      const chain = ancestry(r, byKey);
      if (chain.some((k) => PER_CONCERN.some((c) => k.startsWith(c)))) continue;
      const under = chain.find((k) => k.startsWith(`${SERVED_MODEL}::`));
      const expected = owner(r.name, models);
      // Stack-wide objects named after no model: the namespace, the store, shared storage, policies.
      if (under !== (expected ? `${SERVED_MODEL}::${expected}` : undefined))
        misplaced.push(`${r.type}::${r.name} under ${under ?? "the stack"}`);
    }
    expect(misplaced).toEqual([]);
  });

  it("gives each direct child of a ServedModel the alias of its old parent, the stack component", async () => {
    const run = await runProgram(stack.raw, stack.secretKeys);
    const children = run.resources.filter((r) => r.parent?.startsWith(`${SERVED_MODEL}::`));
    expect(children.length).toBeGreaterThanOrEqual(2 * run.byType(SERVED_MODEL).length);
    for (const child of children) {
      const aliases = (child.opts.aliases ?? []) as Array<{ parent?: { urn: unknown } }>;
      expect(aliases.length, `${child.type}::${child.name}`).toBe(1);
      expect(aliases[0].parent, `${child.type}::${child.name}`).toBe(run.serving);
    }
  });
});
