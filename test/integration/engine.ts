/**
 * The real Pulumi engine for integration tests: the CLI and the kubernetes and random plugins that
 * `scripts/toolchain.sh pulumi` builds, a file backend in a temp dir, the program inline through
 * the Automation API (no Node.js language host), and a kubeconfig for the test API server.
 */
import { ConfigMap, EngineEvent, LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { llmServingProgram } from "../../components/program";
import { PULUMI_TOOLCHAIN, toolchainBinDir } from "../../scripts/localTools";
import { toPulumiConfig } from "../harness";
import { ApiServer, kubeconfigFor } from "./apiServer";

/** A Pulumi program run in this process. */
export type InlineProgram = () => Promise<Record<string, unknown>>;

/**
 * The program as it was at `commit` of this repository (its `components/` from git, sharing this
 * checkout's node_modules, so it runs on the same Pulumi runtime): what an existing stack was made with.
 */
export async function programAt(commit: string, workDir: string): Promise<InlineProgram> {
  const repo = join(__dirname, "..", "..");
  const dir = join(workDir, `program-${commit.slice(0, 12)}`);
  if (!existsSync(dir)) {
    const tree = spawnSync("git", ["-C", repo, "archive", "--format=tar", commit, "components"], { maxBuffer: 64 << 20 });
    if (tree.status !== 0) {
      throw new Error(`git archive ${commit}: ${String(tree.stderr)} (the test needs this repository's history back to that commit)`);
    }
    mkdirSync(dir);
    execFileSync("tar", ["-x", "-C", dir], { input: tree.stdout });
    symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  }
  const module = (await import(join(dir, "components", "program.ts"))) as { llmServingProgram: InlineProgram };
  return async () => module.llmServingProgram();
}

/**
 * This checkout's program with one of its files edited (`edit` of the text at `path`, under
 * `components/`), in its own directory: what the next release of the program brings to a stack.
 */
export async function programWithEdit(workDir: string, path: string, edit: (text: string) => string): Promise<InlineProgram> {
  const repo = join(__dirname, "..", "..");
  const dir = mkdtempSync(join(workDir, "program-edited-"));
  cpSync(join(repo, "components"), join(dir, "components"), { recursive: true });
  symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  const file = join(dir, "components", path);
  writeFileSync(file, edit(readFileSync(file, "utf8")));
  const module = (await import(join(dir, "components", "program.ts"))) as { llmServingProgram: InlineProgram };
  return async () => module.llmServingProgram();
}

export interface Engine {
  /**
   * Creates (or selects) a stack of the inline program with exactly this raw `llm-serving:*` config;
   * `program` runs instead of this checkout's (e.g. an earlier commit's, see `programAt`).
   */
  stack(name: string, raw: Record<string, unknown>, secrets?: Record<string, string>, program?: InlineProgram): Promise<Stack>;
  /** Sets one structured key of a stack (as the CLI stores it, a JSON string). */
  setConfig(stack: Stack, key: string, value: unknown): Promise<void>;
  /** A stack's state as the backend stores it (the Automation API's export shows secrets in clear). */
  stateText(stack: Stack): Promise<string>;
  readonly workDir: string;
  cleanup(): void;
}

/** The toolchain's bin dir when it has the CLI and both plugins; else a message saying what to build. */
export function engineBin(): string {
  const bin = toolchainBinDir();
  const missing = PULUMI_TOOLCHAIN.filter((name) => !existsSync(join(bin, name)));
  if (missing.length) throw new Error(`no ${missing.join(", ")} in ${bin}: run \`bash scripts/toolchain.sh pulumi\` first`);
  return bin;
}

/** An engine for the API server of `cluster`: a test ApiServer, or the path of a kubeconfig (the node tests' cluster). */
export async function startEngine(cluster?: ApiServer | string): Promise<Engine> {
  const bin = engineBin();
  const workDir = mkdtempSync(join(tmpdir(), "llm-serving-engine-"));
  const backend = join(workDir, "state");
  mkdirSync(backend);
  const envVars: Record<string, string> = {
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: "integration",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    // Only the toolchain's plugins: a plugin the engine would download is an error here.
    PULUMI_HOME: join(workDir, "pulumi-home"),
    PATH: `${bin}:${process.env.PATH ?? ""}`,
  };
  if (typeof cluster === "string") {
    envVars.KUBECONFIG = cluster;
  } else if (cluster) {
    const file = join(workDir, "kubeconfig");
    writeFileSync(file, kubeconfigFor(cluster), { mode: 0o600 });
    envVars.KUBECONFIG = file;
  }
  // The inline program runs in this process: it reads the kubeconfig the CLI gets, as a CLI-run one would.
  if (envVars.KUBECONFIG) process.env.KUBECONFIG = envVars.KUBECONFIG;
  const pulumiCommand = await PulumiCommand.get({ root: join(bin, "..") });
  const projectSettings = { name: "llm-serving", runtime: "nodejs" as const };
  const current: InlineProgram = async () => llmServingProgram();
  return {
    workDir,
    async stack(name, raw, secrets = {}, program = current) {
      const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: name, projectName: "llm-serving", program },
        { workDir, projectSettings, envVars, pulumiCommand },
      );
      const config: ConfigMap = {};
      for (const [key, value] of Object.entries(toPulumiConfig(raw))) config[key] = { value };
      for (const [key, value] of Object.entries(secrets)) config[`llm-serving:${key}`] = { value, secret: true };
      await stack.setAllConfig(config);
      return stack;
    },
    async setConfig(stack, key, value) {
      await stack.setConfig(`llm-serving:${key}`, { value: typeof value === "string" ? value : JSON.stringify(value) });
    },
    async stateText(stack) {
      return readFileSync(join(backend, ".pulumi", "stacks", "llm-serving", `${stack.name}.json`), "utf8");
    },
    cleanup() {
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** One step the engine planned: the operation and the resource's URN, type and name. */
export interface PlannedStep {
  readonly op: string;
  readonly urn: string;
  readonly type: string;
  readonly name: string;
}

/** Collects the engine's planned steps from its event stream (pass as `onEvent`). */
export function stepRecorder(): { steps: PlannedStep[]; onEvent: (e: EngineEvent) => void } {
  const steps: PlannedStep[] = [];
  return {
    steps,
    onEvent: (e) => {
      const m = e.resourcePreEvent?.metadata;
      if (!m) return;
      const name = m.urn.slice(m.urn.lastIndexOf("::") + 2);
      steps.push({ op: m.op, urn: m.urn, type: m.type, name });
    },
  };
}
