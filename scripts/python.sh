# shellcheck shell=bash
# Sourced by scripts/dev.sh: virtualenvs created once per version of their requirements file in
# $LLM_SERVING_CACHE (default ~/.cache/llm-serving):
#   test/python/requirements.txt            -> LLM_SERVING_PYTHON (pytest, ruff, shellcheck, the pinned hub)
#   test/python/skypilot-requirements.txt   -> LLM_SERVING_SKYPILOT_PYTHON (SkyPilot's task loader;
#                                              apart, as it pins an older click than the hf CLI needs)

# venv_for REQUIREMENTS PREFIX: prints the venv's python, creating the venv when missing.
venv_for() {
  local requirements=$1 prefix=$2 cache="${LLM_SERVING_CACHE:-$HOME/.cache/llm-serving}" digest venv
  digest=$(sha256sum "$requirements" | cut -c1-10)
  venv="$cache/$prefix-$digest"
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    command -v python3 >/dev/null || { echo "llm-serving: python3 is required for the pod scripts' tests" >&2; return 1; }
    echo "llm-serving: installing $requirements into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2 || return 1
    touch "$venv/.complete"
  fi
  echo "$venv/bin/python"
}

llm_serving_python() {
  LLM_SERVING_PYTHON=$(venv_for test/python/requirements.txt python) || return 1
  LLM_SERVING_SKYPILOT_PYTHON=$(venv_for test/python/skypilot-requirements.txt skypilot) || return 1
  export LLM_SERVING_PYTHON LLM_SERVING_SKYPILOT_PYTHON
}
