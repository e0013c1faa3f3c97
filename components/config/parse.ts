/**
 * The config's own rules: the schema, then the rules across its keys. The rules of the chosen
 * strategy and engines are theirs (`../stackConfig.ts` runs both, once, before anything is created).
 */
import { DEFAULT_IMAGES, withRegistry } from "../images";
import { r2VolumeBucketName } from "../naming";
import { hubDownloadGiB, MAX_HUB_DOWNLOAD_GIB } from "../hub";
import { z } from "zod";
import { ConfigError, ConfigIssue, describe } from "./issues";
import { SECRET_KEYS, STORAGE_STRATEGIES, stackConfigSchema, StackConfig, strategyDefaults } from "./schema";

/** Environments where hostPath caches are allowed, and where revisions must be commits (the pack's defaults). */
const HOSTPATH_ENVIRONMENTS: readonly string[] = ["local", "dev"];
const PINNED_ENVIRONMENTS: readonly string[] = ["prod"];
const COMMIT = /^[0-9a-f]{40}$/;
const API_KEY_MIN_LENGTH = 16;
/** Environments whose servers must require an API key and whose NetworkPolicies and preview identity are on by default. */
const SECURED_ENVIRONMENTS: readonly string[] = ["prod"];

/** Flags that llm-serving sets itself; overriding them in extraArgs would break probes or routing. */
const MANAGED_FLAGS = [
  "--host",
  "--port",
  "--served-model-name",
  "--model",
  "--model-path",
  "--tensor-parallel-size",
  "--tp-size",
  "--tp",
  // A key on the command line would be a literal in the pod spec and the state: use llm-serving:apiKey.
  "--api-key",
];

/**
 * The raw `llm-serving:*` config as a typed StackConfig and what its cross-key rules find; schema
 * errors throw one ConfigError listing every bad key path, what was found and what is allowed.
 */
export function readStackConfig(raw: unknown): { config: StackConfig; issues: ConfigIssue[] } {
  const result = stackConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((issue) => fromZod(issue, raw)));
  }
  const { hfToken: _hf, juicefsRedisUrl: _redis, apiKey, apiKeys, ...parsed } = result.data;
  const authenticatedModels = parsed.models.map((m) => m.name).filter((name) => apiKey !== undefined || apiKeys?.[name] !== undefined);
  const networkPolicy = {
    ...parsed.networkPolicy,
    enabled: parsed.networkPolicy.enabled ?? SECURED_ENVIRONMENTS.includes(parsed.environment),
  };
  const previewIdentity = {
    ...parsed.previewIdentity,
    enabled: parsed.previewIdentity.enabled ?? SECURED_ENVIRONMENTS.includes(parsed.environment),
  };
  const config: StackConfig = { ...parsed, networkPolicy, previewIdentity, authenticatedModels };
  return {
    config,
    issues: [...crossFieldIssues(config, result.data.juicefsRedisUrl !== undefined), ...apiKeyIssues(config, apiKey, apiKeys)],
  };
}

/** The config with every default image under `kubernetes.imageRegistry` (the engines' in serverImage). */
export function withImageRegistry(config: StackConfig): StackConfig {
  const registry = config.kubernetes.imageRegistry;
  if (!registry) return config;
  const moved = (image: string, byDefault: string) => (image === byDefault ? withRegistry(image, registry) : image);
  const { objectStore, storage } = config;
  const minio = objectStore.minio ?? { image: DEFAULT_IMAGES.minio, clientImage: DEFAULT_IMAGES.mc };
  const juicefs = storage.juicefs ?? (storage.strategy === "juicefs" ? strategyDefaults.juicefs() : undefined);
  return {
    ...config,
    images: { python: moved(config.images.python, DEFAULT_IMAGES.python) },
    objectStore:
      objectStore.provider === "minio"
        ? {
            ...objectStore,
            minio: { ...minio, image: moved(minio.image, DEFAULT_IMAGES.minio), clientImage: moved(minio.clientImage, DEFAULT_IMAGES.mc) },
          }
        : objectStore,
    storage: {
      ...storage,
      preload: { ...storage.preload, image: moved(storage.preload.image, DEFAULT_IMAGES.s5cmd) },
      ...(juicefs ? { juicefs: { ...juicefs, redis: { ...juicefs.redis, image: moved(juicefs.redis.image, DEFAULT_IMAGES.redis) } } } : {}),
    },
  };
}

function crossFieldIssues(config: StackConfig, hasExternalRedisUrl: boolean): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const store = config.objectStore;
  const np = config.networkPolicy;
  if (np.enabled && !np.clientPodLabels && !np.clientNamespaceLabels) {
    issues.push({
      path: ["networkPolicy"],
      message:
        "enabled admits no client: set clientPodLabels (pods of the serving namespace) and/or clientNamespaceLabels (namespaces) that may call the models",
    });
  }
  if (config.previewIdentity.enabled && config.kubernetes.renderYamlTo) {
    issues.push({
      path: ["previewIdentity", "enabled"],
      message:
        "is on, but kubernetes.renderYamlTo renders YAML without a cluster, so no token can be issued; set previewIdentity.enabled: false (after applying the YAML, `kubectl create token llm-serving-preview` mints one)",
    });
  }
  for (const provider of ["r2", "s3", "minio"] as const) {
    if (store.provider === provider) continue;
    if (store[provider] !== undefined) {
      issues.push({
        path: ["objectStore", provider],
        message: `is set but objectStore.provider is ${JSON.stringify(store.provider)}; remove it or set provider to "${provider}"`,
      });
    }
  }
  if (store.provider === "r2" && !store.r2) {
    issues.push({
      path: ["objectStore", "r2", "accountId"],
      message: 'is required when objectStore.provider is "r2" (the 32-hex Cloudflare account id)',
    });
  }
  if (
    store.provider === "r2" &&
    config.storage.strategy === "juicefs" &&
    store.r2?.volumeBucket !== "shared" &&
    r2VolumeBucketName(store.bucket).length > 63
  ) {
    issues.push({
      path: ["objectStore", "bucket"],
      message: `found ${store.bucket.length} characters; with storage.strategy juicefs on R2 the volume gets its own bucket ${r2VolumeBucketName(store.bucket)}, which must fit in 63: expected at most ${63 - r2VolumeBucketName("").length}`,
    });
  }
  if (store.provider === "s3" && !store.s3) {
    issues.push({ path: ["objectStore", "s3", "region"], message: 'is required when objectStore.provider is "s3" (e.g. eu-west-1)' });
  }
  if (store.provider === "minio" && store.minio?.storageSize) {
    const needed = config.models.reduce((sum, m) => sum + m.sizeGiB, 0);
    const have = quantityGiB(store.minio.storageSize);
    if (have < needed) {
      issues.push({
        path: ["objectStore", "minio", "storageSize"],
        message: `found ${store.minio.storageSize} but the models need ${Math.ceil(needed)}Gi; expected at least that`,
      });
    }
  }

  // The environment means what the policy pack enforces for it, checked before anything is created.
  const selected = config.storage.strategy;
  if (selected === "hostPath" && !HOSTPATH_ENVIRONMENTS.includes(config.environment)) {
    issues.push({
      path: ["storage", "strategy"],
      message: `found "hostPath", which only local and dev stacks may use (policy hostpath-only-in-dev); expected localPath, longhorn, fluid, juicefs or s3Streaming for environment ${describe(config.environment)}`,
    });
  }
  for (const name of STORAGE_STRATEGIES) {
    if (name !== selected && config.storage[name] !== undefined) {
      issues.push({
        path: ["storage", name],
        message: `is set but storage.strategy is ${JSON.stringify(selected)}; remove it or set strategy to "${name}"`,
      });
    }
  }
  const redis = config.storage.juicefs?.redis;
  if (redis?.mode === "external" && !hasExternalRedisUrl) {
    issues.push({
      path: ["juicefsRedisUrl"],
      message:
        'is required (as a secret: pulumi config set --secret llm-serving:juicefsRedisUrl redis://...) when storage.juicefs.redis.mode is "external"',
    });
  }

  config.models.forEach((m, i) => {
    if (!m.mirror && hubDownloadGiB(m.sizeGiB) > MAX_HUB_DOWNLOAD_GIB) {
      issues.push({
        path: ["models", i, "mirror"],
        message: `is false, so every server pod downloads the model into its ephemeral storage and requests ${hubDownloadGiB(m.sizeGiB)}Gi of it (sizeGiB ${m.sizeGiB} + 20 % + 10 GiB), more than the ${MAX_HUB_DOWNLOAD_GIB}Gi a node's root disk can be expected to offer; set mirror: true (the weights then come from the bucket through storage.strategy)`,
      });
    }
  });

  const seen = new Map<string, number>();
  config.models.forEach((m, i) => {
    const first = seen.get(m.name);
    if (first !== undefined) {
      issues.push({
        path: ["models", i, "name"],
        message: `found ${describe(m.name)}, already used by models[${first}]; model names must be unique`,
      });
    } else {
      seen.set(m.name, i);
    }
    if (PINNED_ENVIRONMENTS.includes(config.environment) && !COMMIT.test(m.revision)) {
      issues.push({
        path: ["models", i, "revision"],
        message: `found ${describe(m.revision)}; environment ${describe(config.environment)} serves only pinned commits (policy models-pinned-to-commit): expected a 40-hex commit`,
      });
    }
    if (m.sglang !== undefined && m.engine !== "sglang") {
      issues.push({ path: ["models", i, "sglang"], message: `is only valid with engine "sglang" (found engine ${describe(m.engine)})` });
    }
    m.extraArgs.forEach((arg, j) => {
      const flag = arg.split("=")[0];
      if (MANAGED_FLAGS.includes(flag)) {
        issues.push({
          path: ["models", i, "extraArgs", j],
          message:
            flag === "--api-key"
              ? "found --api-key (value not shown); a key on the command line is a literal in the pod spec and the state: set llm-serving:apiKey or llm-serving:apiKeys as a secret"
              : `found ${describe(arg)}; ${flag} is set by llm-serving (use the model's own keys: name, gpus, ...)`,
        });
      }
    });
    if (m.autoscaling) {
      const { minReplicas, maxReplicas, metric, target } = m.autoscaling;
      if (minReplicas > maxReplicas) {
        issues.push({
          path: ["models", i, "autoscaling", "minReplicas"],
          message: `found ${minReplicas}; expected at most maxReplicas (${maxReplicas})`,
        });
      }
      if (metric === "kvCacheUsage" && target > 1) {
        issues.push({
          path: ["models", i, "autoscaling", "target"],
          message: `found ${target}; kvCacheUsage is a fraction, expected a value in (0, 1] such as 0.8`,
        });
      }
      if (m.replicas !== 1) {
        issues.push({
          path: ["models", i, "replicas"],
          message: `found ${m.replicas}; with autoscaling the replica count is KEDA's, between autoscaling.minReplicas and maxReplicas: remove replicas`,
        });
      }
      const prometheus = config.observability.prometheus;
      if (!prometheus.enabled || !prometheus.serverAddress) {
        issues.push({
          path: ["models", i, "autoscaling"],
          message: `scales on the engine's Prometheus metrics: set observability.prometheus.enabled: true and observability.prometheus.serverAddress (found enabled: ${prometheus.enabled}, serverAddress: ${prometheus.serverAddress ?? "unset"})`,
        });
      }
    }
    if (m.startup.bandwidthMiBps !== undefined && m.startup.budgetSeconds !== undefined) {
      issues.push({
        path: ["models", i, "startup"],
        message: "set budgetSeconds OR bandwidthMiBps, not both: the budget is either given or computed",
      });
    }
  });
  return issues;
}

/** The API keys' rules; messages never include a key's value. */
function apiKeyIssues(config: StackConfig, apiKey: string | undefined, apiKeys: Record<string, string> | undefined): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const short = (value: string) => value.length < API_KEY_MIN_LENGTH;
  const hint = "set it with `pulumi config set --secret`; e.g. `openssl rand -hex 24`";
  if (apiKey !== undefined && short(apiKey)) {
    issues.push({ path: ["apiKey"], message: `must be at least ${API_KEY_MIN_LENGTH} characters (found ${apiKey.length}); ${hint}` });
  }
  const names = config.models.map((m) => m.name);
  const open = names.filter((name) => !config.authenticatedModels.includes(name));
  if (SECURED_ENVIRONMENTS.includes(config.environment) && open.length > 0) {
    const graphs = config.models.filter((m) => m.engine === "dynamo" && open.includes(m.name)).map((m) => m.name);
    issues.push({
      path: ["apiKey"],
      message: `is required in environment ${JSON.stringify(config.environment)}, where no model serves an open endpoint (${open.join(", ")} would); ${hint}, or set llm-serving:apiKeys.<model> for each model${graphs.length ? `. ${graphs.join(", ")} run engine "dynamo", whose frontend takes no key: serve them from a stack of another environment, behind a gateway that checks keys` : ""}`,
    });
  }
  for (const [name, value] of Object.entries(apiKeys ?? {})) {
    if (!names.includes(name)) {
      issues.push({
        path: ["apiKeys", name],
        message: `names no model; expected one of ${names.map((n) => JSON.stringify(n)).join(", ")}`,
      });
    } else if (short(value)) {
      issues.push({
        path: ["apiKeys", name],
        message: `must be at least ${API_KEY_MIN_LENGTH} characters (found ${value.length}); ${hint}`,
      });
    }
  }
  return issues;
}

/** Converts a Kubernetes quantity (Ki/Mi/Gi/Ti) to GiB. */
export function quantityGiB(q: string): number {
  const match = /^([0-9.]+)(Ki|Mi|Gi|Ti)$/.exec(q);
  if (!match) throw new Error(`not a binary quantity: ${q}`);
  const factor = { Ki: 1 / (1024 * 1024), Mi: 1 / 1024, Gi: 1, Ti: 1024 }[match[2] as "Ki" | "Mi" | "Gi" | "Ti"];
  return Number(match[1]) * factor;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Allowed keys of the (strict) object schema found at `path`, for unknown-key messages. */
function allowedKeysAt(path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType | undefined = stackConfigSchema;
  const unwrap = (s: z.core.$ZodType): z.core.$ZodType => {
    const def = s._zod.def as unknown as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType) return unwrap(def.innerType);
    if (def.type === "pipe" && def.in) return unwrap(def.in);
    return s;
  };
  for (const key of path) {
    if (!schema) return [];
    const def = unwrap(schema)._zod.def as unknown as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType };
    schema = def.type === "object" ? def.shape?.[String(key)] : def.type === "array" ? def.element : undefined;
  }
  if (!schema) return [];
  const def = unwrap(schema)._zod.def as unknown as { type: string; shape?: Record<string, unknown> };
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

/** The secret keys (SECRET_KEYS): an error never shows what was found there. */
const SECRET_CONFIG_KEYS: readonly PropertyKey[] = SECRET_KEYS;

/** Stands in for a secret's value in messages (`describe` renders it through toJSON). */
const REDACTED = { toJSON: () => "(a secret, not shown)" };

function fromZod(issue: z.core.$ZodIssue, raw: unknown): ConfigIssue[] {
  const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
  const value = "input" in issue ? issue.input : valueAt(raw, path);
  const found = SECRET_CONFIG_KEYS.includes(path[0]) && value !== undefined ? REDACTED : value;
  switch (issue.code) {
    case "unrecognized_keys": {
      const allowed = allowedKeysAt(path);
      return issue.keys.map((key) => ({
        path: [...path, key],
        message: `is not a known key${allowed.length ? `; allowed here: ${allowed.join(", ")}` : ""}`,
      }));
    }
    case "invalid_value":
      return [
        {
          path,
          message: `${found === undefined ? "is required" : `found ${describe(found)}`}; expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`,
        },
      ];
    case "invalid_type":
      return [
        {
          path,
          message:
            found === undefined ? `is required (expected ${issue.expected})` : `found ${describe(found)}; expected ${issue.expected}`,
        },
      ];
    case "too_small":
      return [
        {
          path,
          message: `found ${describe(found)}; expected ${issue.origin === "array" ? "at least " + String(issue.minimum) + " item(s)" : (issue.inclusive ? ">= " : "> ") + String(issue.minimum)}`,
        },
      ];
    case "too_big":
      return [
        {
          path,
          message: `found ${describe(found)}; expected ${issue.origin === "string" ? "at most " + String(issue.maximum) + " characters" : (issue.inclusive ? "<= " : "< ") + String(issue.maximum)}`,
        },
      ];
    default:
      return [{ path, message: `found ${describe(found)}; ${issue.message}` }];
  }
}
