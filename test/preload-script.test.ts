/**
 * Runs the real preload script (Python, as in the Job's image) against a fake `s5cmd` that serves a
 * local directory as the bucket, to prove the data path: copy, sha256 verification as files land,
 * resume, atomic publish, loud failure.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PRELOAD_PY, s5cmdCopyFlags } from "../components/mirror/scripts";

// A stand-in for s5cmd against $FAKE_BUCKET: `cat`, `cp` of one object, and `cp prefix/* dest/`
// that skips same-size files (--if-size-differ) and prints a --json line per copied file.
const FAKE_S5CMD = `#!/bin/sh
json=0
while [ "$#" -gt 0 ]; do
  case "$1" in --json) json=1; shift;; --endpoint-url|--numworkers) shift 2;; cat|cp) op="$1"; shift; break;; *) shift;; esac
done
if [ "$op" = cat ]; then cat "$FAKE_BUCKET/\${1#s3://}"; exit $?; fi
while [ "$#" -gt 2 ]; do shift; done
src="\${1#s3://}"; dst="$2"
case "$src" in
  */\\*)
    dir="$FAKE_BUCKET/\${src%/\\*}"
    (cd "$dir" && find . -type f) | while read -r f; do
      f="\${f#./}"
      if [ -f "$dst$f" ] && [ "$(wc -c < "$dir/$f")" = "$(wc -c < "$dst$f")" ]; then continue; fi
      mkdir -p "$(dirname "$dst$f")"; cp "$dir/$f" "$dst$f"
      if [ "$json" = 1 ]; then printf '{"operation":"cp","success":true,"destination":"%s"}\\n' "$dst$f"; fi
    done ;;
  *) cp "$FAKE_BUCKET/$src" "$dst" ;;
esac
`;

// The interpreter itself, not a version-manager shim.
const PYTHON = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();

const FILES: Record<string, string> = {
  "model-00001-of-00002.safetensors": "weights-1",
  "model-00002-of-00002.safetensors": "weights-2",
  "config.json": "{}",
  "original/params.json": '{"dim": 1}',
};

function setup(bucketFiles: Record<string, string> = FILES) {
  const dir = mkdtempSync(join(tmpdir(), "preload-"));
  const bin = join(dir, "bin");
  const prefix = join(dir, "bucket", "b", "models", "org", "m", "rev");
  mkdirSync(bin);
  mkdirSync(join(prefix, "original"), { recursive: true });
  writeFileSync(join(bin, "s5cmd"), FAKE_S5CMD);
  chmodSync(join(bin, "s5cmd"), 0o755);
  let sums = "";
  for (const [name, content] of Object.entries(FILES)) {
    if (name in bucketFiles) writeFileSync(join(prefix, name), bucketFiles[name]);
    sums += `${createHash("sha256").update(content).digest("hex")}  ${name}\n`;
  }
  writeFileSync(join(prefix, "manifest.sha256"), sums);
  writeFileSync(join(prefix, "manifest.json"), JSON.stringify({ repo: "org/m", revision: "rev" }));
  const dest = join(dir, "models", "org", "m", "rev");
  const run = () =>
    execFileSync(PYTHON, ["-c", PRELOAD_PY, ...s5cmdCopyFlags({ numWorkers: 4, concurrency: 2, partSizeMiB: 8 }).split(" ")], {
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        FAKE_BUCKET: join(dir, "bucket"),
        BUCKET: "b",
        PREFIX: "models/org/m/rev",
        DEST: dest,
        CAPACITY_SETTING: "llm-serving:models[0].sizeGiB",
        AWS_ENDPOINT_URL: "http://x",
      },
      encoding: "utf8",
      stdio: "pipe",
    });
  const failure = () => {
    try {
      run();
    } catch (error) {
      const { stdout, stderr } = error as { stdout: string; stderr: string };
      return `${stdout}${stderr}`;
    }
    throw new Error("the preload succeeded");
  };
  return { dest, run, failure, prefix };
}

describe("preload script", () => {
  it("copies, verifies every sha256, publishes atomically with a marker, and is a no-op the second time", () => {
    const { dest, run } = setup();
    expect(run()).toContain("verified (4 files)");
    expect(readFileSync(join(dest, "model-00002-of-00002.safetensors"), "utf8")).toBe("weights-2");
    expect(readFileSync(join(dest, "original", "params.json"), "utf8")).toBe('{"dim": 1}');
    expect(existsSync(join(dest, ".verified"))).toBe(true);
    expect(existsSync(`${dest}.partial`)).toBe(false);
    expect(run()).toContain("already present and verified");
  });

  it("fails loudly on a checksum mismatch, never publishes, and removes the bad file for the retry", () => {
    const { dest, failure } = setup({ ...FILES, "config.json": "[]" });
    const output = failure();
    expect(output).toContain("config.json: FAILED");
    expect(output).toContain("FATAL: sha256 verification failed");
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(join(`${dest}.partial`, "config.json"))).toBe(false);
    expect(existsSync(join(`${dest}.partial`, "model-00001-of-00002.safetensors"))).toBe(true);
  });

  it("resumes: files kept from an earlier attempt are checked too, and a bad one is fetched again", () => {
    const { dest, run, failure } = setup();
    const part = `${dest}.partial`;
    mkdirSync(part, { recursive: true });
    writeFileSync(join(part, "model-00001-of-00002.safetensors"), "weights-1"); // good, same size: skipped by the copy
    writeFileSync(join(part, "model-00002-of-00002.safetensors"), "weights-X"); // corrupt, same size: skipped too
    expect(failure()).toContain("model-00002-of-00002.safetensors: FAILED");
    expect(run()).toContain("verified (4 files)");
    expect(readFileSync(join(dest, "model-00002-of-00002.safetensors"), "utf8")).toBe("weights-2");
  });

  it("publishes exactly the manifest's files: a killed copy's temp file is removed, not served", () => {
    const { dest, run } = setup();
    const part = `${dest}.partial`;
    mkdirSync(join(part, "original"), { recursive: true });
    // What s5cmd leaves when killed mid-download: its temp file beside the destination.
    writeFileSync(join(part, "model-00001-of-00002.safetensors1031076397"), "half a shard");
    writeFileSync(join(part, "original", "consolidated.00.pth8812"), "partial");
    expect(run()).toContain("verified (4 files)");
    const published = execFileSync("find", [".", "-type", "f"], { cwd: dest, encoding: "utf8" }).split("\n").filter(Boolean).sort();
    expect(published).toEqual(
      [
        "./.verified",
        "./config.json",
        "./manifest.json",
        "./manifest.sha256",
        "./model-00001-of-00002.safetensors",
        "./model-00002-of-00002.safetensors",
        "./original/params.json",
      ].sort(),
    );
  });

  it("refuses before copying when the volume cannot hold the model, with both numbers and the key to raise", () => {
    const { dest, prefix, run, failure } = setup();
    // manifest.json as the mirror writes it: every file with its size (here: more than any disk).
    const files = Object.keys(FILES).map((path, i) => ({ path, size: i === 0 ? 2 ** 50 : 10, sha256: "-" }));
    writeFileSync(join(prefix, "manifest.json"), JSON.stringify({ repo: "org/m", revision: "rev", files }));
    const output = failure();
    expect(output).toMatch(
      /FATAL: s3:\/\/b\/models\/org\/m\/rev needs 1048576\.0 GiB more \(4 files, 1048576\.0 GiB\) but \S+ has [0-9.]+ GiB free; raise llm-serving:models\[0\]\.sizeGiB/,
    );
    expect(existsSync(join(`${dest}.partial`, "config.json"))).toBe(false);
    // Sizes that fit: the same manifest passes the check and the copy runs.
    writeFileSync(
      join(prefix, "manifest.json"),
      JSON.stringify({ repo: "org/m", revision: "rev", files: files.map((f) => ({ ...f, size: 9 })) }),
    );
    expect(run()).toContain("verified (4 files)");
  });

  it("fails on a file the manifest lists but the bucket lacks", () => {
    const { "config.json": _missing, ...rest } = FILES;
    const { failure } = setup(rest);
    expect(failure()).toMatch(/config\.json: FAILED \(sha256 unreadable/);
  });

  it("refuses a prefix whose mirror has not written manifest.json", () => {
    const { failure, prefix } = setup();
    rmSync(join(prefix, "manifest.json"));
    expect(failure()).toContain("manifest.json is missing: the mirror has not completed");
  });
});
