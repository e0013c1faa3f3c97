// The pod sandbox's pause process for the one-node cluster (see scripts/toolchain.sh node): no
// registry is reachable, so registry.k8s.io/pause is built here from this source.
module llm-serving.local/toolchain/pause

go 1.26
