/** AWS S3: private, encrypted bucket and two IAM users with bucket-scoped policies. Never used against R2. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext } from "../cluster";
import { ObjectStoreConfig } from "../config/schema";
import { bucketPolicyDocument, createCredentialSecrets, ModelStore, S3Credentials, StoreRole, VolumeCredential } from "./modelStore";

export interface S3ModelStoreArgs {
  /** The parsed `objectStore` config (provider s3, with `s3.region`). */
  readonly store: ObjectStoreConfig;
  /** Cluster context: the namespace that receives the `<store>-reader|writer` Secrets. */
  readonly cluster: ClusterContext;
  /** The JuiceFS volume's prefix, when the stack uses juicefs: a third user scoped to it. Default: none. */
  readonly volumePrefix?: string;
}

/** S3 Standard, first 50 TB, us-east-1 list price (aws.amazon.com/s3/pricing), USD per GB-month. */
export const S3_STANDARD_PRICE_PER_GB_MONTH = 0.023;

export class S3ModelStore extends pulumi.ComponentResource implements ModelStore {
  public readonly provider = "s3" as const;
  public readonly bucket: pulumi.Output<string>;
  public readonly endpoint: pulumi.Output<string>;
  public readonly region: string;
  public readonly pathStyle = false;
  public readonly reader: S3Credentials;
  public readonly writer: S3Credentials;
  public readonly volume?: VolumeCredential;
  public readonly readerSecretName: pulumi.Output<string>;
  public readonly writerSecretName: pulumi.Output<string>;
  public readonly ready: pulumi.Resource[];
  public readonly pricePerGbMonth = S3_STANDARD_PRICE_PER_GB_MONTH;

  constructor(name: string, args: S3ModelStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("llm-serving:store:S3ModelStore", name, {}, opts);
    const s3 = args.store.s3;
    if (!s3) throw new Error("llm-serving:objectStore.s3.region is required for the s3 provider");
    this.region = s3.region;
    const awsProvider = new aws.Provider("aws", { region: s3.region as aws.Region }, { parent: this });
    const child = { parent: this, provider: awsProvider };

    const bucket = new aws.s3.Bucket(
      "bucket",
      { bucket: args.store.bucket, forceDestroy: false },
      { ...child, protect: args.store.protect, retainOnDelete: args.store.protect },
    );
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      "public-access-block",
      { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      child,
    );
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
      "encryption",
      { bucket: bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }] },
      child,
    );
    const versioning = new aws.s3.BucketVersioning(
      "versioning",
      { bucket: bucket.id, versioningConfiguration: { status: s3.versioning ? "Enabled" : "Suspended" } },
      child,
    );
    const lifecycle = new aws.s3.BucketLifecycleConfiguration(
      "lifecycle",
      {
        bucket: bucket.id,
        rules: [
          {
            id: "abort-incomplete-multipart-uploads",
            status: "Enabled",
            filter: { prefix: "" },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
      child,
    );

    const user = (role: StoreRole) => {
      const iamUser = new aws.iam.User(
        `${role}`,
        { name: `llm-serving-${args.store.bucket}-${role}`, tags: { "llm-serving/role": role } },
        child,
      );
      const policy = new aws.iam.UserPolicy(
        `${role}-policy`,
        { user: iamUser.name, policy: bucket.arn.apply((arn) => bucketPolicyDocument(arn, role, args.volumePrefix)) },
        child,
      );
      const key = new aws.iam.AccessKey(`${role}-key`, { user: iamUser.name }, { ...child, dependsOn: [policy] });
      return { creds: { accessKeyId: pulumi.secret(key.id), secretAccessKey: pulumi.secret(key.secret) }, policy, key };
    };
    const reader = user("reader");
    const writer = user("writer");
    const volume = args.volumePrefix ? user("volume") : undefined;
    if (volume && args.volumePrefix) this.volume = { bucket: bucket.bucket, prefix: args.volumePrefix, credentials: volume.creds };

    this.bucket = bucket.bucket;
    this.endpoint = pulumi.output(`https://s3.${s3.region}.amazonaws.com`);
    this.reader = reader.creds;
    this.writer = writer.creds;
    const secrets = createCredentialSecrets(
      {
        provider: "s3",
        namespace: args.cluster.namespace,
        endpoint: this.endpoint,
        region: s3.region,
        reader: this.reader,
        writer: this.writer,
      },
      { parent: this },
    );
    this.readerSecretName = secrets.reader.metadata.name;
    this.writerSecretName = secrets.writer.metadata.name;
    this.ready = [bucket, publicAccess, encryption, versioning, lifecycle, reader.key, writer.key, secrets.reader, secrets.writer];
    if (volume) this.ready.push(volume.key);
    this.registerOutputs({ bucket: this.bucket, endpoint: this.endpoint });
  }
}
