/** The LeaderWorkerSet controller as a Helm release, where the stack installs it (`lws.install`). */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { LwsConfig } from "./config/schema";

/**
 * The `lws` chart (its CRD, controller and webhook, which gives each member its LWS_* env); an OCI
 * repository names the chart by URL, a classic one by name. Undefined when not enabled.
 */
export function lwsController(settings: LwsConfig, opts: pulumi.CustomResourceOptions): k8s.helm.v3.Release | undefined {
  const install = settings.install;
  if (!install.enabled) return undefined;
  const oci = install.repository.startsWith("oci://");
  return new k8s.helm.v3.Release(
    "lws",
    {
      chart: oci ? `${install.repository.replace(/\/+$/, "")}/lws` : "lws",
      version: install.chartVersion,
      namespace: install.namespace,
      createNamespace: true,
      ...(oci ? {} : { repositoryOpts: { repo: install.repository } }),
    },
    opts,
  );
}
