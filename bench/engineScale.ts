/**
 * The engine's own figure for program scale: wall time of a real `pulumi preview` and `pulumi up`
 * (CLI + kubernetes and random plugins from `scripts/toolchain.sh pulumi`) against a real control
 * plane on loopback, for 1, 10 and 50 models, beside the same program under Pulumi mocks in the
 * same run (the part of it that is our code). Linear growth shows as the same marginal cost per
 * model from 1→10 as from 10→50. Goal: 50 models < 60 s.
 *
 *   npm run bench:scale     (runs bench/scale.ts, then this; BENCH_ENGINE_STRATEGIES=hostPath,fluid)
 */
import { cpus } from "node:os";
import { startApiServer, toolchainBin } from "../test/integration/apiServer";
import { installCrds } from "../test/integration/crds";
import { startEngine } from "../test/integration/engine";
import { KubeClient } from "../test/integration/kubeClient";
import { runProgram } from "../test/harness";
import { scaleStackConfig } from "./scaleConfig";

const SIZES = [1, 10, 50];
const STRATEGIES = (process.env.BENCH_ENGINE_STRATEGIES ?? "hostPath,fluid").split(",");

async function seconds<T>(f: () => Promise<T>): Promise<number> {
  const start = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

interface Row {
  readonly strategy: string;
  readonly models: number;
  readonly resources: number;
  readonly preview: number;
  readonly up: number;
  readonly mocks: number;
}

async function main(): Promise<void> {
  const bin = toolchainBin();
  if (!bin) throw new Error("no control plane: run `bash scripts/toolchain.sh cluster` first");
  const server = await startApiServer(bin, { controllers: true });
  const engine = await startEngine(server);
  const rows: Row[] = [];
  try {
    await installCrds(new KubeClient(server));
    for (const strategy of STRATEGIES) {
      for (const n of SIZES) {
        const stack = await engine.stack(`scale-${strategy}-${n}`, scaleStackConfig(strategy, n, `scale-${strategy.toLowerCase()}-${n}`));
        const preview = await seconds(() => stack.preview());
        let resources = 0;
        const up = await seconds(async () => {
          const result = await stack.up();
          resources = Object.values(result.summary.resourceChanges ?? {}).reduce((a, b) => a + b, 0);
        });
        rows.push({ strategy, models: n, resources, preview, up, mocks: 0 });
      }
    }
  } finally {
    await server.stop();
    engine.cleanup();
  }
  // The same configs under mocks, after the engine runs (mocks replace the engine in this process).
  for (const [i, r] of rows.entries()) {
    const mocks = await seconds(() => runProgram(scaleStackConfig(r.strategy, r.models)));
    rows[i] = { ...r, mocks };
  }

  console.log(
    `\n# engine scale: real preview/up against kube-apiserver on loopback, ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}\n`,
  );
  console.log(
    "strategy      models  resources  preview s  +s/model     up s  +s/model  mocks s   (+ = marginal cost per model added since the previous row)",
  );
  let worst = 0;
  rows.forEach((r, i) => {
    const prev = rows[i - 1]?.strategy === r.strategy ? rows[i - 1] : undefined;
    const marginal = (value: number, before?: number) =>
      prev && before !== undefined ? ((value - before) / (r.models - prev.models)).toFixed(2) : "-";
    console.log(
      `${r.strategy.padEnd(12)} ${String(r.models).padStart(7)} ${String(r.resources).padStart(10)} ${r.preview.toFixed(1).padStart(10)} ${marginal(r.preview, prev?.preview).padStart(9)} ${r.up.toFixed(1).padStart(8)} ${marginal(r.up, prev?.up).padStart(9)} ${r.mocks.toFixed(2).padStart(8)}`,
    );
    if (r.models === 50) worst = Math.max(worst, r.preview, r.up);
  });
  console.log(`\nslowest 50-model preview or up: ${worst.toFixed(1)} s (goal < 60 s)`);
}

main().catch((error: Error) => {
  console.error(`bench:scale (engine): ${error.message}`);
  process.exit(1);
});
