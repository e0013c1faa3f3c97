"""The metric names the dashboard and the PodMonitors rely on, and the compile-cache variables,
checked against the sources of the
engines' pinned wheels from PyPI (vllm and sglang at the versions of the default images), cached
outside the repo by version. SGLang's --enable-metrics is a field of its server args there."""

import ast
import json
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
# The node stand-in's flag reader (test/node/standin, not a package) downloads and reads the same wheels.
sys.path.insert(0, str(REPO / "test" / "node" / "standin"))

import engine_flags


def render_facts():
    run = subprocess.run(
        [str(REPO / "node_modules" / ".bin" / "tsx"), "test/python/render_engine_facts.ts"], cwd=REPO, check=True, capture_output=True, text=True
    )
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def facts():
    return render_facts()["engines"]


def wheel_sources(package, version):
    """The .py sources of package==version's wheel, downloaded once into the cache (by the node
    stand-in's flag reader, which reads the same wheels)."""
    with zipfile.ZipFile(engine_flags.wheel(package, version)) as whl:
        return "\n".join(whl.read(n).decode(errors="replace") for n in whl.namelist() if n.endswith(".py"))


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_every_metric_name_is_one_the_pinned_engine_exports(facts, engine):
    sources = wheel_sources(engine, facts[engine]["version"])
    for role, name in facts[engine]["metrics"].items():
        if role == "path":
            continue
        # prometheus_client appends _total to counters: vllm declares "vllm:generation_tokens".
        declared = name.removesuffix("_total") if engine == "vllm" else name
        assert re.search(rf'["\']{re.escape(declared)}["\']', sources), f"{engine} {facts[engine]['version']} declares no metric {declared} ({role})"


def test_sglang_has_the_enable_metrics_flag(facts):
    sources = wheel_sources("sglang", facts["sglang"]["version"])
    assert re.search(r"^\s*enable_metrics: A\[bool,", sources, re.MULTILINE), "sglang's server args have no enable_metrics field"


# Read by libraries outside the engine's own wheel: the CUDA driver, and flashinfer (a dependency).
EXTERNAL_ENV = {"CUDA_CACHE_PATH", "FLASHINFER_WORKSPACE_BASE"}


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_every_compile_cache_variable_is_one_the_pinned_engine_reads(facts, engine):
    sources = wheel_sources(engine, facts[engine]["version"])
    for name in set(facts[engine]["compileEnv"]) - EXTERNAL_ENV:
        assert re.search(rf'["\']{name}["\']', sources), f"{engine} {facts[engine]['version']} never reads {name}"


def wheel_requirements(package, version):
    with zipfile.ZipFile(engine_flags.wheel(package, version)) as whl:
        metadata = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        return [line.split(":", 1)[1].strip() for line in whl.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]


def test_the_engines_download_with_a_hub_that_reads_the_transfer_setting(facts):
    """vllm needs huggingface_hub >= 1.31 itself, sglang through transformers; that hub requires hf-xet
    and reads HF_XET_HIGH_PERFORMANCE (the pinned 1.33.0 is the one here)."""
    wheel_sources("vllm", facts["vllm"]["version"])
    assert "huggingface_hub>=1.31.0" in wheel_requirements("vllm", facts["vllm"]["version"])
    wheel_sources("sglang", facts["sglang"]["version"])
    transformers = next(r for r in wheel_requirements("sglang", facts["sglang"]["version"]) if r.startswith("transformers=="))
    version = transformers.split("==")[1]
    wheel_sources("transformers", version)
    assert any(r.startswith("huggingface-hub") and ">=1.31.0" in r for r in wheel_requirements("transformers", version))
    import huggingface_hub.constants

    for name in render_facts()["hubTransferEnv"]:
        assert name in vars(huggingface_hub.constants), f"huggingface_hub {huggingface_hub.__version__} does not read {name}"


def wheel_module(package, version, path, name):
    """One module of the cached wheel, loaded as it ships (for self-contained modules only)."""
    import types

    wheel_sources(package, version)
    with zipfile.ZipFile(engine_flags.wheel(package, version)) as whl:
        code = whl.read(path).decode()
    module = types.ModuleType(name)
    exec(compile(code, f"{package}-{version}/{path}", "exec"), module.__dict__)  # noqa: S102 - the pinned wheel's own code
    return module


def test_sglang_reads_the_api_key_from_the_server_args_file_the_secret_holds(facts, tmp_path):
    """SGLang's own config merger (the pinned wheel's utils/server_args_config_parser.py) turns the
    program's `--config <file>` and the file's `api-key: "…"` into `--api-key <key>`, byte for byte,
    whatever the key's characters: the key is in the file, never in argv."""
    import argparse

    engine = facts["sglang"]
    sources = wheel_sources("sglang", engine["version"])
    assert re.search(r'"--config",\s*type=str', sources), "sglang's parser has no --config"
    assert "config_merger.merge_config_with_args(argv)" in sources
    merger = wheel_module("sglang", engine["version"], "sglang/srt/utils/server_args_config_parser.py", "server_args_config_parser")
    flag, path = engine["apiKey"]["args"]
    assert flag == "--config" and path.endswith(".yaml") and engine["apiKey"]["env"] == []
    file = tmp_path / pathlib.Path(path).name
    file.write_text(engine["apiKey"]["file"])
    # api_key is a plain str field of ServerArgs: a store action, as ServerArgs.add_cli_args makes it.
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-key", type=str)
    parser.add_argument("--config", type=str)
    parser.add_argument("--port", type=int)
    argv = merger.ConfigArgumentMerger(parser).merge_config_with_args(["--port", "30000", "--config", str(file)])
    assert argv == ["--api-key", render_facts()["sampleApiKey"], "--port", "30000"]
    assert parser.parse_args(argv).api_key == render_facts()["sampleApiKey"]


def test_vllm_reads_the_api_key_from_its_env_var(facts):
    sources = wheel_sources("vllm", facts["vllm"]["version"])
    assert facts["vllm"]["apiKey"]["args"] == []
    for name in facts["vllm"]["apiKey"]["env"]:
        assert re.search(rf'["\']{name}["\']', sources), f"vllm {facts['vllm']['version']} never reads {name}"


def test_the_node_stand_in_accepts_exactly_the_pinned_vllm_parser_flags(facts):
    """test/node/standin/engine_flags.py reads the flag set from the same wheel: every flag the program
    renders for vLLM is in it, a misspelt one is not."""
    flags = set(engine_flags.extract("vllm", facts["vllm"]["version"])["flags"])
    rendered = {"--host", "--port", "--served-model-name", "--tensor-parallel-size", "--max-model-len", "--gpu-memory-utilization"}
    rendered |= {"--load-format", "--model-loader-extra-config", "--download-dir", "--revision"}
    assert rendered <= flags
    assert {"--enable-prefix-caching", "--no-enable-prefix-caching", "--headless", "--api-server-count"} <= flags
    assert "--tensor-parallel-sizes" not in flags


def test_the_node_stand_in_accepts_exactly_the_pinned_sglang_parser_flags(facts):
    """SGLang builds most options from its arg_groups/fields annotations (add_cli_args_from_dataclass):
    read statically, they hold every flag the program renders for SGLang, aliases included."""
    flags = set(engine_flags.extract("sglang", facts["sglang"]["version"])["flags"])
    rendered = set(re.findall(r'"(--[a-z0-9-]+)"', (REPO / "components" / "engines" / "sglang.ts").read_text()))
    assert {"--model-path", "--tp-size", "--config", "--enable-hierarchical-cache"} <= rendered
    assert rendered <= flags, sorted(rendered - flags)
    assert {"--tensor-parallel-size", "--api-key"} <= flags  # an alias, and the key the config file carries
    assert "--tp" not in flags


# NVIDIA Dynamo: the ai-dynamo wheel's own argument groups, and the engines it pins (its `vllm` and
# `sglang` extras), whose engine flags its worker parsers accept (AsyncEngineArgs.add_cli_args,
# ServerArgs.add_cli_args in dynamo/vllm/args.py and dynamo/sglang/args.py).
DYNAMO_PARSERS = {
    "frontend": ["dynamo/frontend/", "dynamo/common/configuration/"],
    "vllm": ["dynamo/vllm/backend_args.py", "dynamo/vllm/args.py", "dynamo/common/configuration/"],
    "sglang": ["dynamo/sglang/backend_args.py", "dynamo/sglang/args.py", "dynamo/common/configuration/"],
}


@pytest.fixture(scope="module")
def dynamo():
    return render_facts()["dynamo"]


def dynamo_flags(version, part):
    """Option strings of ai-dynamo's own parsers: `add_argument(parser, flag_name="--x", obsolete_flag=…)`
    and `add_negatable_bool_argument` (also `--no-x`) of its configuration helpers, and plain
    `parser.add_argument("--x")` calls."""
    flags = set()
    with zipfile.ZipFile(engine_flags.wheel("ai-dynamo", version)) as whl:
        for name in whl.namelist():
            if not (name.endswith(".py") and "/tests/" not in name and any(name.startswith(p) for p in DYNAMO_PARSERS[part])):
                continue
            for node in ast.walk(ast.parse(whl.read(name).decode(), filename=name)):
                if not isinstance(node, ast.Call):
                    continue
                function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if function not in ("add_argument", "add_negatable_bool_argument"):
                    continue
                names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("-")]
                for k in node.keywords:
                    if k.arg in ("flag_name", "obsolete_flag") and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str):
                        names.append(k.value.value)
                flags.update(names)
                if function == "add_negatable_bool_argument":
                    flags.update("--no-" + n[2:] for n in names if n.startswith("--"))
    assert len(flags) > 20, f"ai-dynamo {version}: only {len(flags)} flags in {DYNAMO_PARSERS[part]}: the parsers moved"
    return flags


def engine_arg_flags(backend, version):
    """The engine flags a Dynamo worker hands on: vLLM's AsyncEngineArgs (vllm/engine/arg_utils.py), SGLang's ServerArgs."""
    if backend == "sglang":
        return set(engine_flags.extract("sglang", version)["flags"])
    with zipfile.ZipFile(engine_flags.wheel("vllm", version)) as whl:
        return engine_flags.argument_flags(ast.parse(whl.read("vllm/engine/arg_utils.py").decode()))


def test_dynamo_pins_the_engine_versions_whose_flags_the_workers_follow(dynamo):
    with zipfile.ZipFile(engine_flags.wheel("ai-dynamo", dynamo["version"])) as whl:
        metadata = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [line for line in whl.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
    for backend, facts in dynamo["backends"].items():
        assert any(re.search(rf"\b{backend}(\[[^\]]*\])?=={re.escape(facts['version'])}\b", r) for r in requires), (
            f"ai-dynamo {dynamo['version']} does not pin {backend}=={facts['version']}: {requires}"
        )


@pytest.mark.parametrize("backend", ["vllm", "sglang"])
def test_every_dynamo_worker_flag_is_one_its_parsers_accept(dynamo, backend):
    facts = dynamo["backends"][backend]
    accepted = dynamo_flags(dynamo["version"], backend) | engine_arg_flags(backend, facts["version"])
    for args in facts["workerArgs"]:
        assert args[:2] == ["-m", f"dynamo.{backend}"]
        flags = {a.split("=")[0] for a in args[2:] if a.startswith("--")}
        assert flags and flags <= accepted, f"not accepted by dynamo.{backend} {dynamo['version']}: {sorted(flags - accepted)}"


def test_every_dynamo_frontend_flag_is_one_its_parser_accepts(dynamo):
    args = dynamo["frontendArgs"]
    assert args[:2] == ["-m", "dynamo.frontend"]
    flags = {a for a in args[2:] if a.startswith("--")}
    accepted = dynamo_flags(dynamo["version"], "frontend")
    assert flags <= accepted, f"not accepted by dynamo.frontend {dynamo['version']}: {sorted(flags - accepted)}"


def test_every_dynamo_metric_name_is_one_the_frontend_exports(dynamo):
    """The runtime wheel's dynamo/prometheus_names.py: the frontend's metrics are `dynamo_frontend_` + a
    frontend_service name."""
    with zipfile.ZipFile(engine_flags.wheel("ai-dynamo-runtime", dynamo["version"])) as whl:
        names = whl.read("dynamo/prometheus_names.py").decode()
    assert re.search(r'FRONTEND\s*=\s*"dynamo_frontend"', names), "the frontend's prefix is no longer dynamo_frontend"
    for role, name in dynamo["metrics"].items():
        if role == "path":
            continue
        suffix = name.removeprefix("dynamo_frontend_")
        assert re.search(rf'=\s*"{re.escape(suffix)}"', names), f"ai-dynamo-runtime {dynamo['version']} exports no frontend metric {suffix} ({role})"


@pytest.mark.parametrize("group", ["vllm/pipeline", "vllm/data", "sglang/tensor"])
def test_every_group_flag_is_one_the_pinned_engine_parser_accepts(facts, group):
    """A model on several nodes (a LeaderWorkerSet): the leader's and a worker's flags, LWS's
    `$(LWS_…)` references in place of the values the kubelet expands, are all the pinned parser's."""
    rendered = render_facts()["groups"][group]
    engine = rendered["engine"]
    accepted = set(engine_flags.extract(engine, facts[engine]["version"])["flags"])
    for role in ("leader", "worker"):
        args = rendered[role]
        flags = {a.split("=")[0] for a in args if a.startswith("--")}
        assert flags <= accepted, f"{group} {role}: not accepted by {engine} {facts[engine]['version']}: {sorted(flags - accepted)}"
        assert "$(LWS_WORKER_INDEX)" in args and any("$(LWS_LEADER_ADDRESS)" in a for a in args)
    if engine == "vllm":
        assert "--headless" in rendered["worker"] and "--headless" not in rendered["leader"]
