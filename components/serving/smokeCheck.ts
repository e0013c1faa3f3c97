/** The smoke check after deploy: a Job that Pulumi waits for, calling the model's in-cluster Service. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext, placement, podSecurity, restrictedContainerSecurity, withFailureMessages } from "../cluster";
import { ModelConfig } from "../config/schema";
import { apiKeyEnv } from "../engines/engine";
import { labels, shortHash } from "../naming";
import { runScript, SMOKE_CHECK, withScripts } from "../scripts";
import { DEFAULT_PULL_SECONDS } from "./startup";

export const MODEL_CONFIG_ANNOTATION = "llm-serving.io/model-config-digest";
/** On the server's Deployment or StatefulSet: a digest of the pod template Pulumi applied to it. */
export const POD_TEMPLATE_ANNOTATION = "llm-serving.io/pod-template-digest";

/**
 * The server's workload as the check reads it: it waits until the workload carries the pod template
 * of this `up` (`POD_TEMPLATE_ANNOTATION`) and has rolled it out, so pods of an earlier template that
 * report the same revision (an image, flag or budget change) never pass the check for the new one.
 */
export interface ServerRollout {
  /** The workload's resource in `apps/v1`. */
  readonly resource: "deployments" | "statefulsets";
  /** The workload's name. */
  readonly name: string;
  /** The digest of its pod template, as in its `POD_TEMPLATE_ANNOTATION`. */
  readonly templateDigest: pulumi.Input<string>;
}

/** The digest of a pod template once its inputs are known: what `POD_TEMPLATE_ANNOTATION` holds. */
export function podTemplateDigest(template: pulumi.Input<k8s.types.input.core.v1.PodTemplateSpec>): pulumi.Output<string> {
  return pulumi.output(template).apply((resolved) => shortHash(JSON.stringify(resolved)));
}

/** A server's report of the model it loaded (`InferenceEngine.servedModel`) and the value this revision gives it. */
export interface ServedModelCheck {
  readonly url: pulumi.Input<string>;
  readonly field: string;
  readonly expected: pulumi.Input<string>;
}

export interface SmokeCheckArgs {
  /** The model whose server is checked (its served name is `model.name`). */
  readonly model: ModelConfig;
  /** Cluster context (namespace, placement). */
  readonly cluster: ClusterContext;
  /** The server's OpenAI-compatible base URL, ending in `/v1`. */
  readonly baseUrl: pulumi.Input<string>;
  /** The Secret with the server's API key, when it requires one. Default: none. */
  readonly apiKeySecret?: pulumi.Input<string>;
  /**
   * How long the server may take to accept connections: its fill and startup budget (the Job starts
   * beside the server, so it waits through the mirror, the preload and the server's start).
   */
  readonly serverWaitSeconds: number;
  /** What the server must report as loaded before the check calls it (the revision it was given). Default: not checked. */
  readonly servedModel?: ServedModelCheck;
  /** The server pods' labels: the check watches them while it waits. */
  readonly serverPodLabels: Record<string, string>;
  /** The server's own await (Pulumi's timeout of its Deployment or StatefulSet): how long one of its pods may stay not Ready. */
  readonly serverReadySeconds: number;
  /** The model's config key (`llm-serving:models[i]`), named when no node can hold its server. */
  readonly configKey: string;
  /** The service account the check reads the server pods with (`smokeCheckAccount`). */
  readonly serviceAccountName: pulumi.Input<string>;
  /** The server's Deployment or StatefulSet, whose rollout the check waits for. Default: none (a LeaderWorkerSet's or Dynamo's: the served revision only). */
  readonly rollout?: ServerRollout;
}

/** How long a server pod may stay unschedulable: the await's scheduling and pull margin (a cluster autoscaler's node may take that). */
export function unschedulableSeconds(model: ModelConfig): number {
  return model.startup.pullSeconds ?? DEFAULT_PULL_SECONDS;
}

/** The label selector of `labels`, as the API server's `labelSelector` query takes it. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

/** The check's pod: the server must report this revision's model, list it on `/v1/models` and answer a 1-token completion. */
export function smokeCheckJobSpec(args: SmokeCheckArgs): k8s.types.input.batch.v1.JobSpec {
  const pod = withScripts(
    withFailureMessages({
      restartPolicy: "Never",
      // Its token may only get and list pods of the namespace (smokeCheckAccount): the placement watch.
      serviceAccountName: args.serviceAccountName,
      automountServiceAccountToken: true,
      securityContext: podSecurity(),
      ...placement(args.cluster.kubernetes),
      containers: [
        {
          name: "smoke-check",
          image: args.cluster.pythonImage,
          command: runScript(SMOKE_CHECK, args.baseUrl, args.model.name),
          resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
          securityContext: restrictedContainerSecurity(),
          env: [
            { name: "CONNECT_WAIT_SECONDS", value: String(args.serverWaitSeconds) },
            { name: "SERVER_POD_SELECTOR", value: labelSelector(args.serverPodLabels) },
            { name: "UNSCHEDULABLE_SECONDS", value: String(unschedulableSeconds(args.model)) },
            { name: "READY_SECONDS", value: String(args.serverReadySeconds) },
            { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            { name: "CONFIG_PATH", value: args.configKey },
            ...(args.rollout
              ? [
                  { name: "SERVER_WORKLOAD", value: `${args.rollout.resource}/${args.rollout.name}` },
                  { name: "POD_TEMPLATE_DIGEST", value: args.rollout.templateDigest },
                ]
              : []),
            ...(args.servedModel
              ? [
                  { name: "EXPECTED_MODEL", value: args.servedModel.expected },
                  { name: "SERVED_MODEL_URL", value: args.servedModel.url },
                  { name: "SERVED_MODEL_FIELD", value: args.servedModel.field },
                ]
              : []),
            ...(args.apiKeySecret ? [apiKeyEnv("SERVER_API_KEY", args.apiKeySecret)] : []),
          ],
        },
      ],
    }),
    args.cluster.scripts,
  );
  return {
    // A wrong answer is not transient: two tries, then the `up` fails with the body.
    backoffLimit: 1,
    activeDeadlineSeconds: args.serverWaitSeconds + 900,
    template: {
      // Any change to the model's config or the server's pod template (POD_TEMPLATE_DIGEST) changes
      // the template, so the Job runs again after the roll.
      metadata: {
        labels: labels(args.model.name, "smoke-check"),
        annotations: { [MODEL_CONFIG_ANNOTATION]: shortHash(JSON.stringify(args.model)), ...pod.annotations },
      },
      spec: pod.spec,
    },
  };
}

/** What the check's token may do: list the namespace's pods (why a server pod does not serve) and get the server's workload (its rollout). */
export function smokeCheckRules(rollout?: ServerRollout): k8s.types.input.rbac.v1.PolicyRule[] {
  return [
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
    ...(rollout ? [{ apiGroups: ["apps"], resources: [rollout.resource], resourceNames: [rollout.name], verbs: ["get"] }] : []),
  ];
}

/** The check's own identity: a ServiceAccount with a Role of `smokeCheckRules`. Its name. */
export function smokeCheckAccount(
  name: string,
  cluster: ClusterContext,
  rollout: ServerRollout | undefined,
  opts: pulumi.CustomResourceOptions,
): pulumi.Output<string> {
  const metadata = { name, namespace: cluster.namespace, labels: labels(name, "smoke-check") };
  const account = new k8s.core.v1.ServiceAccount(`${name}-account`, { metadata, automountServiceAccountToken: false }, opts);
  const role = new k8s.rbac.v1.Role(`${name}-role`, { metadata, rules: smokeCheckRules(rollout) }, opts);
  new k8s.rbac.v1.RoleBinding(
    `${name}-role-binding`,
    {
      metadata,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
      subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: cluster.namespace }],
    },
    opts,
  );
  return account.metadata.name;
}

/**
 * Created beside the server (after what fills its cache), not after it: while Pulumi awaits the
 * server, the check watches its pods and fails naming the scheduler's reason when none can be placed,
 * or a failing init step's words (the provider's await reports only main containers); it gives up no
 * later than the server's own await, which `pulumi up` waits for anyway. It waits for the workload to
 * roll out this `up`'s pod template (the provider's Deployment await can call a rollout done before
 * its pods are: seen on a real node), then calls the server, so a server that is Ready but does not
 * answer fails the `up`. Kept after completion; any change of the
 * model's config (revision, image, flags) replaces it, so it checks the rolled server again.
 */
export function smokeCheckJob(name: string, args: SmokeCheckArgs, opts: pulumi.CustomResourceOptions): k8s.batch.v1.Job {
  // It waits as long as the mirror, the preload and the server may take, then its own deadline.
  const timeout = `${Math.ceil((args.serverWaitSeconds + 900) / 60) + 5}m`;
  return new k8s.batch.v1.Job(
    name,
    {
      metadata: {
        namespace: args.cluster.namespace,
        labels: labels(args.model.name, "smoke-check"),
        annotations: { "llm-serving.io/revision": args.model.revision },
      },
      spec: smokeCheckJobSpec(args),
    },
    { ...opts, customTimeouts: { create: timeout, update: timeout } },
  );
}
