/** Hugging Face@revision → `models/<org>/<name>/<revision>/` in the bucket, manifest.json last. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { minutes, mirrorBudgetSeconds } from "../budgets";
import { DEFAULT_IMAGES } from "../images";
import { ClusterContext, podSecurity, restrictedContainerSecurity, TMP_MOUNT, TMP_VOLUME, withFailureMessages } from "../cluster";
import { ModelConfig, PreloadConfig } from "../config/schema";
import { labels, MIRROR_ROOT_PREFIX, modelAnnotations, modelPrefix, revisionSlug } from "../naming";
import { ModelStore, S3_SECRET_KEYS, s3EnvFromSecret } from "../store/modelStore";
import { MIRROR_CHECK, MIRROR_DOWNLOAD, MIRROR_UPLOAD, runScript, withScripts } from "../scripts";
import { HUB_TRANSFER_ENV, hubEndpointEnv } from "../hub";

/** The Python image's default (`images.python`). */
export const MIRROR_PYTHON_IMAGE = DEFAULT_IMAGES.python;
export const HF_HUB_VERSION = "1.33.0";
/** The upload step's S3 client (installed by the download step beside huggingface_hub). */
export const BOTO3_VERSION = "1.44.8";

export interface ModelMirrorArgs {
  /** The model to mirror. */
  readonly model: ModelConfig;
  /** Bucket and writer credentials. */
  readonly store: ModelStore;
  /** Cluster context. */
  readonly cluster: ClusterContext;
  /** Copier image (the check step's s5cmd) and tuning: the upload's parts and parts in flight. */
  readonly preload: PreloadConfig;
  /** The model's config key, e.g. `llm-serving:models[0]`, named in the Job's errors. */
  readonly configKey: string;
  /** Name of the Secret with HF_TOKEN, when an hfToken is configured. */
  readonly hfTokenSecret?: pulumi.Input<string>;
  /** `huggingFace.endpoint`: a Hub mirror or artifact proxy. Default: the public Hub. */
  readonly hubEndpoint?: string;
}

/** The setup check's probe: beside the models (never inside one), one per model, overwritten each run. */
export function setupCheckObject(model: Pick<ModelConfig, "name">): string {
  return `${MIRROR_ROOT_PREFIX}/.setup-check/${model.name}`;
}

/** Scratch space for the download: the model plus room for the hf CLI and manifests. */
export function mirrorScratchGiB(sizeGiB: number): number {
  return Math.ceil(sizeGiB * 1.1 + 2);
}

/**
 * Where the bucket check and the download step leave a failure and exit 0: Pulumi reports only a Job
 * pod's main container (an init step's exit reads "containers with incomplete status"), so the
 * upload step fails with it, naming what failed and why.
 */
const MIRROR_FAILED_ENV = { name: "MIRROR_FAILED_FILE", value: "/work/mirror.failed" };

export function mirrorJobSpec(args: ModelMirrorArgs): k8s.types.input.batch.v1.JobSpec {
  const { model, store, preload } = args;
  const plainEnv = [
    { name: "BUCKET", value: store.bucket },
    { name: "PREFIX", value: modelPrefix(model) },
    // The Secret's name, for error messages; its values come by secretKeyRef.
    { name: "S3_ACCESS_FROM", value: store.writerSecretName },
  ];
  const writerEnv = s3EnvFromSecret(store.writerSecretName);
  const scratch = `${mirrorScratchGiB(model.sizeGiB)}Gi`;
  const mounts = [{ name: "work", mountPath: "/work" }, TMP_MOUNT];
  // The check step also proves the reader's rights (list + get, and a put refused) on the bucket.
  const readerKey = (key: string) => ({ secretKeyRef: { name: store.readerSecretName, key } });
  const setupCheckEnv = [
    { name: "PROBE_OBJECT", value: setupCheckObject(model) },
    { name: "READER_FROM", value: store.readerSecretName },
    { name: "READER_ACCESS_KEY_ID", valueFrom: readerKey(S3_SECRET_KEYS.accessKeyId) },
    { name: "READER_SECRET_ACCESS_KEY", valueFrom: readerKey(S3_SECRET_KEYS.secretAccessKey) },
  ];
  const pod = withScripts(
    withFailureMessages({
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      securityContext: podSecurity(),
      ...(args.cluster.kubernetes.tolerations?.length ? { tolerations: args.cluster.kubernetes.tolerations } : {}),
      initContainers: [
        {
          name: "check",
          image: preload.image,
          command: runScript(MIRROR_CHECK),
          env: [...plainEnv, ...writerEnv, ...setupCheckEnv, MIRROR_FAILED_ENV],
          resources: { requests: { cpu: "500m", memory: "512Mi" }, limits: { memory: "2Gi" } },
          securityContext: restrictedContainerSecurity(),
          volumeMounts: mounts,
        },
        {
          name: "download",
          image: args.cluster.pythonImage,
          command: runScript(MIRROR_DOWNLOAD),
          env: [
            { name: "HF_REPO", value: model.huggingFace },
            { name: "HF_REVISION", value: model.revision },
            ...(model.include ? [{ name: "HF_INCLUDE", value: JSON.stringify(model.include) }] : []),
            { name: "HF_EXCLUDE", value: JSON.stringify(model.exclude) },
            // The download refuses to start when the Hub's sizes exceed these, naming CONFIG_PATH.
            { name: "SIZE_GIB", value: String(model.sizeGiB) },
            { name: "SCRATCH_GIB", value: String(mirrorScratchGiB(model.sizeGiB)) },
            { name: "CONFIG_PATH", value: args.configKey },
            { name: "HF_HUB_VERSION", value: HF_HUB_VERSION },
            { name: "BOTO3_VERSION", value: BOTO3_VERSION },
            // The upload's part size: this step hashes every part the upload sends.
            { name: "PART_MIB", value: String(preload.partSizeMiB) },
            ...HUB_TRANSFER_ENV,
            ...hubEndpointEnv(args.hubEndpoint),
            MIRROR_FAILED_ENV,
            { name: "HOME", value: "/work/home" },
            { name: "HF_HOME", value: "/work/hf-home" },
            ...(args.hfTokenSecret
              ? [{ name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: args.hfTokenSecret, key: "HF_TOKEN" } } }]
              : []),
          ],
          resources: { requests: { cpu: "1", memory: "1Gi", "ephemeral-storage": scratch }, limits: { memory: "4Gi" } },
          securityContext: restrictedContainerSecurity(),
          volumeMounts: mounts,
        },
      ],
      containers: [
        {
          name: "upload",
          image: args.cluster.pythonImage,
          command: runScript(MIRROR_UPLOAD, "--concurrency", String(preload.concurrency)),
          env: [...plainEnv, ...writerEnv, { name: "S3_PATH_STYLE", value: store.pathStyle ? "1" : "0" }, MIRROR_FAILED_ENV],
          resources: { requests: { cpu: "500m", memory: "512Mi" }, limits: { memory: "2Gi" } },
          securityContext: restrictedContainerSecurity(),
          volumeMounts: mounts,
        },
      ],
      volumes: [{ name: "work", emptyDir: { sizeLimit: scratch } }, TMP_VOLUME],
    }),
    args.cluster.scripts,
  );
  return {
    backoffLimit: 4,
    template: {
      metadata: { labels: labels(args.model.name, "model-mirror"), annotations: { ...modelAnnotations(args.model), ...pod.annotations } },
      spec: pod.spec,
    },
  };
}

export class ModelMirror extends pulumi.ComponentResource {
  /** The Job; consumers that read the bucket depend on it. */
  public readonly job: k8s.batch.v1.Job;
  /** s3://bucket/models/<org>/<name>/<revision> */
  public readonly uri: pulumi.Output<string>;

  constructor(name: string, args: ModelMirrorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:mirror:ModelMirror", name, {}, opts);
    this.job = new k8s.batch.v1.Job(
      `${name}-mirror`,
      {
        // The revision is in the name: a new revision is a new Job, an unchanged one is left alone.
        metadata: {
          name: `${args.model.name}-mirror-${revisionSlug(args.model.revision)}`,
          namespace: args.cluster.namespace,
          labels: labels(args.model.name, "model-mirror"),
          annotations: args.cluster.workloadAnnotations,
        },
        spec: mirrorJobSpec(args),
      },
      { parent: this, dependsOn: args.store.ready, customTimeouts: { create: minutes(mirrorBudgetSeconds(args.model)) } },
    );
    this.uri = pulumi.interpolate`s3://${args.store.bucket}/${modelPrefix(args.model)}`;
    this.registerOutputs({ uri: this.uri });
  }
}
