/** One line per object-store provider. */
import * as pulumi from "@pulumi/pulumi";
import { ClusterContext } from "../cluster";
import { StackConfig } from "../config/schema";
import { MinioModelStore } from "./minio";
import { ModelStore } from "./modelStore";
import { R2ModelStore } from "./r2";
import { S3ModelStore } from "./s3";

export function createModelStore(config: StackConfig, cluster: ClusterContext, opts: pulumi.ComponentResourceOptions): ModelStore {
  const store = config.objectStore;
  const totalModelGiB = config.models.reduce((sum, m) => sum + m.sizeGiB, 0);
  switch (store.provider) {
    case "r2":
      return new R2ModelStore("r2", { store, cluster }, opts);
    case "s3":
      return new S3ModelStore("s3", { store, cluster }, opts);
    case "minio":
      return new MinioModelStore("minio", { store, cluster, totalModelGiB }, opts);
  }
}
