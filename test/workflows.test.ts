/**
 * The GitHub workflows as a reviewer of their privileges reads them: third-party actions pinned to a
 * commit with the version beside it, pull-request previews with only the read-only (`*_PREVIEW`)
 * secrets, permissions declared and minimal, no secret expanded into a shell script, forks skipped
 * with a reason, deploys inside protected environments. actionlint (in .ci/run) checks the syntax.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const WORKFLOWS = ".github/workflows";
const FILES = [
  ...readdirSync(WORKFLOWS).map((f) => join(WORKFLOWS, f)),
  ...readdirSync(".github/actions").map((d) => join(".github/actions", d, "action.yml")),
];

interface Step {
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
  readonly name?: string;
  readonly env?: Record<string, string>;
  readonly with?: Record<string, string>;
}
interface Job {
  readonly permissions?: Record<string, string>;
  readonly environment?: string;
  readonly steps?: Step[];
  readonly uses?: string;
}
interface Workflow {
  readonly on: Record<string, unknown>;
  readonly permissions?: Record<string, string> | string;
  readonly jobs: Record<string, Job>;
}

const workflow = (name: string) => parse(readFileSync(join(WORKFLOWS, name), "utf8")) as Workflow;

describe("GitHub workflows", () => {
  it("pins every third-party action to a full commit SHA, its version in a comment", () => {
    const uses = FILES.flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => /^\s*(- )?uses:/.test(line))
        .map((line) => ({ file, line: line.trim() })),
    );
    expect(uses.length).toBeGreaterThan(5);
    for (const { file, line } of uses) {
      if (/uses: \.\//.test(line)) continue;
      expect(line, file).toMatch(/^(- )?uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v[0-9]+\.[0-9]+\.[0-9]+$/);
    }
    expect(uses.map((u) => u.line).join("\n")).toContain("pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0");
  });

  it("gives pull-request previews only the read-only secrets", () => {
    const text = readFileSync(join(WORKFLOWS, "preview.yml"), "utf8");
    const names = [...text.matchAll(/secrets\.([A-Za-z0-9_]+)/g)].map((m) => m[1]);
    const formatted = [...text.matchAll(/secrets\[format\('([^']+)'/g)].map((m) => m[1]);
    expect(formatted).toEqual(["KUBECONFIG_{0}_PREVIEW"]);
    // The backend's passphrase decrypts the stack's config, which a preview must run with; it grants
    // nothing on the cluster or the cloud account.
    const allowed = (name: string) => name.endsWith("_PREVIEW") || ["GITHUB_TOKEN", "PULUMI_CONFIG_PASSPHRASE"].includes(name);
    expect(names.filter((n) => !allowed(n))).toEqual([]);
    expect(names).toContain("CLOUDFLARE_API_TOKEN_PREVIEW");
    expect(text).not.toMatch(/PULUMI_ACCESS_TOKEN/);
  });

  it("declares minimal permissions: write only where a job needs it", () => {
    for (const file of readdirSync(WORKFLOWS)) {
      const wf = workflow(file);
      expect(wf.permissions, file).toBeTypeOf("object");
      const grants = [wf.permissions as Record<string, string>, ...Object.values(wf.jobs).map((j) => j.permissions ?? {})];
      for (const grant of grants) {
        for (const [scope, level] of Object.entries(grant)) {
          if (level !== "write") continue;
          // id-token: the OIDC exchange for a short-lived Pulumi token; pull-requests: the preview comment.
          expect(["id-token", "pull-requests"], `${file}: ${scope}: write`).toContain(scope);
        }
      }
    }
    const preview = workflow("preview.yml");
    expect(preview.permissions).toEqual({ contents: "read" });
    expect(preview.jobs.unit.permissions).toBeUndefined();
  });

  it("never expands a secret or the kubeconfig into a shell script (only through env)", () => {
    for (const file of FILES) {
      const doc = parse(readFileSync(file, "utf8")) as Workflow & { runs?: { steps: Step[] } };
      const steps = [...Object.values(doc.jobs ?? {}).flatMap((j) => j.steps ?? []), ...(doc.runs?.steps ?? [])];
      for (const step of steps.filter((s) => s.run)) {
        expect(step.run, `${file}: ${step.name}`).not.toMatch(/\$\{\{\s*(secrets|inputs\.kubeconfig)/);
      }
    }
  });

  it("skips the preview of a pull request from a fork, saying why in the job summary", () => {
    const { steps = [] } = workflow("preview.yml").jobs.preview;
    const [explain, ...rest] = steps;
    expect(explain.if).toBe("env.FROM_FORK == 'true'");
    expect(explain.run).toContain("$GITHUB_STEP_SUMMARY");
    expect(explain.run).toContain("no");
    for (const step of rest) expect(step.if, step.uses ?? step.name).toMatch(/^env\.FROM_FORK != 'true'/);
    expect(workflow("preview.yml").jobs.unit.steps?.some((s) => s.run === "npm test")).toBe(true);
  });

  it("deploys inside the stack's GitHub environment, with the backend reached by OIDC", () => {
    const up = workflow("pulumi-up.yml").jobs.up;
    expect(up.environment).toBe("${{ inputs.stack }}");
    expect(up.steps?.some((s) => s.uses?.startsWith("pulumi/auth-actions@"))).toBe(true);
    expect(readFileSync(join(WORKFLOWS, "pulumi-up.yml"), "utf8")).not.toMatch(/PULUMI_ACCESS_TOKEN/);
    expect(Object.values(workflow("deploy.yml").jobs).every((j) => j.uses === "./.github/workflows/pulumi-up.yml")).toBe(true);
  });

  it("has Dependabot update the actions and the npm packages", () => {
    const config = parse(readFileSync(".github/dependabot.yml", "utf8")) as {
      updates: { "package-ecosystem": string; directories: string[] }[];
    };
    const byEcosystem = Object.fromEntries(config.updates.map((u) => [u["package-ecosystem"], u.directories]));
    expect(byEcosystem["github-actions"]).toEqual(["/", "/.github/actions/prepare"]);
    expect(byEcosystem.npm).toEqual(["/", "/policies"]);
  });
});
