# shellcheck shell=bash
# Sourced by scripts/dev.sh: a virtualenv with test/python/requirements.txt, created once per
# version of that file in $LLM_SERVING_CACHE (default ~/.cache/llm-serving); sets LLM_SERVING_PYTHON.
llm_serving_python() {
  local cache="${LLM_SERVING_CACHE:-$HOME/.cache/llm-serving}" digest venv
  digest=$(sha256sum test/python/requirements.txt | cut -c1-10)
  venv="$cache/python-$digest"
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    command -v python3 >/dev/null || { echo "llm-serving: python3 is required for the pod scripts' tests" >&2; return 1; }
    echo "llm-serving: installing test/python/requirements.txt into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r test/python/requirements.txt >&2 || return 1
    touch "$venv/.complete"
  fi
  export LLM_SERVING_PYTHON="$venv/bin/python"
}
