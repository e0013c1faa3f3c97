#!/usr/bin/env bash
# The README's quick start on any machine with npm, Node 20 included:
#   bash scripts/dev.sh local   the main job: `pulumi up --stack local` (renders ./rendered)
#   bash scripts/dev.sh test    the unit tests: vitest (extra arguments go to it), then the pod
#                               scripts' pytest suite (LLM_SERVING_PYTEST_ARGS go to pytest)
#   bash scripts/dev.sh pytest-integration  the pod scripts with real s5cmd and versitygw
#   bash scripts/dev.sh lint-scripts  ruff and shellcheck over the pod scripts and the repo's shell
#   bash scripts/dev.sh install only the installs (what .ci/run does before linting)
#   bash scripts/dev.sh node up|down|status   the one-node cluster of the node tests (as root;
#                               scripts/node-cluster.sh): up builds what is missing and starts it
#   bash scripts/dev.sh test-node  the node tests (test/node), inside the cluster's network namespace
#                               (starts the node first when it is down)
#   bash scripts/dev.sh bench-node  bench/node.ts there (npm run bench:node)
# Puts Node 22 on PATH (scripts/node.sh), installs the program's and the policy pack's packages
# when package-lock.json changed since the last install, then runs the npm script.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/node.sh
. scripts/node.sh
# shellcheck source=scripts/python.sh
. scripts/python.sh
llm_serving_node

# install DIR: `npm ci` in DIR unless its node_modules matches its package-lock.json.
install() {
  local dir=$1
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.llm-serving-lock" 2>/dev/null; then
    npm ci --no-audit --no-fund --prefix "$dir" >&2
    cp "$dir/package-lock.json" "$dir/node_modules/.llm-serving-lock"
  fi
}
install .
install policies

case "${1:-}" in
  local) shift && exec npm run --silent local -- "$@" ;;
  test)
    shift
    llm_serving_python
    status=0
    npm test -- "$@" || status=$?
    # shellcheck disable=SC2086 # word splitting wanted: a list of pytest arguments
    "$LLM_SERVING_PYTHON" -m pytest -q test/python --ignore=test/python/integration ${LLM_SERVING_PYTEST_ARGS:-} || status=$?
    exit "$status"
    ;;
  pytest-integration)
    # The pod scripts against real s5cmd and a real S3 server (`scripts/toolchain.sh s3` first).
    shift
    llm_serving_python
    exec "$LLM_SERVING_PYTHON" -m pytest -q test/python/integration "$@"
    ;;
  lint-scripts)
    # The pod scripts and the repo's own: ruff for Python, shellcheck for shell.
    llm_serving_python
    venv_bin="$(dirname "$LLM_SERVING_PYTHON")"
    "$venv_bin/ruff" check --line-length 150 components test/python test/node bench scripts
    "$venv_bin/ruff" format --check --line-length 150 components test/python test/node bench scripts
    "$venv_bin/shellcheck" components/*/*.sh scripts/*.sh .ci/run policies/analyzer
    ;;
  node)
    shift
    exec bash scripts/node-cluster.sh "$@"
    ;;
  test-node)
    shift
    llm_serving_python
    bash scripts/toolchain.sh pulumi >/dev/null
    # Idempotent: starts what is stopped and imports the images the sources describe now (a changed
    # stand-in gets a new tag), so the tests never run an image older than the repo.
    bash scripts/node-cluster.sh up >/dev/null
    exec bash scripts/node-cluster.sh exec npx vitest run --config vitest.node.config.mts "$@"
    ;;
  bench-node)
    shift
    llm_serving_python
    bash scripts/toolchain.sh pulumi >/dev/null
    bash scripts/node-cluster.sh up >/dev/null
    exec bash scripts/node-cluster.sh exec npx tsx bench/node.ts "$@"
    ;;
  install) ;;
  *) echo "usage: bash scripts/dev.sh local|test|pytest-integration|lint-scripts|install|node|test-node|bench-node [args]" >&2 && exit 2 ;;
esac
