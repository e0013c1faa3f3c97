/**
 * How fast weights get into the bucket and from it onto a node, side by side in one run:
 *   upload    the mirror Job's upload step (every part with its SHA-256), next to the earlier
 *             s5cmd upload with the same concurrency and part size, and its hashing pass (file and
 *             part digests) next to a file-only sha256
 *   ours      the copy line of the preload Job (s5cmd, the Job's flags), for several flag sets
 *   aws-cli   `aws s3 sync` (Debian's awscli, default settings), what users would reach for
 *   raw copy  `cp -r` of the same bytes from the S3 server's backing directory (disk read → write)
 *   preload   the Job's whole preload script (Python: copy, sha256 of each file as it lands,
 *             atomic publish), next to the earlier shell way in the s5cmd image alone: copy,
 *             then `sha256sum -c` with busybox
 * against a real S3 server (versitygw, posix backend) on loopback, with a synthetic model shaped
 * like a real one. Page cache is dropped before every run when we are root.
 *
 *   npm run bench:transfer            (BENCH_SIZE_GIB=4.5 BENCH_ROUNDS=3 BENCH_DIR=/tmp/...)
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { PRELOAD, s5cmdCopyFlags } from "../components/scripts";
import { strategyDefaults } from "../components/config/schema";
import { median } from "../scripts/localTools";
import {
  BUCKET,
  canDropCaches,
  dropCaches,
  fmt,
  mirrorUpload,
  PREFIX,
  run,
  startS3,
  timed,
  venvPython,
  writeMirrorManifests,
} from "./s3bench";

const SIZE_GIB = Number(process.env.BENCH_SIZE_GIB ?? "4.5");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? "3");
const DIR = process.env.BENCH_DIR ?? "/tmp/llm-serving-bench";

type Flags = { numWorkers: number; concurrency: number; partSizeMiB: number };
/** Flag sets tried for the copy: s5cmd's own defaults, the Job defaults, and neighbours. */
const CANDIDATES: Flags[] = [
  { numWorkers: 256, concurrency: 5, partSizeMiB: 50 },
  { ...strategyDefaults.preload() },
  { numWorkers: 64, concurrency: 16, partSizeMiB: 64 },
  { numWorkers: 64, concurrency: 8, partSizeMiB: 64 },
  { numWorkers: 64, concurrency: 64, partSizeMiB: 16 },
  { numWorkers: 64, concurrency: 8, partSizeMiB: 128 },
  { numWorkers: 64, concurrency: 32, partSizeMiB: 32 },
  { numWorkers: 32, concurrency: 4, partSizeMiB: 128 },
].filter((f, i, all) => all.findIndex((g) => s5cmdCopyFlags(g) === s5cmdCopyFlags(f)) === i);

const sh = (script: string) => void run(script);

/** Seconds of a step run here, page cache dropped first. */
function timedIn(step: () => void): number {
  dropCaches();
  const start = process.hrtime.bigint();
  step();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Writes `bytes` of random data (a shard) without holding it in memory. */
function randomFile(path: string, bytes: number): void {
  const fd = openSync(path, "w");
  const chunk = 16 << 20;
  for (let written = 0; written < bytes; written += chunk) writeSync(fd, randomBytes(Math.min(chunk, bytes - written)));
  closeSync(fd);
}

/** A model directory like a Hub snapshot: safetensors shards, index, configs, tokenizer. */
function syntheticModel(dir: string): number {
  mkdirSync(dir, { recursive: true });
  const total = Math.round(SIZE_GIB * 2 ** 30);
  const shards = Math.max(2, Math.ceil(SIZE_GIB / 2));
  const shardBytes = Math.floor(total / shards);
  const names = Array.from(
    { length: shards },
    (_, i) => `model-${String(i + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`,
  );
  names.forEach((name, i) => randomFile(join(dir, name), i === shards - 1 ? total - shardBytes * (shards - 1) : shardBytes));
  const weightMap = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`model.layers.${i}.weight`, names[i % shards]]));
  writeFileSync(
    join(dir, "model.safetensors.index.json"),
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 1),
  );
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({ architectures: ["Qwen2ForCausalLM"], hidden_size: 3584, num_hidden_layers: 28 }),
  );
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ do_sample: true, temperature: 0.7 }));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ model_max_length: 32768 }));
  randomFile(join(dir, "tokenizer.json"), 7 << 20);
  randomFile(join(dir, "merges.txt"), 1600 << 10);
  return total;
}

async function main(): Promise<void> {
  if (!existsSync("/usr/bin/aws"))
    throw new Error("/usr/bin/aws missing: run `bash scripts/toolchain.sh bench` (installs Debian's awscli)");
  rmSync(DIR, { recursive: true, force: true });
  const source = join(DIR, "source", "model");
  const bytes = syntheticModel(source);
  const s3Root = join(DIR, "s3");
  mkdirSync(s3Root, { recursive: true });
  const s3 = await startS3(s3Root);
  const s5 = `s5cmd --endpoint-url ${s3.endpoint}`;
  const jobFlags = s5cmdCopyFlags(strategyDefaults.preload());
  try {
    const preload = strategyDefaults.preload();
    const work = join(DIR, "source");
    const mirrorPython = venvPython("test/python/requirements.txt", "python");
    const hashing = {
      "the Job's (file + part digests)": () => timedIn(() => writeMirrorManifests(mirrorPython, work, preload.partSizeMiB)),
      "sha256 of each file only": () =>
        timedIn(() =>
          run([
            mirrorPython,
            "-c",
            "import concurrent.futures as c, hashlib, os, pathlib, sys\nfiles = sorted(p for p in pathlib.Path(sys.argv[1]).iterdir() if p.is_file())\nwith c.ThreadPoolExecutor(os.cpu_count()) as pool: list(pool.map(lambda p: hashlib.file_digest(p.open('rb'), 'sha256'), files))",
            source,
          ]),
        ),
    };
    const backing = join(s3Root, BUCKET, PREFIX);
    const [jobUpload, uploadEnv] = mirrorUpload(mirrorPython, work, s3.endpoint, preload.concurrency);
    const uploads = {
      "the Job (mirror_upload.py, SHA-256 per part)": () => (
        rmSync(backing, { recursive: true, force: true }),
        timed(jobUpload, uploadEnv)
      ),
      "s5cmd cp (the earlier upload)": () => (
        rmSync(backing, { recursive: true, force: true }),
        timed(
          `${s5} --numworkers ${preload.numWorkers} cp --concurrency ${preload.concurrency} --part-size ${preload.partSizeMiB} --exclude "manifest*" "${source}/*" "s3://${BUCKET}/${PREFIX}/"\n${s5} cp "${source}/manifest.sha256" "s3://${BUCKET}/${PREFIX}/"\n${s5} cp "${work}/manifest.json" "s3://${BUCKET}/${PREFIX}/"`,
        )
      ),
    };
    sh(`${s5} mb s3://${BUCKET}`);
    writeMirrorManifests(mirrorPython, work, preload.partSizeMiB);
    const dest = join(DIR, "dest");
    const fresh = () => rmSync(dest, { recursive: true, force: true });

    const python = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
    const preloadEnv = { DEST: dest, BUCKET, PREFIX, AWS_ENDPOINT_URL: s3.endpoint };
    const copy = (flags: Flags) =>
      `mkdir -p "${dest}"\n${s5} ${s5cmdCopyFlags(flags)} --if-size-differ "s3://${BUCKET}/${PREFIX}/*" "${dest}/"`;
    const methods: Record<string, () => number> = {
      "ours (Job flags)": () => (fresh(), timed(copy(strategyDefaults.preload()))),
      "aws-cli": () => (
        fresh(),
        timed(`/usr/bin/aws --endpoint-url ${s3.endpoint} s3 sync --only-show-errors "s3://${BUCKET}/${PREFIX}/" "${dest}/"`)
      ),
      "raw copy": () => (fresh(), timed(`cp -r "${backing}" "${dest}"`)),
      "preload (the Job)": () => (fresh(), timed([python, "-c", PRELOAD.text, ...jobFlags.split(" ")], preloadEnv)),
      "copy, then busybox sha256sum -c": () => (
        fresh(),
        timed(`${copy(strategyDefaults.preload())}\ncd "${dest}" && /usr/bin/busybox sha256sum -c manifest.sha256 > /dev/null`)
      ),
    };

    console.log(
      `# transfer benchmark: ${(bytes / 2 ** 30).toFixed(2)} GiB synthetic model, ${ROUNDS} rounds, page cache ${canDropCaches ? "dropped before each run" : "NOT dropped (not root)"}`,
    );
    console.log(
      `# machine: ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; S3 server versitygw (posix) on loopback\n`,
    );

    const side = (title: string, methods: Record<string, () => number>, bytesMoved: number) => {
      console.log(`## ${title} (alternating order each round)`);
      const runs: Record<string, number[]> = Object.fromEntries(Object.keys(methods).map((k) => [k, []]));
      for (let round = 0; round < ROUNDS; round++) {
        const order = Object.keys(methods);
        if (round % 2 === 1) order.reverse();
        for (const name of order) runs[name].push(methods[name]());
      }
      for (const [name, r] of Object.entries(runs))
        console.log(`${name.padEnd(46)} ${fmt(median(r), bytesMoved)}  runs ${r.map((x) => x.toFixed(2)).join(" ")}`);
      return Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
    };
    const hashed = side("the mirror's hashing pass, page cache dropped", hashing, bytes);
    // Uploads last the Job's, so the bucket holds what the mirror Job leaves.
    const uploaded = side(`mirror upload, concurrency ${preload.concurrency}, ${preload.partSizeMiB} MiB parts`, uploads, bytes);
    run(jobUpload, uploadEnv);
    console.log("");

    console.log(`## s5cmd flag sets (${ROUNDS} runs each, interleaved; the first row is s5cmd's own defaults, * the Job's)`);
    const tuning = CANDIDATES.map((flags) => ({ flags, runs: [] as number[] }));
    for (let round = 0; round < ROUNDS; round++) for (const t of tuning) t.runs.push((fresh(), timed(copy(t.flags))));
    const best = [...tuning].sort((a, b) => median(a.runs) - median(b.runs))[0];
    for (const t of tuning) {
      const flags = s5cmdCopyFlags(t.flags);
      console.log(
        `${flags === jobFlags ? "*" : " "} ${flags.padEnd(56)} ${fmt(median(t.runs), bytes)}  runs ${t.runs.map((r) => r.toFixed(2)).join(" ")}`,
      );
    }

    console.log("");
    const m = side("side by side", methods, bytes);

    // What one core hashes: the verification tools a preload image may have (largest shard, warm cache).
    console.log("\n## sha256 throughput per core (largest shard, page cache warm)");
    const shard = join(source, "model-00001-of-" + String(Math.max(2, Math.ceil(SIZE_GIB / 2))).padStart(5, "0") + ".safetensors");
    sh(`cat "${shard}" > /dev/null`);
    const hashers: Record<string, string> = {
      "sha256sum (GNU coreutils)": `sha256sum "${shard}"`,
      "sha256sum (busybox)": `/usr/bin/busybox sha256sum "${shard}"`,
      "openssl dgst -sha256": `openssl dgst -sha256 "${shard}"`,
      "python3 hashlib": `python3 -c 'import hashlib,sys; h=hashlib.sha256(); f=open(sys.argv[1],"rb"); [h.update(c) for c in iter(lambda: f.read(1<<24), b"")]' "${shard}"`,
    };
    const shardBytes = statSync(shard).size;
    for (const [name, command] of Object.entries(hashers)) {
      const runs = [0, 1, 2].map(() => {
        const start = process.hrtime.bigint();
        sh(command);
        return Number(process.hrtime.bigint() - start) / 1e9;
      });
      console.log(`${name.padEnd(26)} ${fmt(median(runs), shardBytes)}`);
    }

    console.log("\n## ratios (medians)");
    console.log(`ours vs aws-cli:                 ${(m["aws-cli"] / m["ours (Job flags)"]).toFixed(2)}× faster   (goal ≥ 3×)`);
    console.log(`ours vs raw copy (rate):         ${(m["raw copy"] / m["ours (Job flags)"]).toFixed(2)}× of the raw rate   (goal ≥ 0.85×)`);
    const overhead = (method: string) => `+${((m[method] / m["ours (Job flags)"] - 1) * 100).toFixed(0)}%`;
    console.log(`verification overhead, the Job:  ${overhead("preload (the Job)")} (copy + sha256 as files land + publish, vs copy)`);
    console.log(`verification overhead, busybox:  ${overhead("copy, then busybox sha256sum -c")} (copy, then sha256sum -c, vs copy)`);
    console.log(`fastest flag set (median):       ${s5cmdCopyFlags(best.flags)} (${fmt(median(best.runs), bytes).trim()})`);
    const [job, s5up] = Object.values(uploaded);
    console.log(`mirror upload, the Job vs s5cmd: ${(s5up / job).toFixed(2)}× the rate (checksummed parts vs none)`);
    const [parts, plain] = Object.values(hashed);
    console.log(`hashing pass, part digests cost: +${((parts / plain - 1) * 100).toFixed(0)}% over sha256 of each file only`);
  } finally {
    s3.stop();
    rmSync(DIR, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(`bench:transfer: ${error.message}`);
  process.exit(1);
});
