/**
 * The configuration reference, docs/configuration.md, generated from the zod schema of the stack
 * config (`components/config/schema.ts`): every key's path, type, allowed values, default (the one
 * the schema applies), whether it is required, and the schema's description.
 *
 *   npm run docs        (tsx scripts/configDocs.ts) writes the file
 *
 * `configurationReference()` is pure and already formatted as prettier formats markdown, so the
 * written file passes `prettier --check`; test/configDocs.test.ts fails when the file is stale, when
 * a key lacks a description, and when the text is not stable under prettier.
 */
import { writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { z } from "zod";
import { SECRET_KEYS, stackConfigSchema } from "../components/config/schema";

type Schema = z.core.$ZodType;

/** The parts of zod 4's schema definitions the walk reads. */
interface Def {
  readonly type: string;
  readonly innerType?: Schema;
  readonly in?: Schema;
  readonly shape?: Record<string, Schema>;
  readonly element?: Schema;
  readonly valueType?: Schema;
  readonly entries?: Record<string, string | number>;
  readonly values?: readonly unknown[];
  readonly format?: string;
  readonly checks?: readonly { readonly _zod: { readonly def: CheckDef } }[];
}

interface CheckDef {
  readonly check: string;
  readonly value?: number;
  readonly inclusive?: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly format?: string;
}

/** One key of the stack config. */
export interface ConfigKey {
  /** Its path below `llm-serving:`, array elements as `[]`: `models[].sglang.hicache.ratio`. */
  readonly path: string;
  /** The top-level key it belongs to. */
  readonly top: string;
  /** Its type in words (markdown), allowed values included. */
  readonly type: string;
  /** Must be set whenever the object holding it is. */
  readonly required: boolean;
  /** Whether the schema applies a default, and which. */
  readonly hasDefault: boolean;
  readonly default?: unknown;
  /** An object or a list of objects, whose keys follow it. */
  readonly container: boolean;
  /** The schema's `.describe()` text, found on the field or on any schema it wraps. */
  readonly description?: string;
  /** Set with `pulumi config set --secret`. */
  readonly secret: boolean;
}

const def = (schema: Schema): Def => schema._zod.def as unknown as Def;

/** The schemas a field is made of, outermost first: optional/default/prefault/pipe wrappers down to the value's own. */
function layers(schema: Schema): Schema[] {
  const out = [schema];
  for (;;) {
    const d = def(out[out.length - 1]);
    const next = d.innerType ?? (d.type === "pipe" ? d.in : undefined);
    if (!next) return out;
    out.push(next);
  }
}

/** The description of a field: the outermost one along its wrappers (`.describe()` may sit inside a `.default()`). */
function descriptionOf(schema: Schema): string | undefined {
  for (const layer of layers(schema)) {
    const text = z.globalRegistry.get(layer)?.description;
    if (text) return text;
  }
  return undefined;
}

function core(schema: Schema): Schema {
  const all = layers(schema);
  return all[all.length - 1];
}

const code = (text: string) => `\`${text}\``;
const oneOf = (values: readonly unknown[]) => values.map((v) => code(String(v))).join(" \\| ");

function numberBounds(d: Def): string {
  const checks = (d.checks ?? []).map((c) => c._zod.def);
  const integer = checks.some((c) => c.check === "number_format" && /int/.test(c.format ?? ""));
  let low: { value: number; inclusive: boolean } | undefined;
  let high: { value: number; inclusive: boolean } | undefined;
  for (const c of checks) {
    if (c.value === undefined) continue;
    const bound = { value: c.value, inclusive: c.inclusive ?? true };
    if (integer && !bound.inclusive) bound.value = c.check === "greater_than" ? Math.floor(c.value) + 1 : Math.ceil(c.value) - 1;
    if (integer) bound.inclusive = true;
    if (c.check === "greater_than" && (!low || bound.value > low.value || (bound.value === low.value && !bound.inclusive))) low = bound;
    if (c.check === "less_than" && (!high || bound.value < high.value || (bound.value === high.value && !bound.inclusive))) high = bound;
  }
  const name = integer ? "integer" : "number";
  if (low?.inclusive && high?.inclusive) return `${name}, ${low.value}–${high.value}`;
  const parts = [low && `${low.inclusive ? "≥" : ">"} ${low.value}`, high && `${high.inclusive ? "≤" : "<"} ${high.value}`];
  return [name, ...parts.filter(Boolean)].join(", ");
}

function stringKind(d: Def): string {
  const checks = (d.checks ?? []).map((c) => c._zod.def);
  if (d.format === "url" || checks.some((c) => c.check === "string_format" && c.format === "url")) return "URL";
  const min = checks.find((c) => c.check === "min_length")?.minimum;
  const max = checks.find((c) => c.check === "max_length")?.maximum;
  if (max !== undefined) return `string, ≤ ${max} characters`;
  return min !== undefined && min > 0 ? "non-empty string" : "string";
}

/** The value's type in words; `plural` for a list's elements. */
function typeOf(schema: Schema, plural = false): string {
  const d = def(core(schema));
  const s = plural ? "s" : "";
  switch (d.type) {
    case "string":
      return plural ? "strings" : stringKind(d);
    case "number":
      return plural ? "numbers" : numberBounds(d);
    case "boolean":
      return `boolean${s}`;
    case "enum":
      return `${plural ? "each " : ""}${oneOf(Object.values(d.entries ?? {}))}`;
    case "literal":
      return `${plural ? "each " : ""}${oneOf(d.values ?? [])}`;
    case "object":
      return `object${s}`;
    case "record":
      return `map${s} of string to ${typeOf(d.valueType!)}`;
    case "array": {
      const nonEmpty = (d.checks ?? []).some((c) => c._zod.def.check === "min_length" && (c._zod.def.minimum ?? 0) > 0);
      return `${nonEmpty ? "non-empty " : ""}list${s} of ${typeOf(d.element!, true)}`;
    }
    case "unknown":
    case "any":
      return plural ? "values" : "any";
    default:
      return d.type;
  }
}

function isContainer(schema: Schema): { shape?: Record<string, Schema>; suffix: string } | undefined {
  const d = def(core(schema));
  if (d.type === "object") return { shape: d.shape, suffix: "" };
  if (d.type === "array") {
    const element = def(core(d.element!));
    if (element.type === "object") return { shape: element.shape, suffix: "[]" };
  }
  return undefined;
}

function parsed(schema: Schema, input: unknown): { ok: boolean; value?: unknown } {
  const result = (schema as z.ZodType).safeParse(input);
  return result.success ? { ok: true, value: result.data } : { ok: false };
}

/**
 * Every key of `schema` (by default the stack config's), depth first in the schema's order. A key's
 * default is what its object gets when the key is left out: the object parsed from `{}` where that
 * succeeds (so a `.transform()` that fills keys counts), else the key's own default.
 */
export function configKeys(schema: Schema = stackConfigSchema): ConfigKey[] {
  const keys: ConfigKey[] = [];
  const visit = (shape: Record<string, Schema>, prefix: string, top: string | undefined, parentDefaults: unknown) => {
    for (const [name, field] of Object.entries(shape)) {
      const path = prefix ? `${prefix}.${name}` : name;
      const own = parsed(field, undefined);
      const fromParent =
        parentDefaults !== null && typeof parentDefaults === "object" && name in parentDefaults
          ? { ok: true, value: (parentDefaults as Record<string, unknown>)[name] }
          : undefined;
      const value = fromParent?.value !== undefined ? fromParent.value : own.ok ? own.value : undefined;
      const container = isContainer(field);
      keys.push({
        path,
        top: top ?? name,
        type: typeOf(field),
        required: !own.ok,
        hasDefault: value !== undefined,
        default: value,
        container: container !== undefined,
        description: descriptionOf(field),
        secret: !prefix && (SECRET_KEYS as readonly string[]).includes(name),
      });
      if (container?.shape) {
        const defaults = container.suffix ? undefined : parsed(field, {});
        visit(container.shape, `${path}${container.suffix}`, top ?? name, defaults?.ok ? defaults.value : undefined);
      }
    }
  };
  const shape = isContainer(schema)?.shape;
  if (shape) visit(shape, "", undefined, undefined);
  return keys;
}

/** The keys of `schema` without a description. */
export function undescribedKeys(schema: Schema = stackConfigSchema): string[] {
  return configKeys(schema)
    .filter((k) => !k.description?.trim())
    .map((k) => k.path);
}

const width = (text: string) => [...text].length;
const cell = (text: string) => text.replace(/\|/g, (m, offset: number, all: string) => (all[offset - 1] === "\\" ? m : "\\|"));

/** A markdown table laid out as prettier lays it out (columns padded to their widest cell). */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows].map((r) => r.map(cell));
  const widths = header.map((_, i) => Math.max(3, ...all.map((r) => width(r[i]))));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c + " ".repeat(widths[i] - width(c))).join(" | ")} |`;
  return [line(all[0]), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...all.slice(1).map(line)].join("\n");
}

function defaultText(key: ConfigKey): string {
  if (key.required) return "**required**";
  if (key.container) return "—";
  if (!key.hasDefault) return "unset";
  const value = key.default;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return code(String(value));
  return code(JSON.stringify(value));
}

function rows(keys: readonly ConfigKey[]): string[][] {
  return keys.map((k) => [code(k.path), k.type, defaultText(k), k.description ?? ""]);
}

const HEADER = ["key", "type", "default", "description"];
const SECRETS_HEADING = "Secrets";

/** A heading's anchor as GitHub makes it. */
const anchor = (heading: string) =>
  heading
    .replace(/`/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");

/** docs/configuration.md. */
export function configurationReference(): string {
  const keys = configKeys();
  const tops = [...new Set(keys.filter((k) => !k.secret).map((k) => k.top))];
  const sections = tops.map((top) => ({ heading: code(top), keys: keys.filter((k) => k.top === top) }));
  sections.push({ heading: SECRETS_HEADING, keys: keys.filter((k) => k.secret) });
  const out = [
    "# Configuration reference",
    "",
    "<!-- Generated from components/config/schema.ts by `npm run docs` (scripts/configDocs.ts): edit the schema's descriptions, not this file. -->",
    "",
    "All keys live in the `llm-serving:` namespace of the stack's config (`Pulumi.<stack>.yaml`). An invalid config fails " +
      "before anything is created, with one error listing every bad key path (`llm-serving:models[1].engine`), what was " +
      "found and what is allowed. Unknown keys are errors too (typos are never silently ignored).",
    "",
    "A key is named by its path: `storage.hostPath.root` is `root` in the `hostPath` object of `storage`, " +
      "`models[].gpus` is `gpus` in every entry of the `models` list. The default is the value the schema applies " +
      "when the key is left out; **required** keys must be set whenever the object holding them is; _unset_ keys " +
      "have no default, and their description says what applies without them. The " +
      `[secrets](#${anchor(SECRETS_HEADING)}) are set with \`pulumi config set --secret\`, never in the stack file.`,
    "",
    ...sections.map((s) => `- [${s.heading}](#${anchor(s.heading)})`),
  ];
  for (const section of sections) {
    out.push("", `## ${section.heading}`, "");
    if (section.heading === SECRETS_HEADING) {
      out.push(
        "Read apart from the rest of the config so they stay secrets (Pulumi Outputs, never in plain text in the state): " +
          "set each with `pulumi config set --secret llm-serving:<key> <value>`.",
        "",
      );
    }
    out.push(table(HEADER, rows(section.keys)));
  }
  return out.join("\n") + "\n";
}

export const CONFIGURATION_MD = join(__dirname, "..", "docs", "configuration.md");

async function main(): Promise<void> {
  const text = configurationReference();
  writeFileSync(CONFIGURATION_MD, text);
  const prettier = await import("prettier");
  const options = (await prettier.resolveConfig(CONFIGURATION_MD)) ?? {};
  if ((await prettier.format(text, { ...options, filepath: CONFIGURATION_MD })) !== text) {
    throw new Error("prettier would reformat docs/configuration.md: make configurationReference() lay it out as prettier does");
  }
  const missing = undescribedKeys();
  if (missing.length > 0) throw new Error(`keys without a .describe() in components/config/schema.ts: ${missing.join(", ")}`);
  console.log(`wrote ${relative(process.cwd(), CONFIGURATION_MD)}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
