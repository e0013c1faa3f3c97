/** Helpers shared by the main job, the integration tests and the benchmarks. */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";

/** Where `scripts/toolchain.sh` puts its binaries ($LLM_SERVING_CACHE/toolchain/bin). */
export function toolchainBinDir(): string {
  return join(process.env.LLM_SERVING_CACHE ?? join(process.env.HOME ?? "/root", ".cache", "llm-serving"), "toolchain", "bin");
}

/** What `scripts/toolchain.sh pulumi` puts in the bin dir: the CLI and the two provider plugins. */
export const PULUMI_TOOLCHAIN = ["pulumi", "pulumi-resource-kubernetes", "pulumi-resource-random"] as const;

/** One object of a directory of rendered manifests (`renderYamlToDirectory`). */
export interface RenderedManifest {
  /** The file, relative to the directory. */
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

/** Every object in every YAML file under `dir` (none when it does not exist); throws on bad YAML. */
export function renderedManifests(dir: string): RenderedManifest[] {
  const found: RenderedManifest[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d).sort()) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry)) {
        for (const doc of parseAllDocuments(readFileSync(path, "utf8"))) {
          if (doc.errors.length) throw new Error(`${path}: ${doc.errors[0].message}`);
          const o = doc.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } | null;
          if (o)
            found.push({
              file: relative(dir, path),
              apiVersion: o.apiVersion,
              kind: o.kind,
              name: o.metadata.name,
              namespace: o.metadata.namespace,
            });
        }
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return found;
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
