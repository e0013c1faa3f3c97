/** Policies on every pod template: GPUs, images, credentials, probes, shared memory, container security. */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import {
  allContainers,
  Container,
  gpuCount,
  imageReference,
  isGpuResource,
  LWS_WORKER_KIND,
  podTemplatesOf,
  PodTemplateView,
  startupProbeSeconds,
} from "./podSpec";

/** Pod-template annotation the program sets: seconds a cold start is expected to take. */
export const LOAD_ESTIMATE_ANNOTATION = "llm-serving.io/load-estimate-seconds";
/** `app.kubernetes.io/component` of the model servers. */
export const INFERENCE_COMPONENT = "inference-server";

/** Runs `check` for each workload's pod template; other resource types are not applicable. */
function forEachPodTemplate<C extends object = object>(
  check: (pod: PodTemplateView, report: (message: string) => void, config: C) => void,
): ResourceValidationPolicy["validateResource"] {
  return (args, reportViolation) => {
    for (const pod of podTemplatesOf(args.type, args.props)) check(pod, reportViolation, args.getConfig<C>());
  };
}

export interface GpuConfig {
  /** Extended resources that are GPUs beyond the `*\/gpu` pattern (e.g. MIG profiles). */
  gpuResources: string[];
}

const gpuConfigSchema = {
  properties: { gpuResources: { type: "array", items: { type: "string" }, default: [] } },
} as const;

export const gpuLimitsEqualRequests: ResourceValidationPolicy = {
  name: "gpu-limits-equal-requests",
  description: "GPU containers set the GPU resource in limits, equal to any request (GPUs cannot be overcommitted).",
  enforcementLevel: "mandatory",
  configSchema: gpuConfigSchema,
  validateResource: forEachPodTemplate<GpuConfig>((pod, report, config) => {
    for (const c of allContainers(pod.spec)) {
      const requests = c.resources?.requests ?? {};
      const limits = c.resources?.limits ?? {};
      for (const name of new Set([...Object.keys(requests), ...Object.keys(limits)])) {
        if (!isGpuResource(name, config.gpuResources)) continue;
        if (limits[name] === undefined) {
          report(
            `container "${c.name}" requests ${name}: ${requests[name]} without a limit; set resources.limits["${name}"] to the same value.`,
          );
        } else if (requests[name] !== undefined && String(requests[name]) !== String(limits[name])) {
          report(
            `container "${c.name}" requests ${name}: ${requests[name]} but limits it to ${limits[name]}; GPUs are not overcommitted, make them equal.`,
          );
        }
      }
    }
  }),
};

export const imagesPinned: ResourceValidationPolicy = {
  name: "images-pinned",
  description: "Container images are pinned to a tag other than `latest`, or to a digest.",
  enforcementLevel: "mandatory",
  validateResource: forEachPodTemplate((pod, report) => {
    for (const c of allContainers(pod.spec)) {
      if (!c.image) continue;
      const { tag, digest } = imageReference(c.image);
      if (digest) continue;
      if (!tag || tag === "latest") {
        report(
          `container "${c.name}" uses image "${c.image}" (${tag ? "the latest tag" : "no tag, i.e. latest"}); pin a version tag or a @sha256 digest.`,
        );
      }
    }
  }),
};

export interface CredentialConfig {
  /** Env var names that look like credentials but hold none (e.g. a path). */
  allowedNames: string[];
}

/** Env var names that usually hold a credential. */
export const CREDENTIAL_NAME = /KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL/i;

export const noLiteralCredentials: ResourceValidationPolicy = {
  name: "no-literal-credentials",
  description:
    "Credential-looking env vars (*KEY*, *SECRET*, *TOKEN*, *PASSWORD*) come from a Secret (valueFrom.secretKeyRef), never a literal value.",
  enforcementLevel: "mandatory",
  configSchema: { properties: { allowedNames: { type: "array", items: { type: "string" }, default: [] } } },
  validateResource: forEachPodTemplate<CredentialConfig>((pod, report, config) => {
    for (const c of allContainers(pod.spec)) {
      for (const e of c.env ?? []) {
        if (!CREDENTIAL_NAME.test(e.name) || config.allowedNames.includes(e.name)) continue;
        if (e.value !== undefined && e.value !== "") {
          report(
            `container "${c.name}" sets ${e.name} to a literal value; store it in a Kubernetes Secret and use env[].valueFrom.secretKeyRef (a Pulumi secret in config).`,
          );
        }
      }
    }
  }),
};

export interface InferenceConfig {
  /** Images recognised as inference servers, beyond the `inference-server` component label. */
  inferenceImagePattern: string;
  /** Startup budget required when the workload carries no load estimate. */
  minimumStartupSeconds: number;
}

/** The containers of a pod template that serve a model, if any. */
export function inferenceContainers(pod: PodTemplateView, imagePattern: string): Container[] {
  const pattern = new RegExp(imagePattern);
  const byImage = (pod.spec.containers ?? []).filter((c) => c.image && pattern.test(c.image));
  if (byImage.length > 0) return byImage;
  return pod.metadata.labels?.["app.kubernetes.io/component"] === INFERENCE_COMPONENT ? (pod.spec.containers ?? []) : [];
}

const inferenceConfigSchema = {
  properties: {
    inferenceImagePattern: { type: "string", default: "(^|/)(vllm-openai|vllm|sglang|text-generation-inference|tritonserver)([:@]|$)" },
    minimumStartupSeconds: { type: "integer", minimum: 0, default: 300 },
  },
} as const;

export const inferenceProbes: ResourceValidationPolicy = {
  name: "inference-probes",
  description: "Inference containers have startup and readiness probes, and the startup probe outlasts the model's load estimate.",
  enforcementLevel: "mandatory",
  configSchema: inferenceConfigSchema,
  validateResource: forEachPodTemplate<InferenceConfig>((pod, report, config) => {
    // A group's workers take no traffic and nothing probes them: the leader's probes cover the group
    // (a member that fails recreates the whole group).
    if (pod.kind === LWS_WORKER_KIND) return;
    const estimate = Number(pod.metadata.annotations?.[LOAD_ESTIMATE_ANNOTATION] ?? config.minimumStartupSeconds);
    for (const c of inferenceContainers(pod, config.inferenceImagePattern)) {
      if (!c.readinessProbe)
        report(`inference container "${c.name}" has no readinessProbe; traffic would reach it before the model is loaded.`);
      if (!c.startupProbe) {
        report(`inference container "${c.name}" has no startupProbe; the liveness probe would kill it while it loads weights.`);
      } else if (startupProbeSeconds(c.startupProbe) < estimate) {
        report(
          `inference container "${c.name}" gives startup ${startupProbeSeconds(c.startupProbe)} s (initialDelaySeconds + periodSeconds × failureThreshold) but loading takes ~${estimate} s; raise startupProbe.failureThreshold.`,
        );
      }
    }
  }),
};

export interface ApiKeyConfig extends InferenceConfig {
  /** The stack's environment (local, dev, staging, prod). */
  environment: string;
  /** Environments whose model servers must require an API key. */
  requiredIn: string[];
}

/**
 * Whether an inference container requires a key from a Secret: an env var by secretKeyRef named
 * like a key (vLLM's VLLM_API_KEY), or `--config` naming a file on a Secret volume (SGLang's
 * server-args file); never `--api-key` in argv.
 */
export function requiresApiKey(pod: PodTemplateView, c: Container): boolean {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  if (argv.includes("--api-key")) return false;
  const byEnv = (c.env ?? []).some((e) => /API_KEY$/.test(e.name) && e.valueFrom?.secretKeyRef);
  const secretVolumes = new Set((pod.spec.volumes ?? []).filter((v) => v.secret).map((v) => v.name));
  const configFile = argv[argv.indexOf("--config") + 1];
  const byFile =
    argv.includes("--config") &&
    (c.volumeMounts ?? []).some((m) => secretVolumes.has(m.name) && configFile?.startsWith(`${m.mountPath.replace(/\/+$/, "")}/`));
  return byEnv || byFile;
}

export const inferenceRequiresApiKey: ResourceValidationPolicy = {
  name: "inference-requires-api-key",
  description: "In the listed environments (prod), every model server requires an API key from a Secret (llm-serving:apiKey).",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      ...inferenceConfigSchema.properties,
      environment: { type: "string", default: "prod" },
      requiredIn: { type: "array", items: { type: "string" }, default: ["prod"] },
    },
  },
  validateResource: forEachPodTemplate<ApiKeyConfig>((pod, report, config) => {
    if (!config.requiredIn.includes(config.environment)) return;
    for (const c of inferenceContainers(pod, config.inferenceImagePattern)) {
      if (!requiresApiKey(pod, c)) {
        report(
          `inference container "${c.name}" serves without an API key in the ${config.environment} environment; set llm-serving:apiKey (pulumi config set --secret) so it requires one from a Secret.`,
        );
      }
    }
  }),
};

export const tensorParallelShm: ResourceValidationPolicy = {
  name: "tensor-parallel-shm",
  description: "Pods with a container using more than one GPU mount a memory-backed emptyDir at /dev/shm (NCCL needs it).",
  enforcementLevel: "mandatory",
  configSchema: gpuConfigSchema,
  validateResource: forEachPodTemplate<GpuConfig>((pod, report, config) => {
    const memoryVolumes = new Set((pod.spec.volumes ?? []).filter((v) => v.emptyDir?.medium === "Memory").map((v) => v.name));
    for (const c of pod.spec.containers ?? []) {
      const gpus = gpuCount(c, config.gpuResources);
      if (gpus <= 1) continue;
      const shm = (c.volumeMounts ?? []).find((m) => m.mountPath === "/dev/shm");
      if (!shm || !memoryVolumes.has(shm.name)) {
        report(
          `container "${c.name}" uses ${gpus} GPUs (tensor parallel) without a memory-backed /dev/shm; add an emptyDir { medium: Memory } volume mounted at /dev/shm.`,
        );
      }
    }
  }),
};

export const restrictedContainers: ResourceValidationPolicy = {
  name: "restricted-containers",
  description: "Every container sets allowPrivilegeEscalation: false and drops ALL capabilities.",
  enforcementLevel: "mandatory",
  validateResource: forEachPodTemplate((pod, report) => {
    for (const c of allContainers(pod.spec)) {
      const sc = c.securityContext ?? {};
      const missing = [
        ...(sc.allowPrivilegeEscalation === false ? [] : ["allowPrivilegeEscalation: false"]),
        ...((sc.capabilities?.drop ?? []).includes("ALL") ? [] : ["capabilities.drop: [ALL]"]),
      ];
      if (missing.length > 0) report(`container "${c.name}" must set securityContext ${missing.join(" and ")}.`);
    }
  }),
};

export const containerResources: ResourceValidationPolicy = {
  name: "container-resources",
  description: "Main containers request CPU and memory and limit memory, so a GPU node is never starved by a neighbour.",
  enforcementLevel: "advisory",
  validateResource: forEachPodTemplate((pod, report) => {
    for (const c of pod.spec.containers ?? []) {
      const missing = [
        ...(c.resources?.requests?.cpu === undefined ? ["requests.cpu"] : []),
        ...(c.resources?.requests?.memory === undefined ? ["requests.memory"] : []),
        ...(c.resources?.limits?.memory === undefined ? ["limits.memory"] : []),
      ];
      if (missing.length > 0) report(`container "${c.name}" sets no resources.${missing.join(", resources.")}.`);
    }
  }),
};

export const servicesInternal: ResourceValidationPolicy = {
  name: "services-internal",
  description: "Services stay ClusterIP: model endpoints have no auth, expose them through an authenticated ingress or gateway.",
  enforcementLevel: "advisory",
  validateResource: (args, report) => {
    if (args.type !== "kubernetes:core/v1:Service") return;
    const type = args.props.spec?.type;
    if (type === "LoadBalancer" || type === "NodePort") {
      report(
        `Service "${args.props.metadata?.name ?? args.name}" is type ${type}; keep it ClusterIP and expose it through an authenticated ingress or gateway.`,
      );
    }
  },
};
