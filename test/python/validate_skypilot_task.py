"""Validates SkyPilot task files with the skypilot package's own loader (run in the skypilot venv).

Usage: validate_skypilot_task.py FILE...   Prints, per file, the parsed task as JSON (name, run,
envs, secret names, accelerators and CPUs per resource); exits 1 naming the file SkyPilot refuses.
"""

import json
import sys

import sky
import yaml


def describe(path):
    with open(path) as file:
        config = yaml.safe_load(file)
    secrets = [(name, "value-from-the-environment") for name in (config.get("secrets") or {})]
    task = sky.Task.from_yaml_config(config, secrets_overrides=secrets)
    return {
        "name": task.name,
        "run": task.run,
        "setup": task.setup,
        "envs": task.envs,
        "secrets": sorted(task.secrets),
        "accelerators": sorted((name, count) for r in task.resources for name, count in (r.accelerators or {}).items()),
        "cpus": sorted({str(r.cpus) for r in task.resources}),
    }


if __name__ == "__main__":
    tasks = {}
    for path in sys.argv[1:]:
        try:
            tasks[path] = describe(path)
        except Exception as error:  # noqa: BLE001  (SkyPilot raises several types; any refusal fails the file)
            sys.exit(f"{path}: {error}")
    print(json.dumps(tasks))
