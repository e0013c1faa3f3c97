/** In-cluster MinIO: StatefulSet + PVC + Service, a bucket/user setup Job, reader and writer users. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ClusterContext, podSecurity, restrictedContainerSecurity, TMP_MOUNT, TMP_VOLUME, withFailureMessages } from "../cluster";
import { ObjectStoreConfig } from "../config/schema";
import { MINIO_SETUP, runScript, withScripts } from "../scripts";
import { labels, selectorLabels } from "../naming";
import {
  bucketPolicyDocument,
  createCredentialSecrets,
  ModelStore,
  S3_SECRET_KEYS,
  S3Credentials,
  StoreRole,
  VolumeCredential,
} from "./modelStore";

export interface MinioModelStoreArgs {
  /** The parsed `objectStore` config (provider minio). */
  readonly store: ObjectStoreConfig;
  /** Cluster context (namespace, annotations). */
  readonly cluster: ClusterContext;
  /** Sum of all model sizes in GiB; sizes the data volume when `minio.storageSize` is unset. */
  readonly totalModelGiB: number;
  /** The JuiceFS volume's prefix, when the stack uses juicefs: a third user scoped to it. Default: none. */
  readonly volumePrefix?: string;
}

/** The MinIO pods (its NetworkPolicy selects them). */
export const MINIO_SELECTOR = selectorLabels("minio", "object-store");
export const MINIO_PORT = 9000;

/** Default data volume: every model plus 25% for new revisions, rounded up to 10 GiB. */
export function minioStorageSize(store: ObjectStoreConfig, totalModelGiB: number): string {
  return store.minio?.storageSize ?? `${Math.max(20, Math.ceil((totalModelGiB * 1.25) / 10) * 10)}Gi`;
}

/** MinIO speaks AWS IAM: the same policy documents, on `arn:aws:s3:::<bucket>`. */
export function minioPolicy(bucket: string, role: StoreRole, volumePrefix?: string): string {
  return bucketPolicyDocument(`arn:aws:s3:::${bucket}`, role, volumePrefix);
}

export class MinioModelStore extends pulumi.ComponentResource implements ModelStore {
  public readonly provider = "minio" as const;
  public readonly bucket: pulumi.Output<string>;
  public readonly endpoint: pulumi.Output<string>;
  public readonly region = "us-east-1";
  public readonly pathStyle = true;
  public readonly reader: S3Credentials;
  public readonly writer: S3Credentials;
  public readonly volume?: VolumeCredential;
  public readonly readerSecretName: pulumi.Output<string>;
  public readonly writerSecretName: pulumi.Output<string>;
  public readonly ready: pulumi.Resource[];
  /** Your own disks: no per-GB price. */
  public readonly pricePerGbMonth = 0;
  public readonly storageSize: string;

  constructor(name: string, args: MinioModelStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:store:MinioModelStore", name, {}, opts);
    const { store, cluster } = args;
    const minio = store.minio ?? {
      image: "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
      clientImage: "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z",
    };
    const ns = cluster.namespace;
    const child = { parent: this };
    // Regenerating credentials would lock existing data out, so they share the bucket's protection.
    const keep = { parent: this, protect: store.protect };
    const password = (n: string) => new random.RandomPassword(n, { length: 40, special: false }, keep);
    const rootPassword = password("root-password");
    const readerSecret = password("reader-secret-key");
    const writerSecret = password("writer-secret-key");
    this.reader = { accessKeyId: pulumi.secret(pulumi.output("llm-reader")), secretAccessKey: pulumi.secret(readerSecret.result) };
    this.writer = { accessKeyId: pulumi.secret(pulumi.output("llm-writer")), secretAccessKey: pulumi.secret(writerSecret.result) };
    const roles: StoreRole[] = args.volumePrefix ? ["reader", "writer", "volume"] : ["reader", "writer"];
    if (args.volumePrefix) {
      const volumeSecret = password("volume-secret-key");
      const credentials = { accessKeyId: pulumi.secret(pulumi.output("llm-volume")), secretAccessKey: pulumi.secret(volumeSecret.result) };
      this.volume = { bucket: pulumi.output(store.bucket), prefix: args.volumePrefix, credentials };
    }

    const appLabels = labels("minio", "object-store");
    const selector = MINIO_SELECTOR;
    const root = new k8s.core.v1.Secret(
      "minio-root",
      {
        metadata: { name: "minio-root", namespace: ns, labels: appLabels },
        stringData: { MINIO_ROOT_USER: "llm-root", MINIO_ROOT_PASSWORD: rootPassword.result },
      },
      child,
    );
    const service = new k8s.core.v1.Service(
      "minio",
      {
        metadata: { name: "minio", namespace: ns, labels: appLabels },
        spec: { selector, ports: [{ name: "s3", port: 9000, targetPort: "s3" }] },
      },
      child,
    );
    this.storageSize = minioStorageSize(store, args.totalModelGiB);
    const statefulSet = new k8s.apps.v1.StatefulSet(
      "minio",
      {
        metadata: { name: "minio", namespace: ns, labels: appLabels, annotations: cluster.workloadAnnotations },
        spec: {
          serviceName: "minio",
          replicas: 1,
          selector: { matchLabels: selector },
          // Weights live on this claim: keep it when the StatefulSet goes away.
          persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
          template: {
            metadata: { labels: appLabels },
            spec: withFailureMessages({
              automountServiceAccountToken: false,
              securityContext: podSecurity(),
              containers: [
                {
                  name: "minio",
                  image: minio.image,
                  // The root filesystem is read-only: certificates (none) are looked up under /tmp, not $HOME.
                  args: ["server", "/data", "--address", ":9000", "--console-address", ":9001", "--certs-dir", "/tmp/certs"],
                  envFrom: [{ secretRef: { name: root.metadata.name } }],
                  ports: [{ name: "s3", containerPort: 9000 }],
                  readinessProbe: { httpGet: { path: "/minio/health/ready", port: "s3" }, periodSeconds: 10 },
                  livenessProbe: { httpGet: { path: "/minio/health/live", port: "s3" }, periodSeconds: 20, failureThreshold: 6 },
                  resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "2Gi" } },
                  securityContext: restrictedContainerSecurity(),
                  volumeMounts: [{ name: "data", mountPath: "/data" }, TMP_MOUNT],
                },
              ],
              volumes: [TMP_VOLUME],
            }),
          },
          volumeClaimTemplates: [
            {
              metadata: { name: "data", labels: appLabels },
              spec: {
                accessModes: ["ReadWriteOnce"],
                storageClassName: minio.storageClassName,
                resources: { requests: { storage: this.storageSize } },
              },
            },
          ],
        },
      },
      child,
    );

    this.endpoint = pulumi.interpolate`http://minio.${ns}.svc.cluster.local:9000`;
    const credentials = createCredentialSecrets(
      { provider: "minio", namespace: ns, endpoint: this.endpoint, region: this.region, reader: this.reader, writer: this.writer },
      child,
    );
    const policies = new k8s.core.v1.ConfigMap(
      "minio-policies",
      {
        metadata: { name: "minio-policies", namespace: ns, labels: appLabels },
        data: Object.fromEntries(roles.map((role) => [`${role}.json`, minioPolicy(store.bucket, role, args.volumePrefix)])),
      },
      child,
    );
    // The setup Job reads the volume user's key from a Secret of its own (never a literal).
    const volumeUser = this.volume
      ? new k8s.core.v1.Secret(
          "minio-volume",
          {
            metadata: { name: "minio-volume", namespace: ns, labels: labels("minio-volume", "credentials") },
            type: "Opaque",
            stringData: {
              [S3_SECRET_KEYS.accessKeyId]: this.volume.credentials.accessKeyId,
              [S3_SECRET_KEYS.secretAccessKey]: this.volume.credentials.secretAccessKey,
            },
          },
          child,
        )
      : undefined;
    const roleEnv = (role: StoreRole, secret: k8s.core.v1.Secret) => [
      { name: `${role}_ACCESS_KEY`, valueFrom: { secretKeyRef: { name: secret.metadata.name, key: S3_SECRET_KEYS.accessKeyId } } },
      { name: `${role}_SECRET_KEY`, valueFrom: { secretKeyRef: { name: secret.metadata.name, key: S3_SECRET_KEYS.secretAccessKey } } },
    ];
    const setupPod = withScripts(
      withFailureMessages({
        restartPolicy: "OnFailure",
        automountServiceAccountToken: false,
        securityContext: podSecurity(),
        containers: [
          {
            name: "setup",
            image: minio.clientImage,
            command: runScript(MINIO_SETUP, store.bucket, ...roles),
            env: [
              { name: "MINIO_URL", value: "http://minio:9000" },
              { name: "MC_CONFIG_DIR", value: "/tmp/.mc" },
              ...roleEnv("reader", credentials.reader),
              ...roleEnv("writer", credentials.writer),
              ...(volumeUser ? roleEnv("volume", volumeUser) : []),
            ],
            envFrom: [{ secretRef: { name: root.metadata.name } }],
            resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
            securityContext: restrictedContainerSecurity(),
            volumeMounts: [{ name: "policies", mountPath: "/policies", readOnly: true }, TMP_MOUNT],
          },
        ],
        volumes: [{ name: "policies", configMap: { name: policies.metadata.name } }, TMP_VOLUME],
      }),
      cluster.scripts,
    );
    const setup = new k8s.batch.v1.Job(
      "minio-setup",
      {
        metadata: { namespace: ns, labels: labels("minio-setup", "object-store-setup"), annotations: cluster.workloadAnnotations },
        spec: {
          backoffLimit: 6,
          template: {
            metadata: { labels: labels("minio-setup", "object-store-setup"), annotations: setupPod.annotations },
            spec: setupPod.spec,
          },
        },
      },
      { ...child, dependsOn: [statefulSet, service] },
    );

    this.bucket = pulumi.output(store.bucket);
    this.readerSecretName = credentials.reader.metadata.name;
    this.writerSecretName = credentials.writer.metadata.name;
    this.ready = [setup, credentials.reader, credentials.writer];
    this.registerOutputs({ bucket: this.bucket, endpoint: this.endpoint });
  }
}
