/**
 * The README's main job as a user runs it: `bash scripts/dev.sh local` in a fresh checkout (a copy
 * of the tracked files in a new git repository, sharing this checkout's node_modules), twice. The
 * first run creates the local stack and renders it; the second reports no changes; neither leaves
 * anything for `git status` to show.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderedManifests } from "../../scripts/localTools";
import { engineBin } from "./engine";

const repo = join(__dirname, "..", "..");
const checkout = mkdtempSync(join(tmpdir(), "llm-serving-checkout-"));

afterAll(() => rmSync(checkout, { recursive: true, force: true }));

function git(...args: string[]): string {
  return execFileSync("git", ["-c", "user.email=ci@example.invalid", "-c", "user.name=ci", ...args], { cwd: checkout, encoding: "utf8" });
}

function mainJob(): { output: string; status: number | null } {
  // The toolchain's CLI is found in its cache, not on the PATH (as on a fresh machine).
  const env = {
    ...process.env,
    PATH: (process.env.PATH ?? "")
      .split(":")
      .filter((p) => p !== engineBin())
      .join(":"),
  };
  const run = spawnSync("bash", ["scripts/dev.sh", "local"], { cwd: checkout, env, encoding: "utf8", timeout: 240_000 });
  return { output: `${run.stdout}\n${run.stderr}`, status: run.status };
}

describe("the main job (bash scripts/dev.sh local)", () => {
  it("creates and renders the local stack, then reports no changes, leaving git status clean", () => {
    engineBin();
    const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: repo, encoding: "utf8" })
      .split("\n")
      .filter(Boolean);
    for (const file of files) {
      mkdirSync(dirname(join(checkout, file)), { recursive: true });
      cpSync(join(repo, file), join(checkout, file));
    }
    for (const dir of [".", "policies"]) {
      symlinkSync(join(repo, dir, "node_modules"), join(checkout, dir, "node_modules"));
      cpSync(join(repo, dir, "package-lock.json"), join(checkout, dir, "node_modules", ".llm-serving-lock"));
    }
    git("init", "-q");
    git("add", "-A");
    git("commit", "-qm", "checkout");

    const first = mainJob();
    expect(first.status, first.output).toBe(0);
    expect(first.output).toMatch(/llm-serving: succeeded in \d+ s; \d+ create/);
    const rendered = renderedManifests(join(checkout, "rendered"));
    expect(new Set(rendered.map((m) => m.kind))).toEqual(
      new Set(["ConfigMap", "Deployment", "Job", "Namespace", "Role", "RoleBinding", "Secret", "Service", "ServiceAccount", "StatefulSet"]),
    );
    expect(first.output).toContain(`rendered ${rendered.length} objects into ./rendered`);

    const second = mainJob();
    expect(second.status, second.output).toBe(0);
    expect(second.output).toMatch(/llm-serving: succeeded in \d+ s; no changes/);
    expect(git("status", "--porcelain")).toBe("");
  }, 600_000);
});
