/** CRDs the integration tests install into the API server, read from their projects' Go modules. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { KubeClient, KubeObject } from "./kubeClient";

/**
 * The Fluid release whose CRDs the API server gets: the 1.0 line that `storage.fluid.install` pins
 * (chart 1.0.6); v1.0.0 is the one 1.0 version the Go module proxy serves here (v1.0.1-v1.0.6: 403).
 */
export const FLUID_MODULE = "github.com/fluid-cloudnative/fluid@v1.0.0";
const FLUID_CRDS = ["data.fluid.io_datasets.yaml", "data.fluid.io_alluxioruntimes.yaml", "data.fluid.io_dataloads.yaml"];
/** The Prometheus Operator whose PodMonitor CRD the API server gets (its module ships the CRDs). */
export const PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator@v0.85.0";

/** LeaderWorkerSet, whose CRD the API server gets (v0.9.0: the newest release the proxy serves whole). */
export const LWS_MODULE = "sigs.k8s.io/lws@v0.9.0";

/** KEDA, whose ScaledObject CRD the API server gets. */
export const KEDA_MODULE = "github.com/kedacore/keda/v2@v2.21.0";

/** CRDs read from a Go module: `files` under `dir` of the module's source. */
function moduleCrds(module: string, dir: string, files: string[]): KubeObject[] {
  const info = JSON.parse(execFileSync("go", ["mod", "download", "-json", module], { encoding: "utf8" })) as { Dir: string };
  return files.flatMap((file) => parseAllDocuments(readFileSync(join(info.Dir, dir, file), "utf8")).map((d) => d.toJS() as KubeObject));
}

async function waitEstablished(kube: KubeClient, crd: KubeObject): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const current = (await kube.get(crd)) as { status?: { conditions?: Array<{ type: string; status: string }> } } | undefined;
    if (current?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`CRD ${crd.metadata.name} was never established`);
}

/**
 * Dynamo's DynamoGraphDeployment v1beta1: a structural schema written here from the operator's Go
 * types (the file says which versions; the upstream CRD is 1.6 MB and not in any module the proxy
 * serves), strict but for each component's podTemplate, which the tests dry-run as a Pod.
 */
export const DYNAMO_CRD_FILE = join(__dirname, "crds", "dynamographdeployments-v1beta1.yaml");

/** Installs Fluid's Dataset, AlluxioRuntime and DataLoad CRDs, the Prometheus Operator's PodMonitor, KEDA's ScaledObject, LeaderWorkerSet's and Dynamo's DynamoGraphDeployment, and waits until they are served. */
export async function installCrds(kube: KubeClient): Promise<void> {
  const crds = [
    ...parseAllDocuments(readFileSync(DYNAMO_CRD_FILE, "utf8")).map((d) => d.toJS() as KubeObject),
    ...moduleCrds(FLUID_MODULE, "config/crd/bases", FLUID_CRDS),
    ...moduleCrds(PROMETHEUS_OPERATOR_MODULE, "example/prometheus-operator-crd", ["monitoring.coreos.com_podmonitors.yaml"]),
    ...moduleCrds(KEDA_MODULE, "config/crd/bases", ["keda.sh_scaledobjects.yaml"]),
    ...moduleCrds(LWS_MODULE, "config/crd/bases", ["leaderworkerset.x-k8s.io_leaderworkersets.yaml"]),
  ];
  for (const crd of crds) {
    await kube.apply(crd);
    await waitEstablished(kube, crd);
  }
}
