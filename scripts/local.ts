/**
 * The main job: `pulumi up --stack local` through the Automation API, with a file backend in the
 * repo's ignored .pulumi/ directory. The local stack renders every manifest to ./rendered.
 * The program runs inline (in this process), so the CLI needs no Node.js language host plugin.
 */
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { llmServingProgram } from "../components/program";

const root = resolve(__dirname, "..");
const stateDir = join(root, ".pulumi");

function pulumiOnPath(): boolean {
  try {
    execFileSync("pulumi", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function pulumiCommand(): Promise<PulumiCommand> {
  if (pulumiOnPath()) return PulumiCommand.get();
  try {
    return await PulumiCommand.install({ root: join(process.env.HOME ?? root, ".pulumi-llm-serving") });
  } catch (error) {
    console.error(
      `llm-serving: no pulumi CLI on PATH and it could not be installed (${(error as Error).message.split("\n")[0]}); install it from https://www.pulumi.com/docs/install/ and run again.`,
    );
    process.exit(2);
  }
}

function countFiles(dir: string): number {
  return readdirSync(dir).reduce((n, entry) => {
    const path = join(dir, entry);
    return n + (statSync(path).isDirectory() ? countFiles(path) : 1);
  }, 0);
}

async function main(): Promise<void> {
  mkdirSync(stateDir, { recursive: true });
  const envVars = {
    PULUMI_BACKEND_URL: `file://${stateDir}`,
    PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "llm-serving-local",
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "local", projectName: "llm-serving", program: async () => llmServingProgram() },
    { workDir: root, pulumiCommand: await pulumiCommand(), envVars },
  );
  const result = await stack.up({ onOutput: (line) => process.stdout.write(line) });
  const rendered = join(root, "rendered");
  console.log(
    `\nllm-serving: ${result.summary.result}; ${countFiles(rendered)} manifests in ${rendered} (kubectl apply -R -f rendered/1-manifest)`,
  );
}

main().catch((error: Error) => {
  console.error(`llm-serving: ${error.message}`);
  process.exit(1);
});
