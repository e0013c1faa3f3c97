/**
 * A real Kubernetes control plane for integration tests: etcd + kube-apiserver built by
 * `scripts/toolchain.sh cluster`, on loopback only, with a generated service-account key and a
 * random bearer token. Optionally kube-controller-manager too (garbage collection, finalizers,
 * StatefulSet claims, Deployment ReplicaSets, as a real cluster has them). No scheduler and no
 * kubelet: pods are created but never run.
 */
import { ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, toolchainBinDir } from "../../scripts/localTools";
import { KubeClient } from "./kubeClient";

export interface ApiServer {
  readonly url: string;
  readonly token: string;
  /** PEM of the server's self-signed serving certificate (trust it, do not skip verification). */
  readonly ca: string;
  stop(): Promise<void>;
}

/** The toolchain's bin directory, or undefined when `scripts/toolchain.sh cluster` has not run. */
export function toolchainBin(): string | undefined {
  const bin = toolchainBinDir();
  return ["etcd", "kube-apiserver", "kube-controller-manager"].every((b) => existsSync(join(bin, b))) ? bin : undefined;
}

function start(bin: string, args: string[], log: string): ChildProcess {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  const chunks: Buffer[] = [];
  child.stdout?.on("data", (c: Buffer) => chunks.push(c));
  child.stderr?.on("data", (c: Buffer) => chunks.push(c));
  child.on("exit", () => writeFileSync(log, Buffer.concat(chunks)));
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, logs: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const tails = logs.filter(existsSync).map((l) => `--- ${l}\n${readFileSync(l, "utf8").slice(-3000)}`);
  throw new Error(`${what} did not become ready in ${timeoutMs / 1000} s\n${tails.join("\n")}`);
}

export interface ApiServerOptions {
  /** Also run kube-controller-manager. Default: false. */
  readonly controllers?: boolean;
}

/** A kubeconfig (JSON) for the server, trusting its own certificate. */
export function kubeconfigFor(server: Pick<ApiServer, "url" | "token" | "ca">): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "it", cluster: { server: server.url, "certificate-authority-data": Buffer.from(server.ca).toString("base64") } }],
    users: [{ name: "it", user: { token: server.token } }],
    contexts: [{ name: "it", context: { cluster: "it", user: "it" } }],
    "current-context": "it",
  });
}

export async function startApiServer(bin: string, options: ApiServerOptions = {}): Promise<ApiServer> {
  const dir = mkdtempSync(join(tmpdir(), "llm-serving-apiserver-"));
  const [etcdClient, etcdPeer, securePort] = [await freePort(), await freePort(), await freePort()];
  const etcdLog = join(dir, "etcd.log");
  const apiLog = join(dir, "kube-apiserver.log");

  const etcd = start(
    join(bin, "etcd"),
    [
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      "--quota-backend-bytes=1073741824",
    ],
    etcdLog,
  );
  await waitUntil("etcd", async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok, 30_000, [etcdLog]);

  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(join(dir, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
  const token = randomBytes(24).toString("hex");
  writeFileSync(join(dir, "tokens.csv"), `${token},integration-admin,integration-admin,system:masters\n`);

  const apiserver = start(
    join(bin, "kube-apiserver"),
    [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${securePort}`,
      `--cert-dir=${join(dir, "certs")}`,
      `--token-auth-file=${join(dir, "tokens.csv")}`,
      "--authorization-mode=RBAC",
      `--service-account-key-file=${join(dir, "sa.pub")}`,
      `--service-account-signing-key-file=${join(dir, "sa.key")}`,
      "--service-account-issuer=https://kubernetes.default.svc",
      "--service-cluster-ip-range=10.96.0.0/16",
      "--enable-priority-and-fairness=false",
      "--profiling=false",
    ],
    apiLog,
  );
  let controllerManager: ChildProcess | undefined;
  const stop = async () => {
    if (controllerManager) await stopProcess(controllerManager);
    await stopProcess(apiserver);
    await stopProcess(etcd);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const url = `https://127.0.0.1:${securePort}`;
    const certFile = join(dir, "certs", "apiserver.crt");
    await waitUntil("kube-apiserver", async () => existsSync(certFile), 60_000, [apiLog]);
    const ca = readFileSync(certFile, "utf8");
    const client = new KubeClient({ url, token, ca });
    await waitUntil("kube-apiserver /readyz", async () => (await client.raw("GET", "/readyz")).status === 200, 90_000, [apiLog]);
    if (options.controllers) {
      const kubeconfig = join(dir, "controller-manager.kubeconfig");
      writeFileSync(kubeconfig, kubeconfigFor({ url, token, ca }), { mode: 0o600 });
      const cmLog = join(dir, "kube-controller-manager.log");
      controllerManager = start(
        join(bin, "kube-controller-manager"),
        [
          `--kubeconfig=${kubeconfig}`,
          "--leader-elect=false",
          "--bind-address=127.0.0.1",
          `--secure-port=${await freePort()}`,
          `--service-account-private-key-file=${join(dir, "sa.key")}`,
          `--root-ca-file=${certFile}`,
          "--use-service-account-credentials=false",
          "--concurrent-gc-syncs=5",
        ],
        cmLog,
      );
      // Ready once it has made the namespace's default ServiceAccount (pods need it to be admitted).
      await waitUntil(
        "kube-controller-manager",
        async () => (await client.raw("GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200,
        90_000,
        [cmLog],
      );
    }
    return { url, token, ca, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
