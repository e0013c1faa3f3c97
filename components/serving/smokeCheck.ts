/** The smoke check after deploy: a Job that Pulumi waits for, calling the model's in-cluster Service. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext, placement, podSecurity, restrictedContainerSecurity, withFailureMessages } from "../cluster";
import { ModelConfig } from "../config/schema";
import { apiKeyEnv } from "../engines/engine";
import { labels, shortHash } from "../naming";
import { runScript, SMOKE_CHECK, withScripts } from "../scripts";

export const MODEL_CONFIG_ANNOTATION = "llm-serving.io/model-config-digest";

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
   * How long the server may take to accept connections: its fill and startup budget (Pulumi creates
   * the Job once the server is Ready; applied without that ordering, the Job may start first).
   */
  readonly serverWaitSeconds: number;
  /** What the server must report as loaded before the check calls it (the revision it was given). Default: not checked. */
  readonly servedModel?: ServedModelCheck;
}

/** The check's pod: the server must report this revision's model, list it on `/v1/models` and answer a 1-token completion. */
export function smokeCheckJobSpec(args: SmokeCheckArgs): k8s.types.input.batch.v1.JobSpec {
  const pod = withScripts(
    withFailureMessages({
      restartPolicy: "Never",
      automountServiceAccountToken: false,
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
      // Any change to the model's config changes the template, so the Job runs again after the roll.
      metadata: {
        labels: labels(args.model.name, "smoke-check"),
        annotations: { [MODEL_CONFIG_ANNOTATION]: shortHash(JSON.stringify(args.model)), ...pod.annotations },
      },
      spec: pod.spec,
    },
  };
}

/**
 * Created after the server, which Pulumi awaits until Ready; Pulumi then waits for this Job, so a
 * server that is Ready but does not answer fails the `up`. Kept after completion; any change of the
 * model's config (revision, image, flags) replaces it, so it checks the rolled server again.
 */
export function smokeCheckJob(name: string, args: SmokeCheckArgs, opts: pulumi.CustomResourceOptions): k8s.batch.v1.Job {
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
    { ...opts, customTimeouts: { create: "20m" } },
  );
}
