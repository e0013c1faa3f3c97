/**
 * Every container of every pod of every test stack, read as the kubelet reads it: its `$(VAR)`
 * expansion of command, args and env values changes only intended references to variables the
 * container defines, and no argv carries a credential (by reference or by value). And every container
 * explains its failure: the end of its log becomes its termination message, which Pulumi's await
 * errors and `kubectl describe` show (a real node's crash-looping server said only "exit code 2").
 */
import { describe, expect, it } from "vitest";
import { expand, mappingFuncFor } from "./kubeletExpansion";
import { RecordedResource, runProgram } from "./harness";
import { TEST_STACKS } from "./testStacks";

interface ContainerSpec {
  name: string;
  terminationMessagePolicy?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: unknown } }[];
  envFrom?: { prefix?: string; secretRef?: { name: string }; configMapRef?: { name: string } }[];
}
interface PodSpec {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
}

/** Every pod spec in a resource's inputs (Deployments, StatefulSets, Jobs, DaemonSets, and pod templates inside custom resources). */
function podSpecs(value: unknown, path: string, found: [string, PodSpec][] = []): [string, PodSpec][] {
  if (Array.isArray(value)) value.forEach((v, i) => podSpecs(v, `${path}[${i}]`, found));
  else if (value && typeof value === "object") {
    const object = value as Record<string, unknown>;
    if (Array.isArray(object.containers)) found.push([path, object as unknown as PodSpec]);
    for (const [key, v] of Object.entries(object)) podSpecs(v, `${path}.${key}`, found);
  }
  return found;
}

/** Keys of a Secret or ConfigMap the program creates, by its Kubernetes name. */
function keysOf(resources: RecordedResource[], kind: "Secret" | "ConfigMap", name: string): string[] {
  const object = resources.find((r) => r.type === `kubernetes:core/v1:${kind}` && r.inputs.metadata?.name === name);
  if (!object) throw new Error(`envFrom names ${kind} ${name}, which the program does not create`);
  return Object.keys({ ...(object.inputs.data ?? {}), ...(object.inputs.stringData ?? {}) });
}

/** The container's variables as the kubelet defines them (envFrom first, env over it), and those a Secret backs. */
function variables(container: ContainerSpec, resources: RecordedResource[]): { defined: Map<string, string>; secret: Set<string> } {
  const defined = new Map<string, string>();
  const secret = new Set<string>();
  for (const source of container.envFrom ?? []) {
    const kind = source.secretRef ? "Secret" : "ConfigMap";
    for (const key of keysOf(resources, kind, (source.secretRef ?? source.configMapRef)!.name)) {
      const name = `${source.prefix ?? ""}${key}`;
      defined.set(name, `<${kind} ${name}>`);
      if (kind === "Secret") secret.add(name);
    }
  }
  for (const env of container.env ?? []) {
    // The kubelet expands an env value with the variables defined before it.
    defined.set(env.name, env.value !== undefined ? expand(env.value, mappingFuncFor(new Map(defined))) : `<from ${env.name}>`);
    if (env.valueFrom?.secretKeyRef) secret.add(env.name);
    else secret.delete(env.name);
  }
  return { defined, secret };
}

/** What the program means: exactly the `$(NAME)` references to defined names replaced, nothing else touched. */
function intended(text: string, defined: Map<string, string>): string {
  return text.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (reference, name: string) => defined.get(name) ?? reference);
}

/** Every string value of every Secret the program creates (long enough to be a credential). */
function secretValues(resources: RecordedResource[]): string[] {
  return resources
    .filter((r) => r.type === "kubernetes:core/v1:Secret")
    .flatMap((r) => [
      ...Object.values((r.inputs.stringData ?? {}) as Record<string, string>),
      ...Object.values((r.inputs.data ?? {}) as Record<string, string>).map((v) => Buffer.from(v, "base64").toString()),
    ])
    .filter((v) => typeof v === "string" && v.length >= 8);
}

describe.each(TEST_STACKS)("$name", ({ raw, secretKeys }) => {
  it("every command, args and env value means the same after the kubelet's $(VAR) expansion; no credential in argv", async () => {
    const run = await runProgram(raw, secretKeys, { preview: false });
    const values = secretValues(run.resources);
    let containers = 0;
    for (const resource of run.resources) {
      for (const [path, pod] of podSpecs(resource.inputs, `${resource.type}::${resource.name}`)) {
        for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
          containers += 1;
          const where = `${path}/${container.name}`;
          const { defined, secret } = variables(container, run.resources);
          const mapping = mappingFuncFor(defined);
          for (const text of [...(container.command ?? []), ...(container.args ?? [])]) {
            expect(expand(text, mapping), `${where}: the kubelet changes ${JSON.stringify(text.slice(0, 120))}`).toBe(
              intended(text, defined),
            );
            for (const [, name] of text.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
              expect(secret.has(name), `${where}: argv references ${name}, which a Secret backs`).toBe(false);
            }
            for (const value of values) expect(text.includes(value), `${where}: argv contains a Secret's value`).toBe(false);
          }
          for (const env of container.env ?? []) {
            if (env.value === undefined) continue;
            expect(expand(env.value, mappingFuncFor(defined)), `${where}: env ${env.name}`).toBe(intended(env.value, defined));
          }
        }
      }
    }
    expect(containers).toBeGreaterThan(2);
  });

  it("every container reports the end of its log when it fails (terminationMessagePolicy)", async () => {
    const run = await runProgram(raw, secretKeys, { preview: false });
    const silent = run.resources.flatMap((resource) =>
      podSpecs(resource.inputs, `${resource.type}::${resource.name}`).flatMap(([path, pod]) =>
        [...(pod.initContainers ?? []), ...pod.containers]
          .filter((c) => c.terminationMessagePolicy !== "FallbackToLogsOnError")
          .map((c) => `${path}/${c.name}`),
      ),
    );
    expect(silent).toEqual([]);
  });
});
