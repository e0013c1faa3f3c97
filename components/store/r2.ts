/** Cloudflare R2: bucket, lifecycle, no r2.dev access, and two API tokens scoped to this bucket. */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { r2VolumeBucketName } from "../naming";
import { ClusterContext } from "../cluster";
import { ObjectStoreConfig } from "../config/schema";
import { createCredentialSecrets, ModelStore, S3Credentials, StoreRole, VolumeCredential } from "./modelStore";

export interface R2ModelStoreArgs {
  /** The parsed `objectStore` config (provider r2, with `r2.accountId`). */
  readonly store: ObjectStoreConfig;
  /** Cluster context: the namespace that receives the `<store>-reader|writer` Secrets. */
  readonly cluster: ClusterContext;
  /** The JuiceFS volume's prefix, when the stack uses juicefs: a token of its own. Default: none. */
  readonly volumePrefix?: string;
  /** Create the read-only token `pulumi preview` uses in CI (previewIdentity.enabled). Default: false. */
  readonly previewToken?: boolean;
}

/** R2 Standard storage, USD per GB-month; egress is free. */
export const R2_PRICE_PER_GB_MONTH = 0.015;

/** `https://<account>.[eu.|fedramp.]r2.cloudflarestorage.com` */
export function r2Endpoint(accountId: string, jurisdiction: string): string {
  const infix = jurisdiction === "default" ? "" : `${jurisdiction}.`;
  return `https://${accountId}.${infix}r2.cloudflarestorage.com`;
}

/** The token policy resource key that names exactly one bucket. */
export function r2BucketResourceKey(accountId: string, jurisdiction: string, bucket: string): string {
  return `com.cloudflare.edge.r2.bucket.${accountId}_${jurisdiction}_${bucket}`;
}

/** A token policy (resources as a JSON string, as @pulumi/cloudflare >= 6.12 expects). */
export function r2TokenPolicy(permissionGroupId: string, resourceKey: string): cloudflare.types.input.ApiTokenPolicy {
  return {
    effect: "allow",
    permissionGroups: [{ id: permissionGroupId }],
    resources: JSON.stringify({ [resourceKey]: "*" }),
  };
}

/** The account resource key of token policies (account-level permission groups). */
export function r2AccountResourceKey(accountId: string): string {
  return `com.cloudflare.api.account.${accountId}`;
}

/**
 * The preview token's policies: read the account's R2 buckets' settings (the buckets, their
 * lifecycle and r2.dev access), and, given the user owning the stack's tokens, read those tokens.
 * Nothing that writes: no bucket item, storage or token write group.
 */
export function r2PreviewTokenPolicies(r2: {
  readonly accountId: string;
  readonly storageReadPermissionGroupId: string;
  readonly tokensReadPermissionGroupId: string;
  readonly userId?: string;
}): cloudflare.types.input.ApiTokenPolicy[] {
  return [
    r2TokenPolicy(r2.storageReadPermissionGroupId, r2AccountResourceKey(r2.accountId)),
    ...(r2.userId ? [r2TokenPolicy(r2.tokensReadPermissionGroupId, `com.cloudflare.api.user.${r2.userId}`)] : []),
  ];
}

/** Cloudflare's documented derivation: secret access key = SHA-256 hex of the token value. */
export function s3CredentialsFromToken(token: cloudflare.ApiToken): S3Credentials {
  return {
    accessKeyId: pulumi.secret(token.id),
    secretAccessKey: pulumi.secret(token.value.apply((v) => createHash("sha256").update(v).digest("hex"))),
  };
}

export class R2ModelStore extends pulumi.ComponentResource implements ModelStore {
  public readonly provider = "r2" as const;
  public readonly bucket: pulumi.Output<string>;
  public readonly endpoint: pulumi.Output<string>;
  public readonly region = "auto";
  public readonly pathStyle = true;
  public readonly reader: S3Credentials;
  public readonly writer: S3Credentials;
  public readonly volume?: VolumeCredential;
  /** The read-only Cloudflare API token for previews (secret), when asked for. */
  public readonly previewToken?: pulumi.Output<string>;
  public readonly readerSecretName: pulumi.Output<string>;
  public readonly writerSecretName: pulumi.Output<string>;
  public readonly ready: pulumi.Resource[];
  public readonly pricePerGbMonth = R2_PRICE_PER_GB_MONTH;

  constructor(name: string, args: R2ModelStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:store:R2ModelStore", name, {}, opts);
    const r2 = args.store.r2;
    if (!r2) throw new Error("llm-serving:objectStore.r2.accountId is required for the r2 provider");
    const { accountId, jurisdiction } = r2;
    const bucketName = args.store.bucket;

    const bucket = new cloudflare.R2Bucket(
      "bucket",
      { accountId, name: bucketName, jurisdiction, location: r2.location },
      // Weights must survive any destroy; lifting this takes an explicit objectStore.protect=false.
      { parent: this, protect: args.store.protect, retainOnDelete: args.store.protect },
    );
    const lifecycle = new cloudflare.R2BucketLifecycle(
      "lifecycle",
      {
        accountId,
        bucketName: bucket.name,
        jurisdiction,
        rules: [
          {
            id: "abort-incomplete-multipart-uploads",
            enabled: true,
            conditions: { prefix: "" },
            abortMultipartUploadsTransition: { condition: { type: "Age", maxAge: 7 * 24 * 3600 } },
          },
        ],
      },
      { parent: this },
    );
    const publicAccess = new cloudflare.R2ManagedDomain(
      "no-public-r2-dev",
      { accountId, bucketName: bucket.name, jurisdiction, enabled: false },
      { parent: this },
    );

    const token = (role: StoreRole, groupId: string, forBucket = bucketName) =>
      new cloudflare.ApiToken(
        `${role}-token`,
        {
          name: `llm-serving ${forBucket} ${role}`,
          policies: [r2TokenPolicy(groupId, r2BucketResourceKey(accountId, jurisdiction, forBucket))],
        },
        { parent: this, additionalSecretOutputs: ["value"] },
      );
    const readerToken = token("reader", r2.readPermissionGroupId);
    const writerToken = token("writer", r2.writePermissionGroupId);
    // R2 tokens name whole buckets and its write group includes delete: a token on the weights' bucket
    // could delete the weights. JuiceFS gets a bucket of its own (same jurisdiction and location,
    // protected like the weights': it holds the volume's data) and a token scoped to it alone.
    if (args.volumePrefix && r2.volumeBucket === "shared") {
      pulumi.log.warn(
        "objectStore.r2.volumeBucket is shared: the JuiceFS volume's token can delete the weights in the whole bucket; move the volume to its own bucket (volumeBucket: own, see docs/environments.md)",
        this,
      );
      const credentials = s3CredentialsFromToken(token("volume", r2.writePermissionGroupId));
      this.volume = { bucket: bucket.name, prefix: args.volumePrefix, credentials };
    } else if (args.volumePrefix) {
      const volumeBucketName = r2VolumeBucketName(bucketName);
      const volumeBucket = new cloudflare.R2Bucket(
        "volume-bucket",
        { accountId, name: volumeBucketName, jurisdiction, location: r2.location },
        { parent: this, protect: args.store.protect, retainOnDelete: args.store.protect },
      );
      new cloudflare.R2ManagedDomain(
        "volume-no-public-r2-dev",
        { accountId, bucketName: volumeBucket.name, jurisdiction, enabled: false },
        { parent: this },
      );
      const credentials = s3CredentialsFromToken(token("volume", r2.writePermissionGroupId, volumeBucketName));
      this.volume = { bucket: volumeBucket.name, prefix: args.volumePrefix, credentials };
    }

    if (args.previewToken) {
      if (!r2.userId) {
        pulumi.log.warn(
          "the preview token reads the R2 buckets but not the stack's API tokens: set llm-serving:objectStore.r2.userId (the user owning them) so `pulumi preview --refresh` can read them too",
          this,
        );
      }
      const preview = new cloudflare.ApiToken(
        "preview-token",
        { name: `llm-serving ${bucketName} preview (read-only)`, policies: r2PreviewTokenPolicies(r2) },
        { parent: this, additionalSecretOutputs: ["value"] },
      );
      this.previewToken = pulumi.secret(preview.value);
    }

    this.bucket = bucket.name;
    this.endpoint = pulumi.output(r2Endpoint(accountId, jurisdiction));
    this.reader = s3CredentialsFromToken(readerToken);
    this.writer = s3CredentialsFromToken(writerToken);
    const secrets = createCredentialSecrets(
      {
        provider: "r2",
        namespace: args.cluster.namespace,
        endpoint: this.endpoint,
        region: this.region,
        reader: this.reader,
        writer: this.writer,
      },
      { parent: this },
    );
    this.readerSecretName = secrets.reader.metadata.name;
    this.writerSecretName = secrets.writer.metadata.name;
    this.ready = [bucket, lifecycle, publicAccess, secrets.reader, secrets.writer];
    this.registerOutputs({ bucket: this.bucket, endpoint: this.endpoint });
  }
}
