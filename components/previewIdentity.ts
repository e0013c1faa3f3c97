/**
 * A read-only identity for `pulumi preview` in CI, created by the stack itself: a ServiceAccount that
 * may get, list and watch exactly the kinds the program manages (never Secrets), and a kubeconfig for
 * it as a secret stack output. Any branch pushed to the repository can change a workflow and print
 * what its preview job holds, so a preview gets an identity that cannot change anything.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { parse } from "yaml";
import { PreviewIdentityConfig } from "./config/schema";
import { labels } from "./naming";

export const PREVIEW_NAME = "llm-serving-preview";
const READ_ONLY = ["get", "list", "watch"];

type PolicyRule = k8s.types.input.rbac.v1.PolicyRule;

/**
 * The namespaced kinds the program manages, by API group: what a preview (and `--refresh`) reads.
 * Secrets are left out on purpose: a preview diffs them from the state, and reading them would hand
 * every credential of the stack to whoever can push a branch.
 */
export const PREVIEW_NAMESPACED_KINDS: Readonly<Record<string, readonly string[]>> = {
  "": ["configmaps", "services", "serviceaccounts", "persistentvolumeclaims"],
  apps: ["deployments", "statefulsets"],
  batch: ["jobs"],
  policy: ["poddisruptionbudgets"],
  "networking.k8s.io": ["networkpolicies"],
  "rbac.authorization.k8s.io": ["roles", "rolebindings"],
  "keda.sh": ["scaledobjects"],
  "monitoring.coreos.com": ["podmonitors"],
  "data.fluid.io": ["datasets", "alluxioruntimes", "dataloads"],
  "nvidia.com": ["dynamographdeployments"],
  "leaderworkerset.x-k8s.io": ["leaderworkersets"],
};

/** The cluster-scoped kinds the program manages or the provider reads for custom resources. */
export const PREVIEW_CLUSTER_KINDS: Readonly<Record<string, readonly string[]>> = {
  "": ["namespaces"],
  "storage.k8s.io": ["storageclasses"],
  "apiextensions.k8s.io": ["customresourcedefinitions"],
  "rbac.authorization.k8s.io": ["clusterroles", "clusterrolebindings"],
};

/** RBAC rules granting only get/list/watch on `kinds`. */
export function readOnlyRules(kinds: Readonly<Record<string, readonly string[]>>): PolicyRule[] {
  return Object.entries(kinds).map(([group, resources]) => ({ apiGroups: [group], resources: [...resources], verbs: READ_ONLY }));
}

/** The cluster-wide objects' name: one per stack namespace, so two stacks on one cluster never share it. */
export function previewClusterRoleName(namespace: string): string {
  return `${PREVIEW_NAME}-${namespace}`;
}

/** The token Secret's name: a new generation is a new Secret, and deleting the old one revokes its token. */
export function previewTokenSecretName(generation: number): string {
  return `${PREVIEW_NAME}-token-${generation}`;
}

/**
 * The API server of kubeconfig `context` (else the current context) in the files of `KUBECONFIG`
 * (else ~/.kube/config), as kubectl merges them: the first file that names a context or cluster wins.
 * `undefined` when no file names it.
 */
export function kubeconfigServer(files: readonly string[], context?: string): string | undefined {
  const docs = files
    .filter((file) => existsSync(file))
    .map(
      (file) =>
        (parse(readFileSync(file, "utf8")) ?? {}) as {
          "current-context"?: string;
          contexts?: { name: string; context?: { cluster?: string } }[];
          clusters?: { name: string; cluster?: { server?: string } }[];
        },
    );
  const contextName = context ?? docs.find((d) => d["current-context"])?.["current-context"];
  const cluster = docs.flatMap((d) => d.contexts ?? []).find((c) => c.name === contextName)?.context?.cluster;
  return docs.flatMap((d) => d.clusters ?? []).find((c) => c.name === cluster)?.cluster?.server;
}

/** The kubeconfig files the Kubernetes provider reads when none is configured: `KUBECONFIG`, else ~/.kube/config. */
export function ambientKubeconfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  return env.KUBECONFIG ? env.KUBECONFIG.split(delimiter).filter(Boolean) : [join(homedir(), ".kube", "config")];
}

/**
 * The server the preview kubeconfig names: `previewIdentity.server`, else the deploying context's.
 * Throws, naming the key, before anything is created when neither is known.
 */
export function previewServer(settings: PreviewIdentityConfig, context?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (settings.server) return settings.server;
  const files = ambientKubeconfigFiles(env);
  const server = kubeconfigServer(files, context);
  if (!server) {
    throw new Error(
      `llm-serving:previewIdentity.server: not set, and no kubeconfig context ${context ? JSON.stringify(context) : "(current)"} with a server in ${files.join(", ")}; expected the https URL of the API server the preview kubeconfig should name, or previewIdentity.enabled: false`,
    );
  }
  return server;
}

/** A kubeconfig (JSON, which kubectl and the Pulumi provider read as YAML) for the preview identity. */
export function previewKubeconfig(args: {
  readonly server: string;
  readonly caData: string;
  readonly token: string;
  readonly namespace: string;
  /** The context name: the stack's `kubernetes.context` where set, so the provider finds it. */
  readonly context: string;
}): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: args.context, cluster: { server: args.server, "certificate-authority-data": args.caData } }],
    users: [{ name: PREVIEW_NAME, user: { token: args.token } }],
    contexts: [{ name: args.context, context: { cluster: args.context, user: PREVIEW_NAME, namespace: args.namespace } }],
    "current-context": args.context,
  });
}

export interface PreviewIdentityArgs {
  /** The parsed `previewIdentity` block (enabled). */
  readonly settings: PreviewIdentityConfig;
  /** The serving namespace. */
  readonly namespace: pulumi.Output<string>;
  /** The namespace's name as configured (cluster-wide names derive from it). */
  readonly namespaceName: string;
  /** The API server URL the kubeconfig names (see `previewServer`). */
  readonly server: string;
  /** The kubeconfig context name: `kubernetes.context`, default `llm-serving-preview`. */
  readonly context?: string;
}

export class PreviewIdentity extends pulumi.ComponentResource {
  /** The kubeconfig of the read-only identity (secret). */
  public readonly kubeconfig: pulumi.Output<string>;

  constructor(name: string, args: PreviewIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:index:PreviewIdentity", name, {}, opts);
    const child = { parent: this };
    const namespace = args.namespace;
    const meta = (objectName: string) => ({ name: objectName, namespace, labels: labels(objectName, "preview-identity") });

    const account = new k8s.core.v1.ServiceAccount("account", { metadata: meta(PREVIEW_NAME), automountServiceAccountToken: false }, child);
    const role = new k8s.rbac.v1.Role("role", { metadata: meta(PREVIEW_NAME), rules: readOnlyRules(PREVIEW_NAMESPACED_KINDS) }, child);
    const subjects = [{ kind: "ServiceAccount", name: account.metadata.name, namespace }];
    new k8s.rbac.v1.RoleBinding(
      "role-binding",
      {
        metadata: meta(PREVIEW_NAME),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects,
      },
      child,
    );
    const clusterName = previewClusterRoleName(args.namespaceName);
    const clusterMeta = { name: clusterName, labels: labels(clusterName, "preview-identity") };
    const clusterRole = new k8s.rbac.v1.ClusterRole(
      "cluster-role",
      { metadata: clusterMeta, rules: readOnlyRules(PREVIEW_CLUSTER_KINDS) },
      child,
    );
    new k8s.rbac.v1.ClusterRoleBinding(
      "cluster-role-binding",
      {
        metadata: clusterMeta,
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole.metadata.name },
        subjects,
      },
      child,
    );
    // The token controller fills `token` and `ca.crt`; the provider waits for them. It lives as long as
    // this Secret: a new tokenGeneration replaces the Secret, which revokes the previous token.
    const tokenSecret = new k8s.core.v1.Secret(
      "token",
      {
        metadata: {
          ...meta(previewTokenSecretName(args.settings.tokenGeneration)),
          annotations: { "kubernetes.io/service-account.name": PREVIEW_NAME },
        },
        type: "kubernetes.io/service-account-token",
      },
      { ...child, dependsOn: [account], additionalSecretOutputs: ["data"] },
    );
    const context = args.context ?? PREVIEW_NAME;
    this.kubeconfig = pulumi.secret(
      pulumi.all([tokenSecret.data, namespace]).apply(([data, ns]) =>
        previewKubeconfig({
          server: args.server,
          caData: data?.["ca.crt"] ?? "",
          token: data?.token ? Buffer.from(data.token, "base64").toString("utf8") : "",
          namespace: ns,
          context,
        }),
      ),
    );
    this.registerOutputs({ kubeconfig: this.kubeconfig });
  }
}
