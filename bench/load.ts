/**
 * Time to weights: from start until every tensor of every shard is in the model's (CPU) memory, for
 * each way the program gets weights to an engine, side by side in one run:
 *   limit         the S3 server's backing files read by a reader per shard, no S3 in between
 *   s3Streaming   the Run:ai streamer from the bucket, with the env and extra config the program
 *                 renders for vLLM, at the program's default concurrency and a sweep
 *   preload+load  the preload Job's script to a local directory, then vLLM's safetensors load from it
 *                 (the hostPath / localPath / longhorn cold path)
 *   warm cache    vLLM's safetensors load from the filled directory (the node already has it)
 *   naive         `aws s3 cp --recursive`, then the same load (seed 002's way)
 *   bare copy     the preload's s5cmd copy alone (what the preload's verification is measured against)
 * A generated safetensors model (real headers, index, bf16 tensors of a 7B layer's shapes) sits in a
 * real S3 server (versitygw) on loopback, hashed and uploaded by the mirror Job's own steps; the page
 * cache is dropped before each run, methods alternate order each round, medians of BENCH_ROUNDS.
 * The loaders are bench/load_weights.py (torch and the streamer at the versions vLLM 0.33.0 takes).
 *
 *   npm run bench:load     (BENCH_SIZE_GIB=4 BENCH_ROUNDS=3 BENCH_SWEEP=4,8,16,32,64 BENCH_DIR=/tmp/...
 *                           BENCH_FIRST_TOUCH_GIB: memory faulted in first, default all available but 3 GiB)
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { ModelConfig, strategyDefaults } from "../components/config/schema";
import { runaiExtraConfig } from "../components/engines/vllm";
import { PRELOAD, s5cmdCopyFlags, VERIFY_STREAMED } from "../components/scripts";
import { streamerEnv, streamerReads } from "../components/storage/s3Streaming";
import { median } from "../scripts/localTools";
import {
  ACCESS,
  BUCKET,
  canDropCaches,
  dropCaches,
  mirrorUpload,
  PREFIX,
  rate,
  run,
  startS3,
  venvPython,
  writeMirrorManifests,
} from "./s3bench";

const SIZE_GIB = Number(process.env.BENCH_SIZE_GIB ?? "4");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? "3");
const SWEEP = (process.env.BENCH_SWEEP ?? "4,8,16,32,64").split(",").map(Number);
const DIR = process.env.BENCH_DIR ?? "/tmp/llm-serving-load-bench";
const LOADER = resolve(__dirname, "load_weights.py");

interface Measured {
  wall: number;
  user: number;
  sys: number;
  /** CPU seconds of the S3 server during the run. */
  server: number;
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The model's manifest bytes and the shards' bytes (what every method must bring into memory). */
function shardBytes(dir: string): number {
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { files: { path: string; size: number }[] };
  return manifest.files.filter((f) => f.path.endsWith(".safetensors")).reduce((n, f) => n + f.size, 0);
}

async function main(): Promise<void> {
  if (!existsSync("/usr/bin/aws")) throw new Error("/usr/bin/aws missing: run `bash scripts/toolchain.sh bench` first");
  const python = venvPython("bench/requirements.txt", "bench");
  const mirrorPython = venvPython("test/python/requirements.txt", "python");
  const preload = strategyDefaults.preload();
  const loader =
    (...args: string[]) =>
    (extraEnv: Record<string, string> = {}) =>
      JSON.parse(
        run([python, LOADER, ...args], extraEnv)
          .trim()
          .split("\n")
          .pop() ?? "{}",
      ) as Omit<Measured, "server">;

  rmSync(DIR, { recursive: true, force: true });
  const work = join(DIR, "work");
  const model = join(work, "model");
  const generated = loader("generate", model, String(SIZE_GIB))() as unknown as { shards: number; tensors: number; bytes: number };
  writeMirrorManifests(mirrorPython, work, preload.partSizeMiB);
  const s3Root = join(DIR, "s3");
  mkdirSync(s3Root, { recursive: true });
  const s3 = await startS3(s3Root);
  try {
    const preloadFlags = s5cmdCopyFlags(preload);
    const s3Env = { AWS_ENDPOINT_URL: s3.endpoint, BUCKET, PREFIX };
    run(`s5cmd --endpoint-url ${s3.endpoint} mb s3://${BUCKET}`);
    run(...mirrorUpload(mirrorPython, work, s3.endpoint, preload.concurrency));
    const bytes = shardBytes(work);
    const uri = `s3://${BUCKET}/${PREFIX}`;
    const dest = join(DIR, "node-cache");
    const naiveDest = join(DIR, "naive");

    // The program's rendering: the streamer env of s3StreamingModelCache (R2/MinIO path-style) and
    // the --model-loader-extra-config vLLM gets.
    const settings = strategyDefaults.s3Streaming();
    // A server pod with this machine's CPUs; the sweep keeps the streamer's own 8 MiB requests.
    const reads = streamerReads(settings, { cpu: String(cpus().length), gpus: 1 } as ModelConfig);
    const streamEnv = {
      ...Object.fromEntries(streamerEnv(settings, true, reads).map((e) => [e.name, e.value])),
      ...ACCESS,
      AWS_ENDPOINT_URL: s3.endpoint,
    };
    const stream =
      (concurrency: number, chunkBytes: number, memoryLimitBytes = settings.memoryLimitBytes) =>
      () =>
        loader(
          "stream",
          uri,
          runaiExtraConfig({ kind: "s3", uri, concurrency, memoryLimitBytes }, 1),
          model,
        )({
          ...streamEnv,
          RUNAI_STREAMER_CHUNK_BYTESIZE: String(chunkBytes),
        });
    const programDefault = `s3Streaming c=${reads.concurrency} chunk ${reads.chunkBytes >> 20} MiB *`;

    // This VM's cost of faulting in fresh memory, which a GPU node does not pay at this rate: measured
    // on memory never used since boot, then the same amount again once the guest has used it all.
    const availableGiB = Number(/MemAvailable:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0) / 2 ** 20;
    const warmGiB = Number(process.env.BENCH_FIRST_TOUCH_GIB ?? Math.max(1, Math.floor(availableGiB - 3)));
    const fresh = JSON.parse(run([python, LOADER, "first-touch", String(warmGiB)])) as { first: number; again: number; bytes: number };
    const reused = JSON.parse(run([python, LOADER, "first-touch", "2"])) as { first: number; again: number; bytes: number };

    const backing = join(s3Root, BUCKET, PREFIX);
    const safetensorsLoad = loader("safetensors", dest);
    const preloadOnly: number[] = [];
    const methods: Record<string, () => Omit<Measured, "server">> = {
      limit: () => loader("raw", backing)(),
      ...Object.fromEntries(SWEEP.map((c) => [`s3Streaming c=${c} chunk 8 MiB`, stream(c, 8 << 20)])),
      // The program's default for this CPU count, and with the CPU buffer capped (40 GB by default).
      [programDefault]: stream(reads.concurrency, reads.chunkBytes),
      [`s3Streaming c=${reads.concurrency} chunk ${reads.chunkBytes >> 20} MiB memory_limit 1 GiB`]: stream(
        reads.concurrency,
        reads.chunkBytes,
        2 ** 30,
      ),
      "preload+load": () => {
        rmSync(dest, { recursive: true, force: true });
        const copy = loader("exec", "--", "python3", "-c", PRELOAD.text, ...preloadFlags.split(" "))({ ...s3Env, DEST: dest });
        // The engine starts on the same node right after: the preload's pages may still be cached.
        const load = safetensorsLoad();
        preloadOnly.push(copy.wall);
        return { wall: copy.wall + load.wall, user: copy.user + load.user, sys: copy.sys + load.sys };
      },
      "warm cache": () => safetensorsLoad(),
      naive: () => {
        rmSync(naiveDest, { recursive: true, force: true });
        const copy = loader(
          "exec",
          "--",
          "/usr/bin/aws",
          "--endpoint-url",
          s3.endpoint,
          "s3",
          "cp",
          "--recursive",
          "--only-show-errors",
          `${uri}/`,
          `${naiveDest}/`,
        )();
        const load = loader("safetensors", naiveDest)();
        return { wall: copy.wall + load.wall, user: copy.user + load.user, sys: copy.sys + load.sys };
      },
      "bare copy": () => {
        rmSync(join(DIR, "bare"), { recursive: true, force: true });
        return loader(
          "exec",
          "--",
          "s5cmd",
          "--endpoint-url",
          s3.endpoint,
          ...preloadFlags.split(" "),
          `${uri}/*`,
          `${join(DIR, "bare")}/`,
        )();
      },
    };
    // The warm-cache load needs a filled node cache before its first turn.
    loader("exec", "--", "python3", "-c", PRELOAD.text, ...preloadFlags.split(" "))({ ...s3Env, DEST: dest });

    console.log(
      `# time to weights: ${(bytes / 2 ** 30).toFixed(2)} GiB of safetensors (${generated.shards} shards, ${generated.tensors} bf16 tensors), ${ROUNDS} rounds, page cache ${canDropCaches ? "dropped before each run" : "NOT dropped (not root)"}`,
    );
    console.log(
      `# machine: ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; versitygw (posix) on loopback`,
    );
    console.log(
      `# this VM faults in fresh memory at ${rate(fresh.first, fresh.bytes)} (${warmGiB} GiB never used since boot; rewriting it: ${rate(fresh.again, fresh.bytes)}); once used, a fresh 2 GiB allocation faults in at ${rate(reused.first, reused.bytes)}\n`,
    );

    const results: Record<string, Measured[]> = Object.fromEntries(Object.keys(methods).map((k) => [k, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = Object.keys(methods);
      if (round % 2 === 1) order.reverse();
      for (const name of order) {
        dropCaches();
        const server = cpuSeconds(s3.pid);
        const m = methods[name]();
        results[name].push({ ...m, server: cpuSeconds(s3.pid) - server });
        console.error(`round ${round + 1}: ${name} ${m.wall.toFixed(2)} s`);
      }
    }

    // The s3Streaming pod's init step, before the engine starts (cold page cache on the server):
    // a signed HEAD per object, size and stored SHA-256 compared; no object's data is read.
    const verify = Array.from({ length: ROUNDS }, () => {
      dropCaches();
      return loader("exec", "--", "python3", "-c", VERIFY_STREAMED.text)({ ...s3Env, S3_PATH_STYLE: "1" }).wall;
    });
    const objects = (JSON.parse(readFileSync(join(work, "manifest.json"), "utf8")) as { files: unknown[] }).files.length;

    const med = (name: string, key: keyof Measured) => median(results[name].map((r) => r[key]));
    const limit = med("limit", "wall");
    console.log("| method | median | rate | × limit | user CPU | sys CPU | S3 server CPU | runs |");
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const name of Object.keys(methods)) {
      const wall = med(name, "wall");
      const cells = [
        name,
        `${wall.toFixed(2)} s`,
        rate(wall, bytes),
        `${(limit / wall).toFixed(2)}×`,
        `${med(name, "user").toFixed(1)} s`,
        `${med(name, "sys").toFixed(1)} s`,
        `${med(name, "server").toFixed(1)} s`,
        results[name].map((r) => r.wall.toFixed(1)).join(" "),
      ];
      console.log(`| ${cells.join(" | ")} |`);
    }
    const streamed = programDefault;
    const best = Object.keys(methods)
      .filter((n) => n.startsWith("s3Streaming"))
      .sort((a, b) => med(a, "wall") - med(b, "wall"))[0];
    console.log("\n## ratios (medians)");
    if (results[streamed]) {
      console.log(`streaming (default) vs the limit:  ${(limit / med(streamed, "wall")).toFixed(2)}×   (goal ≥ 0.8×)`);
      console.log(`streaming (default) vs naive:      ${(med("naive", "wall") / med(streamed, "wall")).toFixed(2)}× faster   (goal ≥ 2×)`);
    }
    console.log(`fastest streamer setting:          ${best} (${(limit / med(best, "wall")).toFixed(2)}× the limit)`);
    console.log(
      `preload verification overhead:     +${((median(preloadOnly) / med("bare copy", "wall") - 1) * 100).toFixed(0)}% (the preload Job ${median(preloadOnly).toFixed(2)} s vs the bare copy; goal ≤ 5%)`,
    );
    console.log(
      `s3Streaming's object check:         ${median(verify).toFixed(2)} s before the engine starts, ${objects} objects: size + stored SHA-256 (runs ${verify.map((v) => v.toFixed(2)).join(" ")}; goal < 2 s for 16 GiB: it reads no data, so its cost follows the object count, not the bytes)`,
    );
    console.log(`preload+load vs streaming (best):  ${(med("preload+load", "wall") / med(best, "wall")).toFixed(2)}× the time`);
  } finally {
    s3.stop();
    rmSync(DIR, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(`bench:load: ${error.message}`);
  process.exit(1);
});
