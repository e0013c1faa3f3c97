/**
 * Time from `pulumi up` to the first completion on the real node, for the node tests' model (the CPU
 * STAND-IN engine, test/node/standin; a 0.4 MB model, so the figures are the orchestration's, not the
 * data's), cold (empty bucket and node directory) and warm (both kept after `pulumi destroy`), split
 * by phase from the objects' own timestamps (store ready, MinIO setup, mirror, preload, server Ready,
 * smoke check), beside the same objects applied with plain `kubectl apply` of the YAML the program
 * renders (`kubernetes.renderYamlTo`), in the same run. What Pulumi's ordering and awaits cost over
 * an apply-everything-at-once that relies on the pods' own waiting (init containers, MANIFEST_WAIT_SECONDS).
 *
 *   npm run bench:node          (as root: starts the node when it is down)
 *
 * Kubernetes timestamps have a resolution of one second.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { startEngine } from "../test/integration/engine";
import { COMMIT, KUBECONFIG, kubectl, MODEL, NodeRun } from "../test/node/nodeStack";

interface Phases {
  store?: number;
  setup?: number;
  mirror?: number;
  preload?: number;
  server?: number;
  smoke?: number;
  returned?: number;
  firstCompletion: number;
}

/** The fields of Jobs and pods read here. */
interface Job {
  metadata: { name: string; creationTimestamp: string };
  status: { completionTime?: string };
}
interface Pod {
  metadata: { name: string; creationTimestamp: string; labels?: Record<string, string> };
  status: { conditions?: { type: string; status: string; lastTransitionTime: string }[] };
}

const seconds = (iso: string | undefined, t0: number) => (iso ? Math.max(0, (Date.parse(iso) - t0) / 1000) : undefined);

/** When each phase ended, in seconds after t0, read from the run's Jobs and pods. */
function phases(run: NodeRun, t0: number): Omit<Phases, "returned" | "firstCompletion"> {
  const jobs = (JSON.parse(run.kubectl("get", "jobs", "-o", "json")) as { items: Job[] }).items;
  const pods = (JSON.parse(run.kubectl("get", "pods", "-o", "json")) as { items: Pod[] }).items;
  const done = (prefix: string) => {
    const ends = jobs
      .filter((j) => j.metadata.name.startsWith(prefix) && Date.parse(j.metadata.creationTimestamp) >= t0 - 1000)
      .map((j) => seconds(j.status.completionTime, t0));
    return ends.length ? Math.max(...ends.map((e) => e ?? NaN)) : undefined;
  };
  const ready = (component: string) => {
    const times = pods
      .filter(
        (p) => p.metadata.labels?.["app.kubernetes.io/component"] === component && Date.parse(p.metadata.creationTimestamp) >= t0 - 1000,
      )
      .map((p) => seconds(p.status.conditions?.find((c) => c.type === "Ready" && c.status === "True")?.lastTransitionTime, t0));
    return times.length ? Math.min(...times.map((e) => e ?? NaN)) : undefined;
  };
  return {
    store: ready("object-store"),
    setup: done("minio-setup"),
    mirror: done(`${MODEL}-mirror`),
    preload: done(`${MODEL}-preload`),
    server: ready("inference-server"),
    smoke: done(`${MODEL}-smoke-check`),
  };
}

/** Polls a completion through the Service until it answers 200; seconds after t0, or NaN after the limit. */
async function firstCompletion(run: NodeRun, t0: number, limitSeconds = 300): Promise<number> {
  const deadline = t0 + limitSeconds * 1000;
  while (Date.now() < deadline) {
    const answered = await run.completion().catch(() => ({ status: 0, body: "" }));
    if (answered.status === 200) return (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 200));
  }
  return NaN;
}

/** Why nothing answered: the run's pods that are not Running or Succeeded, with the scheduler's or kubelet's reason. */
function stuck(run: NodeRun): string {
  const pods = (JSON.parse(run.kubectl("get", "pods", "-o", "json")) as { items: (Pod & { status: { phase: string } })[] }).items;
  return pods
    .filter((p) => !["Running", "Succeeded"].includes(p.status.phase))
    .map(
      (p) =>
        `${p.metadata.name} ${p.status.phase}: ${
          p.status.conditions
            ?.map((c) => (c as { message?: string }).message)
            .filter(Boolean)
            .join("; ") ?? ""
        }`,
    )
    .join("\n");
}

async function pulumiRuns(): Promise<[string, Phases][]> {
  const run = new NodeRun("bench-pulumi");
  const engine = await startEngine(KUBECONFIG);
  try {
    await run.startHub(COMMIT, 1);
    const stack = await engine.stack("bench", run.stackConfig());
    const rows: [string, Phases][] = [];
    for (const label of ["pulumi up, cold", "pulumi up, warm"]) {
      const t0 = Date.now();
      await stack.up();
      const returned = (Date.now() - t0) / 1000;
      const first = await firstCompletion(run, t0);
      rows.push([label, { ...phases(run, t0), returned, firstCompletion: first }]);
      // Destroy keeps the bucket's claim and the node directory: the next up is the warm one.
      await stack.destroy();
    }
    return rows;
  } finally {
    engine.cleanup();
    await run.cleanup();
  }
}

/** What the table cannot say (a path that never answered, and why). */
const notes: string[] = [];

async function kubectlRuns(): Promise<[string, Phases][]> {
  const run = new NodeRun("bench-kubectl");
  const engine = await startEngine(KUBECONFIG);
  const rendered = mkdtempSync(join(tmpdir(), "llm-serving-rendered-"));
  try {
    await run.startHub(COMMIT, 1);
    const config = run.stackConfig();
    (config.kubernetes as Record<string, unknown>).renderYamlTo = rendered;
    await (await engine.stack("render", config)).up();
    const manifests = join(rendered, "1-manifest");
    const rows: [string, Phases][] = [];
    for (const label of ["kubectl apply, cold", "kubectl apply, warm"]) {
      const t0 = Date.now();
      // The namespace first: `kubectl apply -f DIR` goes through the files in name order.
      for (const file of readdirSync(manifests).filter((f) => f.startsWith("v1-namespace-"))) kubectl("apply", "-f", join(manifests, file));
      kubectl("apply", "-f", manifests);
      const first = await firstCompletion(run, t0);
      if (Number.isNaN(first)) {
        notes.push(`${label}: no completion within 300 s; pods not running:\n${stuck(run)}`);
      } else {
        // The smoke check's completion is part of what the apply started: wait for it to be counted.
        run.kubectl("wait", "--for=condition=complete", "job", "-l", "app.kubernetes.io/component=smoke-check", "--timeout=300s");
      }
      rows.push([label, { ...phases(run, t0), firstCompletion: first }]);
      // What `pulumi destroy` removes (workloads), the claims and the node directory kept: the next apply is warm.
      run.kubectl("delete", "deployment,statefulset,job", "--all", "--wait=true", "--timeout=180s");
    }
    return rows;
  } finally {
    engine.cleanup();
    rmSync(rendered, { recursive: true, force: true });
    await run.cleanup();
  }
}

function format(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? "—" : value.toFixed(1);
}

async function main(): Promise<void> {
  console.log(`# bench:node — the node tests' model on the one-node cluster (CPU stand-in engine), ${cpus().length} × ${cpus()[0]?.model}`);
  console.log("# seconds after the start at which each phase ended (Kubernetes timestamps, 1 s resolution)\n");
  const rows = [...(await pulumiRuns()), ...(await kubectlRuns())];
  const header = ["path", "store", "setup", "mirror", "preload", "server", "smoke", "up returns", "1st completion"];
  console.log(header.map((h, i) => (i === 0 ? h.padEnd(22) : h.padStart(14))).join(""));
  for (const [label, p] of rows) {
    const cells = [p.store, p.setup, p.mirror, p.preload, p.server, p.smoke, p.returned, p.firstCompletion].map(format);
    console.log([label.padEnd(22), ...cells.map((c) => c.padStart(14))].join(""));
  }
  for (const note of notes) console.log(`\n${note}`);
  const [pulumiCold, pulumiWarm, kubectlCold, kubectlWarm] = rows.map(([, p]) => p.firstCompletion);
  console.log(
    `\norchestration cost to the first completion: cold ${format(pulumiCold - kubectlCold)} s, warm ${format(pulumiWarm - kubectlWarm)} s (pulumi up − kubectl apply)`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
