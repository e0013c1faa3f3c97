/** The NVIDIA Dynamo platform (operator, its CRDs, NATS) as a Helm release, where the stack installs it. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DynamoConfig } from "./config/schema";

/**
 * `dynamo.install`: the `dynamo-platform` chart, whose operator applies its CRDs itself
 * (`dynamo-operator.upgradeCRD`) and discovers workers through the Kubernetes API; NATS (its event
 * plane, for KV-aware routing) is on in the chart's defaults, etcd off. Undefined when not enabled.
 */
export function dynamoPlatform(settings: DynamoConfig, opts: pulumi.CustomResourceOptions): k8s.helm.v3.Release | undefined {
  const install = settings.install;
  if (!install.enabled) return undefined;
  return new k8s.helm.v3.Release(
    "dynamo-platform",
    {
      chart: "dynamo-platform",
      version: install.chartVersion,
      namespace: install.namespace,
      createNamespace: true,
      repositoryOpts: { repo: install.repository },
      values: { "dynamo-operator": { discoveryBackend: "kubernetes", upgradeCRD: true } },
    },
    opts,
  );
}
