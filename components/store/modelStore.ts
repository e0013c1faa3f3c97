/**
 * The object-store axis: where the weights live and who may read or write them.
 * Every provider (R2, S3, MinIO) fulfils the same contract; the rest of the program sees only this.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labels } from "../naming";

/** One S3 credential set; both values are Pulumi secrets. */
export interface S3Credentials {
  readonly accessKeyId: pulumi.Output<string>;
  readonly secretAccessKey: pulumi.Output<string>;
}

/**
 * A JuiceFS volume's own credential: get, put and DELETE under `<prefix>/` (JuiceFS removes chunks
 * on deletes and compaction), so the mirror's writer never needs delete, and the volume's never
 * reaches the weights: on S3 and MinIO a policy scoped to the prefix of the weights' bucket; on R2,
 * whose tokens name whole buckets, a bucket of the volume's own.
 */
export interface VolumeCredential {
  /** The bucket the volume writes to: the weights' bucket (S3, MinIO) or its own (R2). */
  readonly bucket: pulumi.Output<string>;
  /** The key prefix the volume writes under: JuiceFS's volume name. */
  readonly prefix: string;
  readonly credentials: S3Credentials;
}

/** The three kinds of access the program hands out. */
export type StoreRole = "reader" | "writer" | "volume";

const OBJECT_ACTIONS: Record<StoreRole, string[]> = {
  reader: ["s3:GetObject"],
  // The mirror only adds objects: no delete, so a leaked writer key cannot remove weights.
  writer: ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
  volume: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
};

/**
 * IAM policy document (AWS IAM and MinIO alike) for one role on one bucket: reader and writer list
 * the bucket and act on every object; the volume role lists, reads, writes and deletes only under
 * its prefix.
 */
export function bucketPolicyDocument(bucketArn: string, role: StoreRole, volumePrefix?: string): string {
  if (role !== "volume") {
    return JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Sid: "ListModelBucket", Effect: "Allow", Action: ["s3:ListBucket", "s3:GetBucketLocation"], Resource: [bucketArn] },
        { Sid: "ModelObjects", Effect: "Allow", Action: OBJECT_ACTIONS[role], Resource: [`${bucketArn}/*`] },
      ],
    });
  }
  if (!volumePrefix) throw new Error("the volume role needs the prefix it is scoped to");
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ListVolumePrefix",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [bucketArn],
        Condition: { StringLike: { "s3:prefix": [`${volumePrefix}/*`] } },
      },
      { Sid: "VolumeBucket", Effect: "Allow", Action: ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"], Resource: [bucketArn] },
      { Sid: "VolumeObjects", Effect: "Allow", Action: OBJECT_ACTIONS.volume, Resource: [`${bucketArn}/${volumePrefix}/*`] },
    ],
  });
}

/** What the serving, preload and cache layers need from the object store. */
export interface ModelStore {
  readonly provider: "r2" | "s3" | "minio";
  readonly bucket: pulumi.Output<string>;
  /** S3 API endpoint URL reachable from pods (https://… or the in-cluster MinIO Service). */
  readonly endpoint: pulumi.Output<string>;
  readonly region: string;
  /** Whether clients must use path-style addressing (R2 and MinIO: yes). */
  readonly pathStyle: boolean;
  /** Read-only credentials (list + get): serving, preload, caches. */
  readonly reader: S3Credentials;
  /** Write credentials (put): the mirror job. */
  readonly writer: S3Credentials;
  /** The JuiceFS volume's credential, when the stack's strategy is juicefs. */
  readonly volume?: VolumeCredential;
  /** Kubernetes Secret names in the serving namespace with AWS_* keys for the two roles. */
  readonly readerSecretName: pulumi.Output<string>;
  readonly writerSecretName: pulumi.Output<string>;
  /** Resources a consumer must wait for (bucket, users, Secrets). */
  readonly ready: pulumi.Resource[];
  /** Storage price used for the monthly estimate, USD per GB-month (decimal GB). */
  readonly pricePerGbMonth: number;
  /** A read-only token of the store's cloud API for `pulumi preview` (secret): R2 with previewIdentity. */
  readonly previewToken?: pulumi.Output<string>;
}

/** The standard AWS variable names any S3 client understands. */
export const S3_SECRET_KEYS = {
  accessKeyId: "AWS_ACCESS_KEY_ID",
  secretAccessKey: "AWS_SECRET_ACCESS_KEY",
  endpoint: "AWS_ENDPOINT_URL",
  region: "AWS_REGION",
} as const;

export interface CredentialSecretsArgs {
  readonly provider: ModelStore["provider"];
  readonly namespace: pulumi.Input<string>;
  readonly endpoint: pulumi.Input<string>;
  readonly region: string;
  readonly reader: S3Credentials;
  readonly writer: S3Credentials;
}

/** Materialises the reader and writer credential sets as Kubernetes Secrets (`<store>-reader|writer`). */
export function createCredentialSecrets(
  args: CredentialSecretsArgs,
  opts: pulumi.CustomResourceOptions,
): { reader: k8s.core.v1.Secret; writer: k8s.core.v1.Secret } {
  const make = (role: "reader" | "writer", creds: S3Credentials) =>
    new k8s.core.v1.Secret(
      `${args.provider}-${role}`,
      {
        metadata: {
          name: `${args.provider}-${role}`,
          namespace: args.namespace,
          labels: labels(`${args.provider}-${role}`, "credentials"),
        },
        type: "Opaque",
        stringData: {
          [S3_SECRET_KEYS.accessKeyId]: pulumi.secret(creds.accessKeyId),
          [S3_SECRET_KEYS.secretAccessKey]: pulumi.secret(creds.secretAccessKey),
          [S3_SECRET_KEYS.endpoint]: args.endpoint,
          [S3_SECRET_KEYS.region]: args.region,
        },
      },
      opts,
    );
  return { reader: make("reader", args.reader), writer: make("writer", args.writer) };
}

/** Env entries that take every AWS_* value from a Secret by reference (never a literal). */
export function s3EnvFromSecret(secretName: pulumi.Input<string>): k8s.types.input.core.v1.EnvVar[] {
  return Object.values(S3_SECRET_KEYS).map((key) => ({
    name: key,
    valueFrom: { secretKeyRef: { name: secretName, key } },
  }));
}
