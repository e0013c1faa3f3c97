/**
 * The docs: docs/configuration.md is what `npm run docs` generates from the schema (and prettier
 * leaves it as it is), every key of the schema has a description, every relative link in README.md
 * and docs/*.md points to a file that exists and, with an anchor, to one of its headings, and the
 * README's "what is proven where" table claims a real node for exactly the node suite's scenarios.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { format, resolveConfig } from "prettier";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { SECRET_KEYS } from "../components/config/schema";
import { CONFIGURATION_MD, configKeys, configurationReference, undescribedKeys } from "../scripts/configDocs";

const repo = join(__dirname, "..");

describe("docs/configuration.md", () => {
  it("is what `npm run docs` generates from the schema", () => {
    const actual = existsSync(CONFIGURATION_MD) ? readFileSync(CONFIGURATION_MD, "utf8") : "(missing)";
    expect(actual, "docs/configuration.md is stale: run `npm run docs`").toBe(configurationReference());
  });

  it("is laid out as prettier formats markdown (CI runs prettier --check)", async () => {
    const text = configurationReference();
    const options = (await resolveConfig(CONFIGURATION_MD)) ?? {};
    expect(await format(text, { ...options, filepath: CONFIGURATION_MD })).toBe(text);
  });

  it("says how each secret is set", () => {
    for (const name of SECRET_KEYS) {
      const key = configKeys().find((k) => k.path === name);
      expect(key?.secret, name).toBe(true);
      expect(key?.description, name).toContain(`pulumi config set --secret llm-serving:${name}`);
    }
  });

  it("shows the defaults the schema applies, transforms and parent defaults included", () => {
    const byPath = new Map(configKeys().map((k) => [k.path, k]));
    expect(byPath.get("kubernetes.namespace")?.default).toBe("llm");
    expect(byPath.get("storage.fluid.install.namespace")?.default).toBe("fluid-system");
    expect(byPath.get("storage.juicefs.install.namespace")?.default).toBe("kube-system");
    expect(byPath.get("storage.juicefs.redis.storageSize")?.default).toBe("10Gi");
    expect(byPath.get("models[].revision")?.default).toBe("main");
    expect(byPath.get("models[].sglang.hicache.ratio")?.hasDefault).toBe(false);
    expect(byPath.get("objectStore.provider")?.required).toBe(true);
    expect(byPath.get("kubernetes.tolerations[].effect")?.type).toBe("`NoSchedule` \\| `PreferNoSchedule` \\| `NoExecute`");
  });
});

describe("schema descriptions", () => {
  it("every key of the stack config has a .describe() text", () => {
    const missing = undescribedKeys();
    expect(missing, `keys without a description in components/config/schema.ts: ${missing.join(", ")}`).toEqual([]);
  });

  it("the walk reports undescribed keys at every depth and finds descriptions inside wrappers", () => {
    const schema = z.strictObject({
      described: z.number().default(1).describe("outside the default"),
      inner: z.number().describe("inside the default").default(1),
      bare: z.string(),
      object: z.strictObject({ deep: z.boolean() }).optional().describe("an object"),
      list: z.array(z.strictObject({ element: z.string(), ok: z.string().describe("ok") })).describe("a list"),
      piped: z
        .strictObject({ partial: z.string().describe("inside partial()") })
        .partial()
        .default({})
        .transform((v) => v)
        .describe("a pipe"),
    });
    expect(undescribedKeys(schema)).toEqual(["bare", "object.deep", "list[].element"]);
  });
});

/** The fenced code blocks of a markdown text blanked out (their lines kept). */
function withoutFences(markdown: string): string {
  return markdown.replace(/^ {0,3}(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ {0,3}\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ""));
}

/** The anchors GitHub gives a markdown file's headings. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const match of withoutFences(markdown).matchAll(/^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const text = match[1].replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/<[^>]+>/g, "");
    const slug = text
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/**
 * The relative links of `file` (a repo path) that point nowhere: `read` gives a repo path's text,
 * "" for a directory, undefined where nothing exists.
 */
function brokenLinks(file: string, markdown: string, read: (path: string) => string | undefined): string[] {
  const text = withoutFences(markdown).replace(/`[^`]*`/g, "");
  const broken: string[] = [];
  for (const match of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = match[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [path, anchor] = target.split("#", 2);
    const resolved = path ? posix.normalize(posix.join(posix.dirname(file), decodeURI(path))) : file;
    const content = read(resolved);
    if (content === undefined) broken.push(`${file}: ${target} (no file ${resolved})`);
    else if (anchor !== undefined && resolved.endsWith(".md") && !anchors(content).has(anchor)) {
      broken.push(`${file}: ${target} (no heading #${anchor} in ${resolved})`);
    }
  }
  return broken;
}

const readRepo = (path: string): string | undefined => {
  const full = join(repo, path);
  if (!existsSync(full)) return undefined;
  return statSync(full).isDirectory() ? "" : readFileSync(full, "utf8");
};

describe("links in README.md and docs/", () => {
  const files = [
    "README.md",
    ...readdirSync(join(repo, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];

  it("every relative link points to a file and, with an anchor, to one of its headings", () => {
    const broken = files.flatMap((file) => brokenLinks(file, readFileSync(join(repo, file), "utf8"), readRepo));
    expect(broken).toEqual([]);
  });

  it("the check reports a missing file and a missing heading, and skips code and URLs", () => {
    const docs: Record<string, string> = {
      "docs/a.md": "# A\n\n## The `key` (and more)\n",
      "docs/b.md": [
        "# B",
        "[ok](a.md#the-key-and-more) [up](../README.md) [here](#b) [web](https://example.com/x.md)",
        "[gone](missing.md) [no heading](a.md#nope) [no local heading](#c)",
        "`[in code](missing.md)`",
        "```",
        "[in a block](missing.md)",
        "```",
      ].join("\n"),
      "README.md": "# R\n",
    };
    expect(brokenLinks("docs/b.md", docs["docs/b.md"], (p) => docs[p])).toEqual([
      "docs/b.md: missing.md (no file docs/missing.md)",
      "docs/b.md: a.md#nope (no heading #nope in docs/a.md)",
      "docs/b.md: #c (no heading #c in docs/b.md)",
    ]);
  });
});

describe("README: what is proven where", () => {
  const section = (/## What is proven where\n([\s\S]*?)\n## /.exec(readFileSync(join(repo, "README.md"), "utf8")) ?? ["", ""])[1];
  const rows = section.split("\n").filter((line) => line.startsWith("| `"));
  /** The node suite's scenarios as `strategy × engine` (their titles, and localStack's hostPath × vLLM). */
  const scenarios = [
    "hostPath × vLLM",
    ...[...readFileSync(join(repo, "test/node/strategies.test.ts"), "utf8").matchAll(/^ {4}title: "([^"]+)"/gm)].map((m) => m[1]),
  ].map((title) => /^(.+?) × (vLLM|SGLang)/.exec(title)!.slice(1));

  it("reads the node suite's scenarios", () => expect(scenarios.length).toBeGreaterThanOrEqual(6));

  it.each(scenarios.map(([strategy, engine]) => [`${strategy} × ${engine}`, strategy, engine]))(
    "%s is a real-node row",
    (_, strategy, engine) => {
      const row = rows.find((line) => line.split("|")[1].includes(`\`${strategy}\` × ${engine}`));
      expect(row, `README.md has no row for \`${strategy}\` × ${engine}`).toBeDefined();
      expect(row!.split("|")[2]).toContain("real node");
    },
  );

  it("claims a real node for nothing the node suite does not run", () => {
    for (const row of rows.filter((line) => line.split("|")[2].includes("real node"))) {
      for (const [, strategy, engine] of row.split("|")[1].matchAll(/`([^`]+)` × (vLLM|SGLang)/g)) {
        expect(scenarios, row).toContainEqual([strategy, engine]);
      }
    }
  });
});
