/** Helpers shared by the integration tests and the benchmarks: the toolchain's bin dir, a free port. */
import { createServer } from "node:net";
import { join } from "node:path";

/** Where `scripts/toolchain.sh` puts its binaries ($LLM_SERVING_CACHE/toolchain/bin). */
export function toolchainBinDir(): string {
  return join(process.env.LLM_SERVING_CACHE ?? join(process.env.HOME ?? "/root", ".cache", "llm-serving"), "toolchain", "bin");
}

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
