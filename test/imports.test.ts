/**
 * The program's import graph (every relative import of `index.ts` and `components/`, types
 * included, read with the TypeScript compiler's own pre-processor): no circle, and the rooms below
 * import nothing from the rooms above them.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") && !path.endsWith(".test.ts") ? [path] : [];
  });
}

/** File (relative to the repo) → the files it imports. */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((spec) => spec.startsWith("."))
      .map((spec) => {
        const base = resolve(dirname(file), spec);
        const candidates = [`${base}.ts`, join(base, "index.ts")];
        return candidates.find((c) => files.includes(c)) ?? `${base} (unresolved)`;
      });
    graph.set(relative(ROOT, file), [...new Set(targets.map((t) => relative(ROOT, t)))]);
  }
  return graph;
}

/** Every circle in the graph, each once, as the files around it (Tarjan's strongly connected components). */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = importGraph([join(ROOT, "index.ts"), ...sources(join(ROOT, "components"))]);

/** The imports of files under `room` that reach anything but `allowed`. */
function importsOutside(room: string, allowed: (target: string) => boolean): string[] {
  return [...graph]
    .filter(([file]) => file.startsWith(room))
    .flatMap(([file, targets]) => targets.filter((t) => !allowed(t)).map((t) => `${file} → ${t}`));
}

describe("the import graph", () => {
  it("resolves every relative import to a program file", () => {
    expect([...graph.values()].flat().filter((t) => t.endsWith("(unresolved)"))).toEqual([]);
    expect(graph.size).toBeGreaterThan(40);
  });

  it("has no circle", () => {
    expect(circles(graph)).toEqual([]);
  });

  it("finds a circle where there is one (the check itself)", () => {
    const looped = new Map(graph);
    looped.set("components/naming.ts", [...(graph.get("components/naming.ts") ?? []), "components/mirror/modelMirror.ts"]);
    expect(circles(looped).flat()).toContain("components/mirror/modelMirror.ts");
  });

  it("config/ imports only config/ and the leaves below it (images, names, Hub constants): never an engine, strategy or server", () => {
    const leaves = ["components/images.ts", "components/naming.ts", "components/hub.ts"];
    expect(importsOutside("components/config/", (t) => t.startsWith("components/config/") || leaves.includes(t))).toEqual([]);
  });

  it("the mirror imports nothing of the serving or storage layers it fills", () => {
    expect(
      importsOutside("components/mirror/", (t) => !t.startsWith("components/serving/") && !t.startsWith("components/storage/")),
    ).toEqual([]);
  });

  it("the leaves import only the config schema", () => {
    for (const leaf of ["components/images.ts", "components/naming.ts", "components/hub.ts", "components/budgets.ts"]) {
      expect(
        graph.get(leaf)?.filter((t) => t !== "components/config/schema.ts"),
        leaf,
      ).toEqual([]);
    }
  });
});
