/** The read-only identity a stack creates for `pulumi preview` in CI (components/previewIdentity.ts). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  kubeconfigServer,
  PREVIEW_CLUSTER_KINDS,
  PREVIEW_NAMESPACED_KINDS,
  previewServer,
  readOnlyRules,
} from "../components/previewIdentity";
import { r2PreviewTokenPolicies } from "../components/store/r2";
import { baseConfig, expectConfigError, isSecret, repoStackConfig, resolve, runProgram, TEST_API_SERVER } from "./harness";
import { TEST_STACKS } from "./testStacks";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const USER = "fedcba9876543210fedcba9876543210";
const ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role";
const CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole";
const TOKEN = "cloudflare:index/apiToken:ApiToken";
const withIdentity = (overrides: Record<string, unknown> = {}) => baseConfig({ previewIdentity: { enabled: true }, ...overrides });

/** `kubernetes:<group>/<version>:<Kind>` → the RBAC group and resource (plural) it is managed as. */
function rbacResource(type: string): { group: string; resource: string } {
  const [, groupVersion, kind] = /^kubernetes:(.+):(\w+)$/.exec(type)!;
  const group = groupVersion.includes("/") ? groupVersion.slice(0, groupVersion.lastIndexOf("/")) : "";
  const plural = kind.toLowerCase().endsWith("s") ? `${kind.toLowerCase()}es` : `${kind.toLowerCase()}s`;
  return { group: group === "core" ? "" : group, resource: plural.replace(/ys$/, "ies").replace(/yes$/, "ies") };
}

describe("preview identity", () => {
  it("is on by default in prod only", async () => {
    const prod = await runProgram(repoStackConfig("prod"));
    expect(prod.byType("kubernetes:core/v1:ServiceAccount").map((r) => r.name)).toContain("account");
    expect(prod.serving.previewKubeconfig).toBeDefined();
    const dev = await runProgram(repoStackConfig("dev"));
    expect(dev.byType(ROLE).map((r) => r.name)).not.toContain("role");
    expect(dev.serving.previewKubeconfig).toBeUndefined();
  });

  it("may only get, list and watch, and never reads a Secret", async () => {
    const run = await runProgram(withIdentity());
    const rules = [...run.one(ROLE, "role").inputs.rules, ...run.one(CLUSTER_ROLE, "cluster-role").inputs.rules];
    for (const rule of rules) {
      expect(rule.verbs).toEqual(["get", "list", "watch"]);
      expect(rule.resources).not.toContain("*");
      expect(rule.apiGroups).not.toContain("*");
      if (rule.apiGroups.includes("")) expect(rule.resources).not.toContain("secrets");
    }
    expect(run.one(CLUSTER_ROLE, "cluster-role").inputs.metadata.name).toBe("llm-serving-preview-llm");
  });

  it("reads every kind that any test stack manages, but Secrets", async () => {
    const namespaced = readOnlyRules(PREVIEW_NAMESPACED_KINDS);
    const clusterWide = readOnlyRules(PREVIEW_CLUSTER_KINDS);
    const granted = (rules: typeof namespaced, group: string, resource: string) =>
      rules.some((r) => (r.apiGroups as string[]).includes(group) && (r.resources as string[]).includes(resource));
    const missing = new Set<string>();
    // Render-only stacks (the local one) have no cluster to issue a token.
    for (const stack of TEST_STACKS.filter((s) => !(s.raw.kubernetes as { renderYamlTo?: string } | undefined)?.renderYamlTo)) {
      const run = await runProgram({ ...stack.raw, previewIdentity: { enabled: true } }, stack.secretKeys);
      for (const r of run.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== "kubernetes:helm.sh/v3:Release")) {
        const { group, resource } = rbacResource(r.type);
        if (group === "" && resource === "secrets") continue;
        const clusterScoped = r.inputs.metadata?.namespace === undefined;
        if (!granted(clusterScoped ? clusterWide : namespaced, group, resource)) missing.add(`${stack.name}: ${group}/${resource}`);
      }
    }
    expect([...missing]).toEqual([]);
  });

  it("outputs a kubeconfig (secret) with the identity's token, the cluster's CA and the server", async () => {
    const run = await runProgram(withIdentity({ kubernetes: { namespace: "llm", context: "prod-admin" } }), [], { preview: false });
    const output = run.serving.previewKubeconfig!;
    expect(await isSecret(output)).toBe(true);
    const kubeconfig = JSON.parse(await resolve(output));
    expect(kubeconfig["current-context"]).toBe("prod-admin");
    expect(kubeconfig.clusters[0].cluster).toEqual({
      server: TEST_API_SERVER,
      "certificate-authority-data": Buffer.from("TEST CA").toString("base64"),
    });
    expect(kubeconfig.users[0].user.token).toBe("sa-token-token");
    expect(kubeconfig.contexts[0].context.namespace).toBe("llm");
  });

  it("rotates its token by tokenGeneration: a new Secret, so the old token dies with the old one", async () => {
    const name = async (tokenGeneration: number) =>
      (await runProgram(withIdentity({ previewIdentity: { enabled: true, tokenGeneration } }))).one("kubernetes:core/v1:Secret", "token")
        .inputs.metadata.name;
    expect(await name(1)).toBe("llm-serving-preview-token-1");
    expect(await name(2)).toBe("llm-serving-preview-token-2");
  });

  it("takes the server from the deploying kubeconfig context, else names the key", () => {
    const dir = mkdtempSync(join(tmpdir(), "kubeconfig-"));
    const file = join(dir, "config");
    writeFileSync(
      file,
      [
        "apiVersion: v1",
        "current-context: a",
        "clusters: [{name: ca, cluster: {server: 'https://a.example:6443'}}, {name: cb, cluster: {server: 'https://b.example'}}]",
        "contexts: [{name: a, context: {cluster: ca}}, {name: b, context: {cluster: cb}}]",
      ].join("\n"),
    );
    expect(kubeconfigServer([join(dir, "missing"), file])).toBe("https://a.example:6443");
    expect(kubeconfigServer([file], "b")).toBe("https://b.example");
    expect(previewServer({ tokenGeneration: 1 }, "b", { KUBECONFIG: file })).toBe("https://b.example");
    expect(previewServer({ tokenGeneration: 1, server: "https://set.example" }, "b", { KUBECONFIG: file })).toBe("https://set.example");
    expect(() => previewServer({ tokenGeneration: 1 }, "nope", { KUBECONFIG: file })).toThrow(
      /llm-serving:previewIdentity\.server: not set/,
    );
  });

  it("refuses a render-only stack and a server that is not https, before anything is created", async () => {
    const render = await expectConfigError(withIdentity({ kubernetes: { namespace: "llm", renderYamlTo: "rendered" } }));
    expect(render.error.message).toContain("llm-serving:previewIdentity.enabled");
    expect(render.error.message).toContain("kubernetes.renderYamlTo");
    expect(render.registered).toBe(0);
    const plain = await expectConfigError(withIdentity({ previewIdentity: { enabled: true, server: "http://k8s:8080" } }));
    expect(plain.error.message).toContain("llm-serving:previewIdentity.server");
  });
});

describe("R2 preview token", () => {
  const r2 = (extra: Record<string, unknown> = {}) =>
    withIdentity({ objectStore: { provider: "r2", bucket: "weights", r2: { accountId: ACCOUNT, ...extra } } });

  it("reads the account's R2 settings and, given the owner, the stack's tokens; nothing writes", async () => {
    const run = await runProgram(r2({ userId: USER }), [], { preview: false });
    const token = run.one(TOKEN, "preview-token");
    expect(token.inputs.name).toBe("llm-serving weights preview (read-only)");
    const policies = token.inputs.policies.map((p: { permissionGroups: { id: string }[]; resources: string }) => ({
      groups: p.permissionGroups.map((g) => g.id),
      resources: JSON.parse(p.resources),
    }));
    expect(policies).toEqual([
      { groups: ["b4992e1108244f5d8bfbd5744320c2e1"], resources: { [`com.cloudflare.api.account.${ACCOUNT}`]: "*" } },
      { groups: ["0cc3a61731504c89b99ec1be78b77aa0"], resources: { [`com.cloudflare.api.user.${USER}`]: "*" } },
    ]);
    const writeGroups = ["2efd5506f9c8494dacb1fa10a3e7d5b6", "bf7481a1826f439697cb59a20b22293e", "686d18d5ac6c441c867cbf6771e58a0a"];
    expect(policies.flatMap((p: { groups: string[] }) => p.groups).filter((g: string) => writeGroups.includes(g))).toEqual([]);
    const output = run.serving.cloudflarePreviewToken!;
    expect(await isSecret(output)).toBe(true);
    expect(await resolve(output)).toBe("token-value-preview-token");
  });

  it("without the owner's user id reads the buckets only", () => {
    const policies = r2PreviewTokenPolicies({
      accountId: ACCOUNT,
      storageReadPermissionGroupId: "b4992e1108244f5d8bfbd5744320c2e1",
      tokensReadPermissionGroupId: "0cc3a61731504c89b99ec1be78b77aa0",
    });
    expect(policies.map((p) => JSON.parse(p.resources as string))).toEqual([{ [`com.cloudflare.api.account.${ACCOUNT}`]: "*" }]);
  });

  it("is not created without the preview identity", async () => {
    const run = await runProgram(baseConfig({ objectStore: { provider: "r2", bucket: "weights", r2: { accountId: ACCOUNT } } }));
    expect(run.byType(TOKEN).map((t) => t.name)).not.toContain("preview-token");
  });
});
