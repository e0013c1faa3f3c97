/** Policies on the object store: Cloudflare token scope, bucket protection, S3 public access. */
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

export const R2_BUCKET_RESOURCE_PREFIX = "com.cloudflare.edge.r2.bucket.";

export interface R2TokenConfig {
  /** Permission groups that only read R2 objects. */
  readPermissionGroupIds: string[];
  /** Permission groups that read and write R2 objects. */
  writePermissionGroupIds: string[];
  /** Token names matching this pattern serve models and must be read-only. */
  servingTokenPattern: string;
  /** Token names matching this pattern are `pulumi preview`'s: account and user reads only. */
  previewTokenPattern: string;
  /** The only permission groups a preview token may grant (R2 storage read, API tokens read). */
  previewPermissionGroupIds: string[];
}

/** Resource keys a preview token may name: the account (its R2 settings) and the user (its tokens). */
const PREVIEW_RESOURCE_PREFIXES = ["com.cloudflare.api.account.", "com.cloudflare.api.user."];

interface TokenPolicy {
  permissionGroups?: Array<{ id?: string }>;
  resources?: string | Record<string, unknown>;
}

/** Resource keys of one token policy (`resources` is a JSON string in @pulumi/cloudflare 6). */
function resourceKeys(policy: TokenPolicy): string[] {
  const resources =
    typeof policy.resources === "string" ? (JSON.parse(policy.resources) as Record<string, unknown>) : (policy.resources ?? {});
  return Object.keys(resources);
}

export const r2TokensScoped: ResourceValidationPolicy = {
  name: "r2-tokens-scoped",
  description: "Cloudflare API tokens are scoped to a single R2 bucket with R2 object permissions only; serving tokens cannot write.",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      readPermissionGroupIds: { type: "array", items: { type: "string" }, default: ["6a018a9f2fc74eb6b293b0c548f38b39"] },
      writePermissionGroupIds: { type: "array", items: { type: "string" }, default: ["2efd5506f9c8494dacb1fa10a3e7d5b6"] },
      servingTokenPattern: { type: "string", default: "(reader|serving|read-only)$" },
      previewTokenPattern: { type: "string", default: "preview \\(read-only\\)$" },
      previewPermissionGroupIds: {
        type: "array",
        items: { type: "string" },
        default: ["b4992e1108244f5d8bfbd5744320c2e1", "0cc3a61731504c89b99ec1be78b77aa0"],
      },
    },
  },
  validateResource: (args, report) => {
    if (args.type !== "cloudflare:index/apiToken:ApiToken") return;
    const config = args.getConfig<R2TokenConfig>();
    const tokenName: string = args.props.name ?? args.name;
    const policies: TokenPolicy[] = args.props.policies ?? [];
    const keys = new Set<string>();
    for (const p of policies) {
      for (const key of resourceKeys(p)) keys.add(key);
    }
    if (new RegExp(config.previewTokenPattern).test(tokenName)) {
      const outside = [...keys].filter((k) => !PREVIEW_RESOURCE_PREFIXES.some((prefix) => k.startsWith(prefix)));
      if (outside.length)
        report(`preview token "${tokenName}" covers ${outside.join(", ")}; a preview token names only the account and the user.`);
      for (const group of policies.flatMap((p) => p.permissionGroups ?? [])) {
        if (group.id !== undefined && !config.previewPermissionGroupIds.includes(group.id)) {
          report(
            `preview token "${tokenName}" grants permission group ${group.id}; a preview token may only read (${config.previewPermissionGroupIds.join(", ")}).`,
          );
        }
      }
      return;
    }
    const buckets = [...keys].filter((k) => k.startsWith(R2_BUCKET_RESOURCE_PREFIX));
    if (buckets.length !== 1 || keys.size !== 1) {
      report(
        `token "${tokenName}" covers ${[...keys].join(", ") || "no resources"}; scope it to exactly one R2 bucket (${R2_BUCKET_RESOURCE_PREFIX}<account>_<jurisdiction>_<bucket>).`,
      );
    }
    const serving = new RegExp(config.servingTokenPattern).test(tokenName);
    const allowed = new Set(
      serving ? config.readPermissionGroupIds : [...config.readPermissionGroupIds, ...config.writePermissionGroupIds],
    );
    for (const p of policies) {
      for (const group of p.permissionGroups ?? []) {
        if (group.id !== undefined && !allowed.has(group.id)) {
          report(
            serving
              ? `serving token "${tokenName}" grants permission group ${group.id}; serving tokens may only read objects (${config.readPermissionGroupIds.join(", ")}).`
              : `token "${tokenName}" grants permission group ${group.id}, beyond R2 object read/write; model tokens need nothing else.`,
          );
        }
      }
    }
  },
};

/** Bucket resource types that hold model weights. */
export const BUCKET_TYPES = ["cloudflare:index/r2Bucket:R2Bucket", "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"];

export const bucketsProtected: ResourceValidationPolicy = {
  name: "buckets-protected",
  description: "Model buckets are protected, so no `pulumi destroy` or replacement deletes the weights.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (!BUCKET_TYPES.includes(args.type)) return;
    if (!args.opts.protect) {
      report(
        `bucket "${args.props.name ?? args.props.bucket ?? args.name}" is not protected; set objectStore.protect: true (the resource option protect).`,
      );
    }
  },
};

const PUBLIC_ACCESS_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;
const S3_BUCKETS = ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"];

/** Whether a public access block resource applies to a bucket resource. */
function blocks(block: PolicyResource, bucket: PolicyResource): boolean {
  if (block.propertyDependencies?.bucket?.some((r) => r.urn === bucket.urn)) return true;
  const target = block.props.bucket;
  return target !== undefined && (target === bucket.props.bucket || target === bucket.props.id);
}

export const s3BlockPublicAccess: StackValidationPolicy = {
  name: "s3-block-public-access",
  description: "Every S3 bucket has a public access block with all four settings on.",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const accessBlocks = args.resources.filter((r) => r.type === "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
    for (const bucket of args.resources.filter((r) => S3_BUCKETS.includes(r.type))) {
      const block = accessBlocks.find((b) => blocks(b, bucket));
      const off = block ? PUBLIC_ACCESS_FLAGS.filter((f) => block.props[f] !== true) : [...PUBLIC_ACCESS_FLAGS];
      if (off.length > 0) {
        report(
          `S3 bucket "${bucket.props.bucket ?? bucket.name}" ${block ? `has ${off.join(", ")} off` : "has no BucketPublicAccessBlock"}; add one with ${PUBLIC_ACCESS_FLAGS.join(", ")} all true.`,
          bucket.urn,
        );
      }
    }
  },
};
