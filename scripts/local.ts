/**
 * The main job: `pulumi up --stack local` through the Automation API, with a file backend in the
 * repo's ignored .pulumi/ directory. The local stack renders every manifest to ./rendered.
 * The program runs inline (in this process), so the CLI needs no Node.js language host plugin.
 *
 * The CLI comes from, in order: the PATH; the toolchain cache (scripts/toolchain.sh pulumi);
 * Pulumi's installer (needs the internet); a build of the toolchain from the Go module proxy.
 */
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { llmServingProgram } from "../components/program";
import { PULUMI_TOOLCHAIN, renderedManifests, toolchainBinDir } from "./localTools";

const root = resolve(__dirname, "..");

/**
 * Pulumi.local.yaml carries the encryption salt of this passphrase, so the engine never rewrites the
 * tracked file. The local stack is a demo: its rendered Secrets are in clear text anyway.
 */
const LOCAL_PASSPHRASE = "llm-serving-local";

interface Cli {
  readonly command: PulumiCommand;
  /** Where it came from, for the log. */
  readonly source: string;
  /** Extra PATH entries for the engine (the toolchain's provider plugins). */
  readonly path: string[];
}

function succeeds(file: string, args: string[]): boolean {
  return spawnSync(file, args, { stdio: "ignore" }).status === 0;
}

function toolchainComplete(bin: string): boolean {
  return PULUMI_TOOLCHAIN.every((name) => existsSync(join(bin, name)));
}

async function fromToolchain(bin: string, source: string): Promise<Cli> {
  return { command: await PulumiCommand.get({ root: resolve(bin, "..") }), source, path: [bin] };
}

async function pulumiCli(): Promise<Cli> {
  if (succeeds("pulumi", ["version"])) return { command: await PulumiCommand.get(), source: "pulumi on PATH", path: [] };
  const bin = toolchainBinDir();
  if (toolchainComplete(bin)) return fromToolchain(bin, `toolchain cache ${bin}`);
  const installRoot = join(process.env.HOME ?? root, ".pulumi-llm-serving");
  let installError: string;
  try {
    const command = await PulumiCommand.install({ root: installRoot });
    return { command, source: `Pulumi's installer (${installRoot})`, path: [] };
  } catch (error) {
    installError = (error as Error).message.split("\n")[0];
  }
  if (!succeeds("go", ["version"])) {
    console.error(
      `llm-serving: no pulumi CLI on PATH, Pulumi's installer failed (${installError}) and there is no Go to build one: install the CLI (https://www.pulumi.com/docs/install/) or Go, and run again.`,
    );
    process.exit(2);
  }
  console.log(`llm-serving: Pulumi's installer failed (${installError}); building the CLI and its plugins from the Go module proxy`);
  const built = spawnSync("bash", [join(root, "scripts", "toolchain.sh"), "pulumi"], { stdio: ["ignore", "ignore", "inherit"] });
  if (built.status !== 0) {
    console.error("llm-serving: building the Pulumi toolchain failed (the piece and its error are printed above).");
    process.exit(2);
  }
  return fromToolchain(bin, `toolchain built into ${bin}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const cli = await pulumiCli();
  const envVars: Record<string, string> = {
    PULUMI_BACKEND_URL: `file://${join(root, ".pulumi")}`,
    PULUMI_CONFIG_PASSPHRASE: LOCAL_PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    ...(cli.path.length ? { PATH: [...cli.path, process.env.PATH ?? ""].join(":") } : {}),
  };
  execFileSync("mkdir", ["-p", join(root, ".pulumi")]);
  console.log(`llm-serving: pulumi ${cli.command.version?.toString() ?? ""} from ${cli.source}`);
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "local", projectName: "llm-serving", program: async () => llmServingProgram() },
    { workDir: root, pulumiCommand: cli.command, envVars },
  );
  const result = await stack.up({ onOutput: (line) => process.stdout.write(line) });
  const changes = Object.entries(result.summary.resourceChanges ?? {}).filter(([op]) => op !== "same");
  const rendered = join(root, "rendered");
  const manifests = renderedManifests(rendered);
  const kinds = new Map<string, number>();
  for (const m of manifests) kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
  console.log(
    [
      "",
      `llm-serving: ${result.summary.result} in ${Math.round((Date.now() - started) / 1000)} s; ${
        changes.length ? changes.map(([op, n]) => `${n} ${op}`).join(", ") : "no changes"
      }`,
      `rendered ${manifests.length} objects into ./${relative(root, rendered)}: ${[...kinds]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([kind, n]) => `${n} ${kind}`)
        .join(", ")}`,
      `apply them with: kubectl apply -R -f ${relative(root, rendered)}/1-manifest`,
    ].join("\n"),
  );
}

main().catch((error: Error) => {
  console.error(`llm-serving: ${error.message}`);
  process.exit(1);
});
