/** Policies on where weights and metadata live: hostPath, shared claims, the JuiceFS metadata Redis. */
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { allContainers, podTemplatesOf, PodTemplateView } from "./podSpec";

export interface HostPathConfig {
  /** The stack's environment (local, dev, staging, prod). */
  environment: string;
  /** Environments where hostPath volumes are acceptable. */
  allowedEnvironments: string[];
  /** The only host directory (and its children) a hostPath volume of weights may use. */
  modelRoot: string;
  /** Node-local caches that hold no weights (the engines' compile caches): allowed in every environment. */
  nodeCacheRoots: string[];
}

/** Whether `path` is `root` or inside it (no `..` escapes). */
export function isUnder(path: string, root: string): boolean {
  const clean = (p: string) => p.replace(/\/+$/, "") || "/";
  const p = clean(path);
  const r = clean(root);
  if (p.split("/").includes("..")) return false;
  return p === r || p.startsWith(r === "/" ? "/" : `${r}/`);
}

export const hostPathOnlyInDev: ResourceValidationPolicy = {
  name: "hostpath-only-in-dev",
  description:
    "hostPath volumes only in dev/local stacks, and only under the configured model root; node-local compile caches (nodeCacheRoots) anywhere.",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      environment: { type: "string", default: "prod" },
      allowedEnvironments: { type: "array", items: { type: "string" }, default: ["local", "dev"] },
      modelRoot: { type: "string", default: "/var/lib/llm-models" },
      nodeCacheRoots: { type: "array", items: { type: "string" }, default: ["/var/cache/llm-serving/compile"] },
    },
  },
  validateResource: (args, report) => {
    const config = args.getConfig<HostPathConfig>();
    for (const v of podTemplatesOf(args.type, args.props).flatMap((pod) => pod.spec.volumes ?? [])) {
      if (!v.hostPath) continue;
      if (config.nodeCacheRoots.some((root) => isUnder(v.hostPath!.path, root))) continue;
      if (!config.allowedEnvironments.includes(config.environment)) {
        report(
          `volume "${v.name}" mounts host path ${v.hostPath.path} in the ${config.environment} environment; hostPath is allowed only in ${config.allowedEnvironments.join("/")}: use storage.strategy localPath, longhorn, fluid or juicefs.`,
        );
      } else if (!isUnder(v.hostPath.path, config.modelRoot)) {
        report(
          `volume "${v.name}" mounts host path ${v.hostPath.path}, outside the model root ${config.modelRoot}; set storage.hostPath.root under it.`,
        );
      }
    }
  },
};

const claimKey = (namespace: string | undefined, name: string) => `${namespace ?? "default"}/${name}`;

/** Whether some mount of volume `name` in the pod writes to it. */
function mountedWritable(pod: PodTemplateView, name: string): boolean {
  return allContainers(pod.spec).some((c) => (c.volumeMounts ?? []).some((m) => m.name === name && !m.readOnly));
}

export const sharedClaimsAreMany: StackValidationPolicy = {
  name: "shared-claims-are-many",
  description: "A PVC mounted by a workload with more than one replica is ReadWriteMany (or ReadOnlyMany, mounted read-only).",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const claims = new Map<string, string[]>();
    for (const r of args.resources) {
      if (r.type === "kubernetes:core/v1:PersistentVolumeClaim" && r.props.metadata?.name) {
        claims.set(claimKey(r.props.metadata.namespace, r.props.metadata.name), r.props.spec?.accessModes ?? []);
      }
    }
    for (const r of args.resources) {
      for (const pod of podTemplatesOf(r.type, r.props)) {
        if (pod.replicas <= 1) continue;
        for (const v of pod.spec.volumes ?? []) {
          if (!v.persistentVolumeClaim) continue;
          const modes = claims.get(claimKey(pod.namespace, v.persistentVolumeClaim.claimName));
          if (!modes) continue; // a claim made outside this stack: its modes are unknown here
          const readOnly = v.persistentVolumeClaim.readOnly === true || !mountedWritable(pod, v.name);
          if (modes.includes("ReadWriteMany") || (readOnly && modes.includes("ReadOnlyMany"))) continue;
          report(
            `${pod.kind} "${r.name}" runs ${pod.replicas === Number.POSITIVE_INFINITY ? "on every node" : `${pod.replicas} replicas`} on claim "${v.persistentVolumeClaim.claimName}" (${modes.join(", ") || "no access modes"}); pods on other nodes cannot mount it: use ReadWriteMany (longhorn, juicefs) or one replica.`,
            r.urn,
          );
        }
      }
    }
  },
};

/** `--flag value` lookups in a container's command line. */
function flagValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Checks one Redis workload; returns what is missing, in words. */
export function redisDurabilityProblems(resource: Pick<PolicyResource, "type" | "props">): string[] {
  const problems: string[] = [];
  for (const pod of podTemplatesOf(resource.type, resource.props)) {
    for (const c of (pod.spec.containers ?? []).filter((x) => x.image && /(^|\/)redis([:@]|$)/.test(x.image))) {
      const argv = [...(c.command ?? []), ...(c.args ?? [])];
      if (flagValue(argv, "--appendonly") !== "yes") problems.push(`container "${c.name}" runs without --appendonly yes (AOF persistence)`);
      const dataDir = flagValue(argv, "--dir") ?? "/data";
      const mount = (c.volumeMounts ?? []).find((m) => m.mountPath.replace(/\/+$/, "") === dataDir.replace(/\/+$/, ""));
      const claimTemplates = new Set(pod.volumeClaimTemplates.map((t) => t.metadata?.name));
      const claimVolume = (pod.spec.volumes ?? []).some((v) => v.name === mount?.name && v.persistentVolumeClaim);
      if (!mount || !(claimTemplates.has(mount.name) || claimVolume)) {
        problems.push(`container "${c.name}" keeps ${dataDir} on no persistent volume (mount a PVC or a volumeClaimTemplate there)`);
      }
      // The password in a config file from a Secret: in argv (literal or $(VAR)) it sits in the node's process table.
      const secretVolumes = new Set((pod.spec.volumes ?? []).filter((v) => v.secret).map((v) => v.name));
      const conf = argv.find((a) => a.endsWith(".conf"));
      const confOnSecret =
        conf !== undefined &&
        (c.volumeMounts ?? []).some((m) => secretVolumes.has(m.name) && conf.startsWith(`${m.mountPath.replace(/\/+$/, "")}/`));
      if (argv.includes("--requirepass") || !confOnSecret) {
        problems.push(
          `container "${c.name}" must read requirepass from a config file on a Secret volume (redis-server /path/on/the/volume/auth.conf), never --requirepass in argv`,
        );
      }
    }
  }
  return problems;
}

export const juicefsRedisDurable: ResourceValidationPolicy = {
  name: "juicefs-redis-durable",
  description:
    "The JuiceFS metadata Redis persists (AOF + a persistent volume) and requires a password from a config file on a Secret volume.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    for (const problem of redisDurabilityProblems(args)) {
      report(`${problem}; losing JuiceFS metadata loses every file in the volume.`);
    }
  },
};
