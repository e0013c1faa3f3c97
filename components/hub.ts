/** Hugging Face Hub access shared by the mirror and by servers that download themselves (`mirror: false`). */

/**
 * Parallel Hub downloads: both pinned engines need huggingface_hub >= 1.31, whose required hf-xet
 * does chunked, concurrent transfers; HF_XET_HIGH_PERFORMANCE lets it use the node's bandwidth and
 * CPUs. (HF_HUB_ENABLE_HF_TRANSFER is deprecated there: hf_transfer is no longer used.)
 */
export const HUB_TRANSFER_ENV = [{ name: "HF_XET_HIGH_PERFORMANCE", value: "1" }];

/** The pod's cache emptyDir for a Hub download: the model, 20 % for the Hub's temporary files, 10 GiB for the engine's own caches. */
export function hubDownloadGiB(sizeGiB: number): number {
  return Math.ceil(sizeGiB * 1.2) + 10;
}

/**
 * The largest download a `mirror: false` server may request as ephemeral storage: beyond it, few
 * nodes' root disks (kubelet's ephemeral-storage capacity) can schedule the pod at all.
 */
export const MAX_HUB_DOWNLOAD_GIB = 200;

/** HF_ENDPOINT for `huggingFace.endpoint` (a Hub mirror or artifact proxy); none for the public Hub. */
export function hubEndpointEnv(endpoint: string | undefined): { name: string; value: string }[] {
  return endpoint ? [{ name: "HF_ENDPOINT", value: endpoint }] : [];
}
