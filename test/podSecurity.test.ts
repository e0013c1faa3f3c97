/**
 * The namespace's Pod Security labels against the pods the stack renders, read with the Pod Security
 * Standards' own rules (kubernetes.io/docs/concepts/security/pod-security-standards, the checks our
 * pods could trip): the enforced level is the strictest one every rendered pod passes, except where
 * a controller runs its own pods in the namespace (Fluid), which the program knows and says.
 */
import { describe, expect, it } from "vitest";
import { STORAGE_STRATEGIES } from "../components/config/schema";
import { baseConfig, expectConfigError, imageFor, runProgram } from "./harness";

type Level = "restricted" | "baseline" | "privileged";
const REV = "7ae557604adf67be50417f59c2c2f167def9a775";
/** Volume types the restricted profile allows. */
const RESTRICTED_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];
/** Capabilities baseline allows a container to add. */
const BASELINE_CAPABILITIES = [
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
];

/** What in a pod spec breaks `level` (empty: the pod passes it). */
function violations(spec: any, level: Exclude<Level, "privileged">): string[] {
  const found: string[] = [];
  const containers = [...(spec.initContainers ?? []), ...spec.containers];
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) found.push("host namespaces");
  for (const v of spec.volumes ?? []) if (v.hostPath) found.push(`hostPath volume ${v.name}`);
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) found.push(`${c.name}: privileged`);
    for (const cap of sc.capabilities?.add ?? []) if (!BASELINE_CAPABILITIES.includes(cap)) found.push(`${c.name}: adds ${cap}`);
    for (const p of c.ports ?? []) if (p.hostPort) found.push(`${c.name}: hostPort`);
  }
  if (level === "baseline") return found;
  for (const v of spec.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== "name");
    if (!RESTRICTED_VOLUMES.includes(type!)) found.push(`volume ${v.name} of type ${type}`);
  }
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const pod = spec.securityContext ?? {};
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) found.push(`${c.name}: runAsNonRoot not true`);
    if ((sc.runAsUser ?? pod.runAsUser) === 0) found.push(`${c.name}: runAsUser 0`);
    if (sc.allowPrivilegeEscalation !== false) found.push(`${c.name}: allowPrivilegeEscalation not false`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) found.push(`${c.name}: does not drop ALL`);
    if (!["RuntimeDefault", "Localhost"].includes((sc.seccompProfile ?? pod.seccompProfile)?.type))
      found.push(`${c.name}: no seccomp profile`);
  }
  return found;
}

function podSpecs(value: unknown, found: any[] = []): any[] {
  if (Array.isArray(value)) value.forEach((v) => podSpecs(v, found));
  else if (value && typeof value === "object") {
    if (Array.isArray((value as any).containers)) found.push(value);
    Object.values(value).forEach((v) => podSpecs(v, found));
  }
  return found;
}

/** The strictest level every rendered pod passes. */
function strictestPassing(resources: { inputs: unknown }[]): Level {
  const pods = resources.flatMap((r) => podSpecs(r.inputs));
  if (pods.every((p) => violations(p, "restricted").length === 0)) return "restricted";
  if (pods.every((p) => violations(p, "baseline").length === 0)) return "baseline";
  return "privileged";
}

const stack = (strategy: string, engine: string, compileCache: boolean) =>
  baseConfig({
    storage: { strategy },
    compileCache: { enabled: compileCache },
    models: [{ name: "m", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: REV, engine, sizeGiB: 16, ...imageFor(strategy, engine) }],
  });
const matrix = STORAGE_STRATEGIES.flatMap((strategy) => [false, true].map((compileCache) => [strategy, compileCache] as const));

describe.each(matrix)("%s, compileCache %s", (strategy, compileCache) => {
  it("enforces and audits the strictest level its pods pass (Fluid's own pods need privileged); warns at restricted", async () => {
    const run = await runProgram(stack(strategy, "vllm", compileCache));
    const namespace = run.one("kubernetes:core/v1:Namespace", "namespace").inputs.metadata.labels;
    const expected = strategy === "fluid" ? "privileged" : strictestPassing(run.resources);
    expect(namespace["pod-security.kubernetes.io/enforce"]).toBe(expected);
    expect(namespace["pod-security.kubernetes.io/audit"]).toBe(expected);
    expect(namespace["pod-security.kubernetes.io/warn"]).toBe("restricted");
    expect(run.serving.podSecurityLevel).toBe(expected);
    // Without a hostPath anywhere, the stack runs under restricted: the only strict profile worth having.
    if (!compileCache && ["localPath", "longhorn", "juicefs", "s3Streaming"].includes(strategy)) expect(expected).toBe("restricted");
  });
});

describe("the checker itself", () => {
  it("tells the levels apart on the pods it reads", async () => {
    const ok = {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      containers: [{ name: "a", securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } }],
    };
    expect(violations(ok, "restricted")).toEqual([]);
    const root = { ...ok, containers: [{ ...ok.containers[0], securityContext: { ...ok.containers[0].securityContext, runAsUser: 0 } }] };
    expect(violations(root, "restricted")).toEqual(["a: runAsUser 0"]);
    expect(violations(root, "baseline")).toEqual([]);
    expect(violations({ ...ok, volumes: [{ name: "h", hostPath: { path: "/x" } }] }, "baseline")).toEqual(["hostPath volume h"]);
  });

  it("refuses nothing for createNamespace: false, but names the level the existing namespace must allow", async () => {
    const raw = stack("hostPath", "vllm", false);
    raw.kubernetes = { namespace: "llm", createNamespace: false };
    const run = await runProgram(raw);
    expect(run.byType("kubernetes:core/v1:Namespace")).toEqual([]);
    expect(run.serving.podSecurityLevel).toBe("privileged");
    await expect(expectConfigError(raw)).rejects.toThrow("expected a configuration error");
  });
});
