import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { strategyDefaults } from "../components/config/schema";
import { MINIO_SETUP, MIRROR_CHECK, MIRROR_DOWNLOAD, MIRROR_UPLOAD } from "../components/scripts";
import { r2BucketResourceKey, r2Endpoint } from "../components/store/r2";
import { bucketPolicyDocument } from "../components/store/modelStore";
import { minioPolicy } from "../components/store/minio";
import { baseConfig, expectConfigError, isSecret, resolve, runProgram, RecordedResource } from "./harness";
import { BOTO3_VERSION, MIRROR_PYTHON_IMAGE } from "../components/mirror/modelMirror";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const r2Config = (r2: Record<string, unknown> = {}) =>
  baseConfig({ objectStore: { provider: "r2", bucket: "weights", r2: { accountId: ACCOUNT, ...r2 } } });
const s3Config = (s3: Record<string, unknown> = {}) =>
  baseConfig({ objectStore: { provider: "s3", bucket: "weights", s3: { region: "eu-west-1", ...s3 } } });
const SECRET = "kubernetes:core/v1:Secret";
const JOB = "kubernetes:batch/v1:Job";

/** Every env var of every container of a pod spec. */
function allEnv(spec: any): any[] {
  return [...(spec.initContainers ?? []), ...spec.containers].flatMap((c: any) => c.env ?? []);
}

async function expectCredentialSecrets(run: Awaited<ReturnType<typeof runProgram>>, provider: string) {
  for (const role of ["reader", "writer"]) {
    const secret = run.one(SECRET, `${provider}-${role}`);
    expect(await isSecret(secret.props.stringData)).toBe(true);
    const data = await resolve<Record<string, string>>(secret.props.stringData);
    expect(Object.keys(data).sort()).toEqual(["AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_SECRET_ACCESS_KEY"]);
    expect(data.AWS_SECRET_ACCESS_KEY).toMatch(/./);
  }
}

describe("R2 model store", () => {
  it("creates a protected bucket, abort-multipart lifecycle, no r2.dev, and two bucket-scoped tokens", async () => {
    const run = await runProgram(r2Config({ jurisdiction: "eu", location: "weur" }));
    const bucket = run.one("cloudflare:index/r2Bucket:R2Bucket", "bucket");
    expect(bucket.inputs).toMatchObject({ accountId: ACCOUNT, name: "weights", jurisdiction: "eu", location: "weur" });
    expect(bucket.opts.protect).toBe(true);
    const lifecycle = run.one("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", "lifecycle");
    expect(lifecycle.inputs.rules[0].abortMultipartUploadsTransition.condition).toEqual({ type: "Age", maxAge: 604800 });
    expect(run.one("cloudflare:index/r2ManagedDomain:R2ManagedDomain", "no-public-r2-dev").inputs.enabled).toBe(false);

    const key = `com.cloudflare.edge.r2.bucket.${ACCOUNT}_eu_weights`;
    const reader = run.one("cloudflare:index/apiToken:ApiToken", "reader-token");
    const writer = run.one("cloudflare:index/apiToken:ApiToken", "writer-token");
    expect(JSON.parse(reader.inputs.policies[0].resources)).toEqual({ [key]: "*" });
    expect(JSON.parse(writer.inputs.policies[0].resources)).toEqual({ [key]: "*" });
    expect(reader.inputs.policies.flatMap((p: any) => p.permissionGroups.map((g: any) => g.id))).toEqual([
      "6a018a9f2fc74eb6b293b0c548f38b39",
    ]);
    expect(writer.inputs.policies.flatMap((p: any) => p.permissionGroups.map((g: any) => g.id))).toEqual([
      "2efd5506f9c8494dacb1fa10a3e7d5b6",
    ]);
  });

  it("derives S3 credentials from the token: id, and sha256 of the value, both secret", async () => {
    const run = await runProgram(r2Config());
    const store = run.resources.find((r) => r.type === "llm-serving:store:R2ModelStore");
    expect(store).toBeDefined();
    await expectCredentialSecrets(run, "r2");
    const reader = await resolve<Record<string, string>>(run.one(SECRET, "r2-reader").props.stringData);
    const { createHash } = await import("node:crypto");
    expect(reader.AWS_SECRET_ACCESS_KEY).toBe(createHash("sha256").update("token-value-reader-token").digest("hex"));
    expect(reader.AWS_ACCESS_KEY_ID).toBe("reader-token-id");
    expect(reader.AWS_ENDPOINT_URL).toBe(`https://${ACCOUNT}.r2.cloudflarestorage.com`);
    expect(reader.AWS_REGION).toBe("auto");
  });

  it("uses the jurisdiction's endpoint and resource key", () => {
    expect(r2Endpoint(ACCOUNT, "eu")).toBe(`https://${ACCOUNT}.eu.r2.cloudflarestorage.com`);
    expect(r2Endpoint(ACCOUNT, "fedramp")).toBe(`https://${ACCOUNT}.fedramp.r2.cloudflarestorage.com`);
    expect(r2BucketResourceKey(ACCOUNT, "default", "b")).toBe(`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_b`);
  });

  it("lifts protection only with an explicit objectStore.protect=false", async () => {
    const raw = r2Config();
    (raw.objectStore as Record<string, unknown>).protect = false;
    const run = await runProgram(raw);
    expect(run.one("cloudflare:index/r2Bucket:R2Bucket", "bucket").opts.protect).toBe(false);
  });
});

describe("AWS S3 model store", () => {
  it("creates a protected, private, encrypted bucket with reader and writer IAM users", async () => {
    const run = await runProgram(s3Config({ versioning: true }));
    expect(run.one("aws:s3/bucket:Bucket", "bucket").opts.protect).toBe(true);
    expect(run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "public-access-block").inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(run.one("aws:s3/bucketVersioning:BucketVersioning", "versioning").inputs.versioningConfiguration.status).toBe("Enabled");
    expect(
      run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lifecycle").inputs.rules[0]
        .abortIncompleteMultipartUpload,
    ).toEqual({ daysAfterInitiation: 7 });
    const readerPolicy = JSON.parse(run.one("aws:iam/userPolicy:UserPolicy", "reader-policy").inputs.policy);
    const writerPolicy = JSON.parse(run.one("aws:iam/userPolicy:UserPolicy", "writer-policy").inputs.policy);
    expect(readerPolicy.Statement[1].Action).toEqual(["s3:GetObject"]);
    expect(writerPolicy.Statement[1].Action).toContain("s3:PutObject");
    expect(readerPolicy.Statement.flatMap((s: any) => s.Resource)).toEqual(["arn:aws:s3:::weights", "arn:aws:s3:::weights/*"]);
    await expectCredentialSecrets(run, "s3");
    expect((await resolve<Record<string, string>>(run.one(SECRET, "s3-reader").props.stringData)).AWS_ENDPOINT_URL).toBe(
      "https://s3.eu-west-1.amazonaws.com",
    );
  });

  it("never grants the reader a write action", () => {
    const doc = JSON.parse(bucketPolicyDocument("arn:aws:s3:::b", "reader"));
    expect(JSON.stringify(doc)).not.toMatch(/Put|Delete|Abort/);
  });
});

describe("MinIO model store", () => {
  it("runs MinIO with a retained data volume, random secret root password and a setup Job", async () => {
    const run = await runProgram(baseConfig());
    const sts = run.one("kubernetes:apps/v1:StatefulSet", "minio");
    expect(sts.inputs.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Retain" });
    expect(sts.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("20Gi");
    const minio = sts.inputs.spec.template.spec.containers[0];
    expect(minio.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(minio.args).toEqual(expect.arrayContaining(["server", "/data", "--certs-dir", "/tmp/certs"]));
    const root = run.one(SECRET, "minio-root");
    expect(await isSecret(root.props.stringData)).toBe(true);
    expect((await resolve<Record<string, string>>(root.props.stringData)).MINIO_ROOT_PASSWORD).toBe("generated-root-password");
    expect(run.one("random:index/randomPassword:RandomPassword", "root-password").opts.protect).toBe(true);
    const setup = run.one(JOB, "minio-setup");
    // From the scripts ConfigMap: inline, the kubelet's expansion would turn `$${role}` into `${role}`.
    const setupPod = setup.inputs.spec.template.spec;
    expect(setupPod.containers[0].command).toEqual(["/bin/sh", "/scripts/minio-setup.sh", "llm-models", "reader", "writer"]);
    expect(setupPod.containers[0].volumeMounts).toContainEqual({ name: "scripts", mountPath: "/scripts", readOnly: true });
    expect(setupPod.volumes).toContainEqual({
      name: "scripts",
      configMap: { name: expect.stringMatching(/^llm-serving-scripts-[0-9a-f]{8}$/), defaultMode: 0o444 },
    });
    expect(run.one("kubernetes:core/v1:ConfigMap", "scripts").inputs.data["minio-setup.sh"]).toBe(MINIO_SETUP.text);
    expect(
      allEnv(setup.inputs.spec.template.spec)
        .filter((e: any) => /KEY|PASSWORD/.test(e.name))
        .every((e: any) => e.valueFrom?.secretKeyRef),
    ).toBe(true);
    await expectCredentialSecrets(run, "minio");
    expect(JSON.parse(minioPolicy("b", "reader")).Statement[1].Action).toEqual(["s3:GetObject"]);
  });
});

describe("the JuiceFS volume's own credential", () => {
  const juicefs = (raw: Record<string, unknown>, volumeName?: string) => ({
    ...raw,
    storage: { strategy: "juicefs", ...(volumeName ? { juicefs: { volumeName } } : {}) },
  });
  const volumeSecret = async (run: Awaited<ReturnType<typeof runProgram>>) => {
    const secret = run.one(SECRET, "juicefs-volume");
    expect(await isSecret(secret.props.stringData["secret-key"])).toBe(true);
    return resolve<Record<string, string>>(secret.props.stringData);
  };
  const actions = (doc: any) => doc.Statement.flatMap((s: any) => s.Action);

  it("MinIO: a third user that may delete, only under the volume's prefix; the volume Secret carries it", async () => {
    const run = await runProgram(juicefs(baseConfig(), "cache-vol"));
    const data = await volumeSecret(run);
    expect(data["access-key"]).toBe("llm-volume");
    expect(data["secret-key"]).toBe("generated-volume-secret-key");
    const policies = run.one("kubernetes:core/v1:ConfigMap", "minio-policies").inputs.data;
    const volume = JSON.parse(policies["volume.json"]);
    expect(volume.Statement.find((s: any) => s.Sid === "VolumeObjects")).toEqual({
      Sid: "VolumeObjects",
      Effect: "Allow",
      Action: expect.arrayContaining(["s3:PutObject", "s3:DeleteObject"]),
      Resource: ["arn:aws:s3:::llm-models/cache-vol/*"],
    });
    expect(volume.Statement.find((s: any) => s.Sid === "ListVolumePrefix").Condition).toEqual({
      StringLike: { "s3:prefix": ["cache-vol/*"] },
    });
    expect(actions(JSON.parse(policies["writer.json"]))).not.toContain("s3:DeleteObject");
    const setup = run.one(JOB, "minio-setup").inputs.spec.template.spec.containers[0];
    expect(setup.command.slice(2)).toEqual(["llm-models", "reader", "writer", "volume"]);
    expect(setup.env.find((e: any) => e.name === "volume_SECRET_KEY").valueFrom.secretKeyRef).toEqual({
      name: "minio-volume",
      key: "AWS_SECRET_ACCESS_KEY",
    });
  });

  it("S3: a third IAM user whose policy names the volume's prefix", async () => {
    const run = await runProgram(juicefs(s3Config()));
    const policy = JSON.parse(run.one("aws:iam/userPolicy:UserPolicy", "volume-policy").inputs.policy);
    expect(policy.Statement.find((s: any) => s.Sid === "VolumeObjects").Resource).toEqual(["arn:aws:s3:::weights/llm-models/*"]);
    expect(actions(policy)).toContain("s3:DeleteObject");
    const data = await volumeSecret(run);
    expect([data["access-key"], data["secret-key"]]).toEqual(["volume-key-id", "aws-secret-volume-key"]);
  });

  it("R2: a bucket of its own with a token scoped to it alone (R2 tokens cannot name a prefix: one on the weights' bucket could delete them)", async () => {
    const run = await runProgram(juicefs(r2Config()));
    const tokens = run.byType("cloudflare:index/apiToken:ApiToken");
    expect(tokens.map((t) => t.name).sort()).toEqual(["reader-token", "volume-token", "writer-token"]);
    const scope = (name: string) => Object.keys(JSON.parse(tokens.find((t) => t.name === name)!.inputs.policies[0].resources));
    const weights = run.one("cloudflare:index/r2Bucket:R2Bucket", "bucket");
    const volume = run.one("cloudflare:index/r2Bucket:R2Bucket", "volume-bucket");
    expect(volume.inputs.name).toBe(`${weights.inputs.name}-juicefs`);
    // Same jurisdiction and location, protected like the weights' bucket (it holds the volume's data).
    expect([volume.inputs.jurisdiction, volume.inputs.location]).toEqual([weights.inputs.jurisdiction, weights.inputs.location]);
    expect([volume.opts.protect, volume.opts.retainOnDelete]).toEqual([weights.opts.protect, weights.opts.retainOnDelete]);
    expect(scope("volume-token")).toEqual([`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_${volume.inputs.name}`]);
    expect(scope("writer-token")).toEqual([`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_${weights.inputs.name}`]);
    const data = await volumeSecret(run);
    expect(data["access-key"]).toBe("volume-token-id");
    expect(data.bucket).toBe(`https://${ACCOUNT}.r2.cloudflarestorage.com/${volume.inputs.name}`);
    const noPublic = run.one("cloudflare:index/r2ManagedDomain:R2ManagedDomain", "volume-no-public-r2-dev");
    expect(noPublic.inputs).toMatchObject({ bucketName: volume.inputs.name, enabled: false });
  });

  it("R2: volumeBucket shared keeps an existing volume in the weights' bucket (the old, bucket-wide token), with a warning", async () => {
    const run = await runProgram(juicefs(r2Config({ volumeBucket: "shared" })));
    expect(run.byType("cloudflare:index/r2Bucket:R2Bucket").map((b) => b.name)).toEqual(["bucket"]);
    const volume = run.byType("cloudflare:index/apiToken:ApiToken").find((t) => t.name === "volume-token")!;
    expect(Object.keys(JSON.parse(volume.inputs.policies[0].resources))).toEqual([
      `com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_weights`,
    ]);
    expect((await volumeSecret(run)).bucket).toBe(`https://${ACCOUNT}.r2.cloudflarestorage.com/weights`);
  });

  it("R2: refuses a bucket name that leaves no room for the volume's bucket, naming the key", async () => {
    const raw: Record<string, unknown> = juicefs(r2Config());
    (raw.objectStore as Record<string, unknown>).bucket = "b".repeat(56);
    const { error } = await expectConfigError(raw);
    expect(error.message).toContain("llm-serving:objectStore.bucket: found 56 characters; with storage.strategy juicefs on R2");
  });

  it.each(["hostPath", "longhorn", "fluid", "s3Streaming"])("is not created for %s", async (strategy) => {
    const run = await runProgram(baseConfig({ storage: { strategy } }));
    expect(run.resources.filter((r) => r.name.includes("volume-secret-key") || r.name === "minio-volume")).toEqual([]);
    const policies = run.one("kubernetes:core/v1:ConfigMap", "minio-policies").inputs.data;
    expect(Object.keys(policies).sort()).toEqual(["reader.json", "writer.json"]);
  });

  it("no store's writer may delete", () => {
    expect(actions(JSON.parse(bucketPolicyDocument("arn:aws:s3:::b", "writer")))).not.toContain("s3:DeleteObject");
    expect(actions(JSON.parse(minioPolicy("b", "writer")))).not.toContain("s3:DeleteObject");
  });
});

describe("mirror job", () => {
  const mirrorOf = (run: Awaited<ReturnType<typeof runProgram>>): RecordedResource =>
    run.byType(JOB).find((j) => j.name === "small-mirror")!;

  it("downloads with the hf CLI, uploads every part with its SHA-256 and writes manifest.json last", async () => {
    const run = await runProgram(baseConfig());
    const job = mirrorOf(run);
    expect(job.inputs.metadata.name).toBe("small-mirror-7ae55760");
    const spec = job.inputs.spec;
    expect(spec.backoffLimit).toBeGreaterThan(0);
    expect(spec.ttlSecondsAfterFinished).toBeUndefined(); // kept: state and cluster agree after a refresh
    const pod = spec.template.spec;
    expect(pod.initContainers.map((c: any) => c.name)).toEqual(["check", "download"]);
    expect(pod.containers[0].name).toBe("upload");
    const preload = strategyDefaults.preload();
    expect(pod.containers[0].image).toBe(MIRROR_PYTHON_IMAGE);
    expect(pod.containers[0].command).toEqual(["python3", "/scripts/mirror-upload.py", "--concurrency", String(preload.concurrency)]);
    expect(pod.containers[0].env).toContainEqual({ name: "S3_PATH_STYLE", value: "1" }); // MinIO
    expect(run.one("kubernetes:core/v1:ConfigMap", "scripts").inputs.data["mirror-upload.py"]).toBe(MIRROR_UPLOAD.text);
    expect(pod.initContainers[0].command).toEqual(["/bin/sh", `/scripts/${MIRROR_CHECK.file}`]);
    expect(MIRROR_DOWNLOAD.text).toContain('"download", repo, *chosen');
    expect(MIRROR_DOWNLOAD.text).toContain("already mirrored");
    const download = pod.initContainers[1];
    expect(download.command).toEqual(["python3", "/scripts/mirror-download.py"]);
    expect(Object.fromEntries(download.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]))).toMatchObject({
      HF_EXCLUDE: "[]",
      SIZE_GIB: "1",
      SCRATCH_GIB: "4",
      CONFIG_PATH: "llm-serving:models[0]",
      // The download hashes every part the upload sends, with the boto3 it installs for it.
      PART_MIB: String(preload.partSizeMiB),
      BOTO3_VERSION,
    });
    expect(download.env.find((e: any) => e.name === "HF_INCLUDE")).toBeUndefined();
    // Parallel Xet transfers (the hub 1.x equivalent of hf_transfer).
    expect(download.env).toContainEqual({ name: "HF_XET_HIGH_PERFORMANCE", value: "1" });
    // The Python the Job runs is valid Python 3 (it cannot run here: it downloads from the Hub).
    expect(
      execFileSync("python3", ["-c", "import sys; compile(sys.stdin.read(), 'mirror', 'exec'); print('ok')"], {
        input: MIRROR_DOWNLOAD.text,
        encoding: "utf8",
      }),
    ).toBe("ok\n");
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.image).not.toMatch(/:latest$|^[^:]+$/);
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
      expect(c.resources.requests).toBeDefined();
    }
    const env = allEnv(pod);
    expect(env.filter((e: any) => e.name.startsWith("AWS_")).every((e: any) => e.valueFrom?.secretKeyRef?.name === "minio-writer")).toBe(
      true,
    );
    expect(env.find((e: any) => e.name === "HF_TOKEN")).toBeUndefined();
    // The setup check also proves the reader: its key only by reference, the probe beside the models.
    const check = pod.initContainers[0].env;
    expect(check.filter((e: any) => e.name.startsWith("READER_") && e.name !== "READER_FROM")).toEqual([
      { name: "READER_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "minio-reader", key: "AWS_ACCESS_KEY_ID" } } },
      { name: "READER_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "minio-reader", key: "AWS_SECRET_ACCESS_KEY" } } },
    ]);
    expect(check).toContainEqual({ name: "PROBE_OBJECT", value: "models/.setup-check/small" });
    expect(check).toContainEqual({ name: "READER_FROM", value: "minio-reader" });
    expect(pod.containers[0].env.find((e: any) => e.name.startsWith("READER_"))).toBeUndefined();
  });

  it("passes models[].include / exclude to the download", async () => {
    const raw = baseConfig();
    Object.assign((raw.models as Record<string, unknown>[])[0], { include: ["*.safetensors", "*.json"], exclude: ["original/*"] });
    const env = mirrorOf(await runProgram(raw)).inputs.spec.template.spec.initContainers[1].env;
    expect(env.find((e: any) => e.name === "HF_INCLUDE")).toEqual({ name: "HF_INCLUDE", value: '["*.safetensors","*.json"]' });
    expect(env.find((e: any) => e.name === "HF_EXCLUDE")).toEqual({ name: "HF_EXCLUDE", value: '["original/*"]' });
  });

  it("passes the HF token only by reference to the hf-token Secret", async () => {
    const run = await runProgram({ ...baseConfig(), hfToken: "hf_secret_value" }, ["hfToken"]);
    const tokenSecret = run.one(SECRET, "hf-token");
    expect(await isSecret(tokenSecret.props.stringData)).toBe(true);
    const env = allEnv(mirrorOf(run).inputs.spec.template.spec);
    expect(env.find((e: any) => e.name === "HF_TOKEN")).toEqual({
      name: "HF_TOKEN",
      valueFrom: { secretKeyRef: { name: "hf-token", key: "HF_TOKEN" } },
    });
    const leaking = run.resources.filter((r) => r.name !== "hf-token" && JSON.stringify(r.inputs).includes("hf_secret_value"));
    expect(leaking.map((r) => r.name)).toEqual([]);
  });

  it("is skipped for mirror: false models, which the engine loads from the Hub", async () => {
    const raw = baseConfig();
    (raw.models as Record<string, unknown>[])[0].mirror = false;
    const run = await runProgram(raw);
    expect(mirrorOf(run)).toBeUndefined();
    const engine = run.one("kubernetes:apps/v1:Deployment", "small-server").inputs.spec.template.spec.containers[0];
    expect(engine.env).toContainEqual({ name: "HF_XET_HIGH_PERFORMANCE", value: "1" });
    const args = engine.args;
    expect(args.slice(0, 3)).toEqual(["Qwen/Qwen2.5-0.5B-Instruct", "--revision", "7ae557604adf67be50417f59c2c2f167def9a775"]);
    expect((await resolve(run.serving.catalog.small.uri)) as string).toBe(
      "hf://Qwen/Qwen2.5-0.5B-Instruct@7ae557604adf67be50417f59c2c2f167def9a775",
    );
  });
});

describe("outputs", () => {
  it("gives SkyPilot per mirrored model the URI, endpoint, region, READER credentials as secrets and a task file without them", async () => {
    const raw = r2Config();
    (raw.models as Record<string, unknown>[]).push({ ...(raw.models as Record<string, unknown>[])[0], name: "hub", mirror: false });
    const run = await runProgram(raw);
    expect(Object.keys(run.serving.skypilot)).toEqual(["small"]);
    const small = run.serving.skypilot.small;
    expect(await resolve(small.uri)).toBe("s3://weights/models/Qwen/Qwen2.5-0.5B-Instruct/7ae557604adf67be50417f59c2c2f167def9a775");
    expect(await resolve(small.endpoint)).toBe(`https://${ACCOUNT}.r2.cloudflarestorage.com`);
    expect(small.region).toBe("auto");
    for (const credential of [small.accessKeyId, small.secretAccessKey]) expect(await isSecret(credential)).toBe(true);
    const reader = await resolve<Record<string, string>>(run.one(SECRET, "r2-reader").props.stringData);
    expect(await resolve(small.accessKeyId)).toBe(reader.AWS_ACCESS_KEY_ID);
    expect(await resolve(small.secretAccessKey)).toBe(reader.AWS_SECRET_ACCESS_KEY);
    const task = await resolve(small.taskYaml);
    expect(await isSecret(small.taskYaml)).toBe(false);
    expect(task.split("\n")[0]).toBe("# sky launch -c small small.yaml --secret AWS_ACCESS_KEY_ID --secret AWS_SECRET_ACCESS_KEY");
    for (const value of Object.values(reader).filter((v) => !v.startsWith("https://") && v !== "auto")) expect(task).not.toContain(value);
    expect(task).toContain("secrets:\n  AWS_ACCESS_KEY_ID: null\n  AWS_SECRET_ACCESS_KEY: null\n");
  });

  it("exports the catalog and an R2 monthly cost from the model sizes", async () => {
    const raw = r2Config();
    (raw.models as Record<string, unknown>[])[0].sizeGiB = 100;
    const run = await runProgram(raw);
    expect(await resolve(run.serving.catalog.small.uri)).toBe(
      "s3://weights/models/Qwen/Qwen2.5-0.5B-Instruct/7ae557604adf67be50417f59c2c2f167def9a775",
    );
    expect(run.serving.monthlyStorageCostUsd).toBe(1.61);
  });
});
