#!/usr/bin/env bash
# The README's quick start on any machine with npm, Node 20 included:
#   bash scripts/dev.sh local   the main job: `pulumi up --stack local` (renders ./rendered)
#   bash scripts/dev.sh test    the unit tests (extra arguments go to vitest)
#   bash scripts/dev.sh install only the installs (what .ci/run does before linting)
# Puts Node 22 on PATH (scripts/node.sh), installs the program's and the policy pack's packages
# when package-lock.json changed since the last install, then runs the npm script.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/node.sh
. scripts/node.sh
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
  test) shift && exec npm test -- "$@" ;;
  install) ;;
  *) echo "usage: bash scripts/dev.sh local|test|install [args]" >&2 && exit 2 ;;
esac
