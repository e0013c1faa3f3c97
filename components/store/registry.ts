/** One line per object-store provider. */
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext } from "../cluster";
import { StackConfig, strategyDefaults } from "../config/schema";
import { MinioModelStore } from "./minio";
import { ModelStore } from "./modelStore";
import { R2ModelStore } from "./r2";
import { S3ModelStore } from "./s3";

export function createModelStore(config: StackConfig, cluster: ClusterContext, opts: pulumi.ComponentResourceOptions): ModelStore {
  const store = config.objectStore;
  const totalModelGiB = config.models.reduce((sum, m) => sum + m.sizeGiB, 0);
  // JuiceFS writes and deletes chunks under its volume name: it gets a credential of its own.
  const volumePrefix =
    config.storage.strategy === "juicefs" ? (config.storage.juicefs ?? strategyDefaults.juicefs()).volumeName : undefined;
  switch (store.provider) {
    case "r2":
      return new R2ModelStore("r2", { store, cluster, volumePrefix, previewToken: config.previewIdentity.enabled }, opts);
    case "s3":
      return new S3ModelStore("s3", { store, cluster, volumePrefix }, opts);
    case "minio":
      return new MinioModelStore("minio", { store, cluster, totalModelGiB, volumePrefix }, opts);
  }
}
