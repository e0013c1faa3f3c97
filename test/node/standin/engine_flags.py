"""The command-line flags a pinned engine's server accepts, read from its PyPI wheel's source (the
engines cannot be imported without a GPU stack): every option string given to `add_argument`, the
fields the server's frontend dataclasses turn into `--field-name` options, and `--no-<name>` for
the boolean ones (argparse.BooleanOptionalAction). The CPU stand-in engines refuse anything else.

    python3 engine_flags.py vllm 0.33.0    prints {"engine", "version", "flags": [...], "source"}

Wheels are downloaded once into $LLM_SERVING_CACHE/wheels/<package>-<version>/.
"""

import ast
import json
import os
import pathlib
import subprocess
import sys
import zipfile

CACHE = pathlib.Path(os.environ.get("LLM_SERVING_CACHE", pathlib.Path.home() / ".cache" / "llm-serving")) / "wheels"

# Where each engine's server parser is built: modules whose add_argument calls define options, and
# the dataclasses whose fields become options (vLLM's FrontendArgs.add_cli_args loops over them).
SOURCES = {
    "vllm": {
        "arguments": ["vllm/engine/arg_utils.py", "vllm/entrypoints/common/cli_args.py"],
        "field_classes": {"vllm/entrypoints/common/cli_args.py": ["BaseFrontendArgs", "FrontendArgs"]},
        # Booleans anywhere in the config dataclasses get a --no- form (get_kwargs).
        "bool_fields": ["vllm/config/", "vllm/engine/arg_utils.py", "vllm/entrypoints/common/cli_args.py"],
    },
    # ServerArgs.add_cli_args: add_cli_args_from_dataclass over the namespaces of arg_groups/fields
    # (every `A[T, "help"]` or `A[T, Arg(...)]` field: --field-name or Arg.cli_name, Arg.aliases, not
    # Arg.no_cli; booleans are store_true), then dynamic choices, --config and deprecated spellings.
    "sglang": {
        "arguments": ["sglang/srt/server_args.py"],
        "annotated_fields": "sglang/srt/arg_groups/fields/",
        "field_classes": {},
        "bool_fields": [],
    },
}


def wheel(package, version):
    target = CACHE / f"{package}-{version}"
    if not list(target.glob("*.whl")):
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "-d",
                target,
                f"{package}=={version}",
            ],
            check=True,
            timeout=600,
        )
    return next(target.glob("*.whl"))


def is_boolean_optional(call):
    return any(k.arg == "action" and isinstance(k.value, ast.Attribute) and k.value.attr == "BooleanOptionalAction" for k in call.keywords)


def argument_flags(tree):
    """Option strings of every `<x>.add_argument("--a", "-b", ...)` call; `--no-a` for BooleanOptionalAction."""
    flags = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("-")]
            flags.update(names)
            if is_boolean_optional(node):
                flags.update("--no-" + n[2:] for n in names if n.startswith("--"))
    return flags


def class_fields(tree, names):
    """{field: annotation source} of the annotated fields of the named classes."""
    fields = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in names:
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    fields[item.target.id] = ast.unparse(item.annotation)
    return fields


def boolean_fields(tree):
    """Names of dataclass-style fields annotated with a type that admits bool."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and "bool" in ast.unparse(item.annotation):
                    names.add(item.target.id)
    return names


def annotated_flags(tree):
    """SGLang's add_cli_args_from_dataclass, read statically: the options of `A[T, help]` / `A[T, Arg(...)]` fields."""
    flags = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            annotation = item.annotation
            if not (isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name) and annotation.value.id in ("A", "Annotated")):
                continue
            parts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
            meta = parts[1] if len(parts) > 1 else None
            name = "--" + item.target.id.replace("_", "-")
            if isinstance(meta, ast.Constant) and isinstance(meta.value, str):
                flags.add(name)
            elif isinstance(meta, ast.Call) and isinstance(meta.func, ast.Name) and meta.func.id == "Arg":
                keywords = {k.arg: k.value for k in meta.keywords}
                no_cli = keywords.get("no_cli")
                if isinstance(no_cli, ast.Constant) and no_cli.value is True:
                    continue
                cli_name = keywords.get("cli_name")
                flags.add(cli_name.value if isinstance(cli_name, ast.Constant) else name)
                aliases = keywords.get("aliases")
                if isinstance(aliases, ast.List):
                    flags.update(a.value for a in aliases.elts if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return flags


def extract(engine, version):
    sources = SOURCES[engine]
    path = wheel(engine, version)
    with zipfile.ZipFile(path) as whl:
        names = whl.namelist()

        def parsed(name):
            return ast.parse(whl.read(name).decode(), filename=name)

        flags = set()
        for name in sources["arguments"]:
            if name not in names:
                sys.exit(f"engine_flags: {path.name} has no {name}: the parser moved; update SOURCES")
            flags |= argument_flags(parsed(name))
        if sources.get("annotated_fields"):
            for name in names:
                if name.startswith(sources["annotated_fields"]) and name.endswith(".py"):
                    flags |= annotated_flags(parsed(name))
        booleans = set()
        for prefix in sources["bool_fields"]:
            for name in names:
                if name.startswith(prefix) and name.endswith(".py"):
                    booleans |= boolean_fields(parsed(name))
        for name, classes in sources["field_classes"].items():
            for field, annotation in class_fields(parsed(name), classes).items():
                flag = "--" + field.replace("_", "-")
                flags.add(flag)
                if "bool" in annotation:
                    flags.add("--no-" + flag[2:])
        # get_kwargs gives every boolean config field its --no- form, also those added as **kwargs["x"].
        flags |= {"--no-" + f[2:] for f in flags if f.startswith("--") and f[2:].replace("-", "_") in booleans}
    if len(flags) < 50:
        sys.exit(f"engine_flags: only {len(flags)} flags found in {path.name}: the parser moved; update SOURCES")
    return {"engine": engine, "version": version, "source": path.name, "flags": sorted(flags)}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in SOURCES:
        sys.exit(f"usage: engine_flags.py {'|'.join(SOURCES)} VERSION")
    print(json.dumps(extract(sys.argv[1], sys.argv[2]), indent=1))
