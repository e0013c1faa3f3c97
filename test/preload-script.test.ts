/**
 * Runs the real preload script against a fake `s5cmd` that serves a local directory as the bucket,
 * to prove the data path: copy, sha256 verification, atomic publish, loud failure. Twice: with
 * /bin/sh + coreutils, and with busybox's sh and applets (what the Alpine-based s5cmd image has).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { preloadSh, s5cmdCopyFlags } from "../components/mirror/scripts";

// A stand-in for s5cmd: `cat s3://b/p/f` and `cp ... s3://b/p/* dest/` against $FAKE_BUCKET.
const FAKE_S5CMD = `#!/bin/sh
while [ "$#" -gt 0 ]; do case "$1" in cat|cp) op="$1"; shift; break;; *) shift;; esac; done
if [ "$op" = cat ]; then path="\${1#s3://}"; cat "$FAKE_BUCKET/$path"; exit $?; fi
while [ "$#" -gt 2 ]; do shift; done
src="\${1#s3://}"; src="\${src%/\\*}"; cp -R "$FAKE_BUCKET/$src/." "$2"
`;

/** A directory of busybox applet links, or undefined when busybox is not installed. */
function busyboxApplets(): string | undefined {
  const busybox = ["/usr/bin/busybox", "/bin/busybox"].find(existsSync);
  if (!busybox) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "busybox-"));
  execFileSync(busybox, ["--install", "-s", dir]);
  return dir;
}

/** busybox applets plus python3 and without sha256sum: the script must hash with Python's hashlib. */
function pythonApplets(): string | undefined {
  const dir = busyboxApplets();
  // The interpreter itself, not a version-manager shim that needs bash.
  const python = execFileSync("/bin/sh", ["-c", "python3 -c 'import sys; print(sys.executable)' 2> /dev/null || true"], {
    encoding: "utf8",
  }).trim();
  if (!dir || !python) return undefined;
  rmSync(join(dir, "sha256sum"));
  symlinkSync(python, join(dir, "python3"));
  return dir;
}

// /bin/sh + coreutils hash with openssl when the host has it; busybox with its sha256sum.
const SHELLS: Array<[string, string | undefined]> = [["/bin/sh + coreutils", undefined]];
const applets = busyboxApplets();
const pythonOnly = pythonApplets();
if (applets && pythonOnly) SHELLS.push(["busybox", applets], ["busybox + python3 hashlib", pythonOnly]);
// .ci/run installs busybox and sets this, so the busybox runs can never be skipped silently there.
else if (process.env.LLM_SERVING_REQUIRE_BUSYBOX) throw new Error("busybox is required here: apt-get install busybox-static");

function setup(corrupt = false, appletDir?: string) {
  const dir = mkdtempSync(join(tmpdir(), "preload-"));
  const bin = join(dir, "bin");
  const prefix = join(dir, "bucket", "b", "models", "org", "m", "rev");
  mkdirSync(bin);
  mkdirSync(prefix, { recursive: true });
  writeFileSync(join(bin, "s5cmd"), FAKE_S5CMD);
  chmodSync(join(bin, "s5cmd"), 0o755);
  const files: Record<string, string> = {
    "model-00001-of-00002.safetensors": "weights-1",
    "model-00002-of-00002.safetensors": "weights-2",
    "config.json": "{}",
  };
  let sums = "";
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(prefix, name), corrupt && name === "config.json" ? "tampered" : content);
    sums += `${createHash("sha256").update(content).digest("hex")}  ${name}\n`;
  }
  writeFileSync(join(prefix, "manifest.sha256"), sums);
  writeFileSync(join(prefix, "manifest.json"), JSON.stringify({ repo: "org/m", revision: "rev" }));
  const dest = join(dir, "models", "org", "m", "rev");
  const run = () =>
    execFileSync(
      appletDir ? join(appletDir, "sh") : "/bin/sh",
      ["-c", preloadSh(s5cmdCopyFlags({ numWorkers: 4, concurrency: 2, partSizeMiB: 8 }))],
      {
        env: {
          PATH: appletDir ? `${bin}:${appletDir}` : `${bin}:/usr/bin:/bin`,
          FAKE_BUCKET: join(dir, "bucket"),
          BUCKET: "b",
          PREFIX: "models/org/m/rev",
          DEST: dest,
          AWS_ENDPOINT_URL: "http://x",
        },
        encoding: "utf8",
        stdio: "pipe",
      },
    );
  return { dest, run, prefix };
}

describe.each(SHELLS)("preload script (%s)", (_shell, appletDir) => {
  it("copies, verifies every sha256, publishes atomically with a marker, and is a no-op the second time", () => {
    const { dest, run } = setup(false, appletDir);
    expect(run()).toContain("verified (3 files)");
    expect(readFileSync(join(dest, "model-00002-of-00002.safetensors"), "utf8")).toBe("weights-2");
    expect(existsSync(join(dest, ".verified"))).toBe(true);
    expect(existsSync(`${dest}.partial`)).toBe(false);
    expect(run()).toContain("already present and verified");
  });

  it("fails loudly on a checksum mismatch, never publishes, and removes the bad file for the retry", () => {
    const { dest, run } = setup(true, appletDir);
    let output = "";
    try {
      run();
    } catch (error) {
      output = String((error as { stdout: string }).stdout);
    }
    expect(output).toContain("FATAL: sha256 verification failed");
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(join(`${dest}.partial`, "config.json"))).toBe(false);
  });

  it("refuses a prefix whose mirror has not written manifest.json", () => {
    const { run, prefix } = setup(false, appletDir);
    execFileSync("rm", [join(prefix, "manifest.json")]);
    expect(() => run()).toThrow(/manifest.json is missing/);
  });
});
