/** The stack both scale benchmarks run: MinIO store, `models` models alternating vLLM/SGLang, 16 GiB each. */
import { imageFor } from "../test/harness";

const REV = "7ae557604adf67be50417f59c2c2f167def9a775";

export function scaleStackConfig(strategy: string, models: number, namespace = "llm"): Record<string, unknown> {
  return {
    environment: "dev",
    kubernetes: { namespace, skipAwait: true },
    objectStore: { provider: "minio", bucket: "llm-models" },
    storage: { strategy },
    models: Array.from({ length: models }, (_, i) => ({
      name: `model-${i}`,
      huggingFace: `org/model-${i}`,
      revision: REV,
      engine: i % 2 === 0 ? "vllm" : "sglang",
      sizeGiB: 16,
      ...imageFor(strategy, i % 2 === 0 ? "vllm" : "sglang"),
    })),
  };
}
