/**
 * How the program scales with the number of models: evaluates the real program under Pulumi mocks
 * (what `pulumi preview` spends in our code) for 1, 10 and 50 models with each storage strategy,
 * and prints wall time and resource count, with the marginal cost of each added model: linear
 * growth shows as the same marginal cost from 1→10 as from 10→50.
 *
 *   npm run bench:scale             (BENCH_SCALE_REPEATS=3)
 */
import { cpus } from "node:os";
import { STORAGE_STRATEGIES } from "../components/config/schema";
import { median } from "../scripts/localTools";
import { runProgram } from "../test/harness";
import { scaleStackConfig } from "./scaleConfig";

const SIZES = [1, 10, 50];
const REPEATS = Number(process.env.BENCH_SCALE_REPEATS ?? "3");

async function measure(strategy: string, models: number): Promise<{ ms: number; resources: number }> {
  const times: number[] = [];
  let resources = 0;
  for (let i = 0; i < REPEATS; i++) {
    const start = process.hrtime.bigint();
    const run = await runProgram(scaleStackConfig(strategy, models));
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    resources = run.resources.length;
  }
  return { ms: median(times), resources };
}

async function main(): Promise<void> {
  console.log(
    `# program scale under Pulumi mocks: median of ${REPEATS}, ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}\n`,
  );
  console.log(
    "strategy      models  resources  +res/model   wall ms  +ms/model   (+ = marginal cost of each model added since the previous row)",
  );
  await measure("hostPath", 1); // warm up module loading and the JIT
  let worst = 0;
  for (const strategy of STORAGE_STRATEGIES) {
    const rows: Array<{ n: number; ms: number; resources: number }> = [];
    for (const n of SIZES) rows.push({ n, ...(await measure(strategy, n)) });
    rows.forEach((r, i) => {
      const prev = rows[i - 1];
      const marginal = (value: number, before: number) => (prev ? ((value - before) / (r.n - prev.n)).toFixed(1) : "-");
      console.log(
        `${strategy.padEnd(12)} ${String(r.n).padStart(7)} ${String(r.resources).padStart(10)} ${marginal(r.resources, prev?.resources ?? 0).padStart(11)} ${r.ms.toFixed(0).padStart(9)} ${marginal(r.ms, prev?.ms ?? 0).padStart(10)}`,
      );
      if (r.n === 50) worst = Math.max(worst, r.ms);
    });
  }
  console.log(`\nslowest 50-model stack: ${(worst / 1000).toFixed(2)} s (goal < 3 s)`);
}

main().catch((error: Error) => {
  console.error(`bench:scale: ${error.message}`);
  process.exit(1);
});
