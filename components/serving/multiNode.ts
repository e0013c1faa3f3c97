/** What a group spanning nodes (`models[].nodes` > 1) needs of the config, checked before anything is created. */
import { ConfigIssue, describe } from "../config/issues";
import { StackConfig } from "../config/schema";
import { GROUP_MODES } from "../engines/engine";

/** The flags a group's rank and rendezvous are made of: set by llm-serving from `nodes` and `multiNode`. */
export const GROUP_FLAGS = [
  "--pipeline-parallel-size",
  "-pp",
  "--data-parallel-size",
  "-dp",
  "--data-parallel-size-local",
  "--data-parallel-start-rank",
  "--data-parallel-address",
  "--data-parallel-rpc-port",
  "--nnodes",
  "--node-rank",
  "--master-addr",
  "--master-port",
  "--headless",
  "--dist-init-addr",
  "--pp-size",
  "--dp-size",
];

export function multiNodeIssues(config: StackConfig, i: number): ConfigIssue[] {
  const m = config.models[i];
  const at = (...path: (string | number)[]) => ["models", i, ...path];
  if (m.nodes === 1) {
    return m.multiNode
      ? [{ path: at("multiNode"), message: "only applies to a group spanning nodes: set nodes above 1 or remove it" }]
      : [];
  }
  if (m.engine === "dynamo") {
    return [
      {
        path: at("nodes"),
        message: `found ${m.nodes}; engine "dynamo" serves from one node per worker here (Dynamo's own multinode is not rendered): use engine "vllm" or "sglang" for a model spanning nodes`,
      },
    ];
  }
  const issues: ConfigIssue[] = [];
  const modes = GROUP_MODES[m.engine];
  if (m.multiNode?.mode && !modes.includes(m.multiNode.mode)) {
    issues.push({
      path: at("multiNode", "mode"),
      message: `found ${describe(m.multiNode.mode)}; ${m.engine} spans nodes with ${modes.map((x) => JSON.stringify(x)).join(" or ")} here${m.engine === "vllm" ? " (vLLM without Ray: tensor parallel within a node, pipeline or data parallel across nodes)" : " (SGLang: tensor parallel across every GPU of the group)"}`,
    });
  }
  const strategy = config.storage.strategy;
  if (strategy === "hostPath") {
    issues.push({
      path: ["storage", "strategy"],
      message: `is "hostPath", which keeps the weights on one pinned node, but models[${i}] spans ${m.nodes} nodes that each read them: use localPath (each member fills its own claim on its node), longhorn, fluid, juicefs or s3Streaming`,
    });
  }
  const fluidReplicas = config.storage.fluid?.replicas ?? 1;
  if (strategy === "fluid" && fluidReplicas < m.nodes) {
    issues.push({
      path: ["storage", "fluid", "replicas"],
      message: `found ${fluidReplicas}; models[${i}] spans ${m.nodes} nodes, each pinned to a node holding the cache: expected at least ${m.nodes} cache workers`,
    });
  }
  m.extraArgs.forEach((arg, j) => {
    const flag = arg.split("=")[0];
    if (GROUP_FLAGS.includes(flag)) {
      issues.push({
        path: at("extraArgs", j),
        message: `found ${describe(arg)}; a group's ranks and parallel sizes are set by llm-serving from nodes (${m.nodes}), gpus (${m.gpus}) and multiNode`,
      });
    }
  });
  return issues;
}
