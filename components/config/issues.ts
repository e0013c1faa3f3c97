/** One problem in the stack config, located by its key path. */
export interface ConfigIssue {
  /** Path below the `llm-serving:` namespace, e.g. `["models", 1, "engine"]`. */
  readonly path: readonly (string | number)[];
  /** What was found and what is expected. */
  readonly message: string;
}

export const CONFIG_NAMESPACE = "llm-serving";

/** Renders `["models", 1, "engine"]` as `llm-serving:models[1].engine`. */
export function keyPath(path: readonly (string | number)[]): string {
  let out = `${CONFIG_NAMESPACE}:`;
  path.forEach((segment, i) => {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += i === 0 ? segment : `.${segment}`;
  });
  return out;
}

/** Thrown before any resource is registered; lists every bad key at once. */
export class ConfigError extends Error {
  constructor(public readonly issues: readonly ConfigIssue[]) {
    super(
      `Invalid stack configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
        issues.map((i) => `  - ${keyPath(i.path)}: ${i.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** A short, quoted rendering of a config value for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  const text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
