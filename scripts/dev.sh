#!/usr/bin/env bash
# The README's quick start on any machine with npm, Node 20 included:
#   bash scripts/dev.sh local   the main job: `pulumi up --stack local` (renders ./rendered)
#   bash scripts/dev.sh test    the unit tests: vitest (extra arguments go to it), then the pod
#                               scripts' pytest suite (LLM_SERVING_PYTEST_ARGS go to pytest)
#   bash scripts/dev.sh install only the installs (what .ci/run does before linting)
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
    "$LLM_SERVING_PYTHON" -m pytest -q test/python ${LLM_SERVING_PYTEST_ARGS:-} || status=$?
    exit "$status"
    ;;
  lint-python)
    llm_serving_python
    ruff="$(dirname "$LLM_SERVING_PYTHON")/ruff"
    "$ruff" check --line-length 150 components test/python
    "$ruff" format --check --line-length 150 components test/python
    ;;
  install) ;;
  *) echo "usage: bash scripts/dev.sh local|test|lint-python|install [args]" >&2 && exit 2 ;;
esac
