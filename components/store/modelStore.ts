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
  /** Kubernetes Secret names in the serving namespace with AWS_* keys for the two roles. */
  readonly readerSecretName: pulumi.Output<string>;
  readonly writerSecretName: pulumi.Output<string>;
  /** Resources a consumer must wait for (bucket, users, Secrets). */
  readonly ready: pulumi.Resource[];
  /** Storage price used for the monthly estimate, USD per GB-month (decimal GB). */
  readonly pricePerGbMonth: number;
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
