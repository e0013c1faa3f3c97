"""minio_setup.sh, the MinIO setup Job's script, against a stand-in `mc` that keeps MinIO's state in a
file and answers as mc does (no MinIO server is buildable here). A second run changes nothing; a
new role is added on a re-run; a policy is never attached twice (mc refuses that)."""

import json
import pathlib
import shutil
import subprocess
import sys

from image_tools import image_path

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "components" / "store" / "minio_setup.sh"

FAKE_MC = r"""#!PYTHON
import json, os, sys
path = os.environ["MC_STATE"]
state = json.load(open(path)) if os.path.exists(path) else {"buckets": [], "policies": {}, "users": {}, "calls": []}
args = sys.argv[1:]
state["calls"].append(" ".join(args))
def save(): json.dump(state, open(path, "w"))
if args[:2] == ["alias", "set"]:
    if os.environ.get("MC_UNREACHABLE"):
        save(); print("mc: <ERROR> Unable to initialize new alias from the provided credentials.", file=sys.stderr); sys.exit(1)
elif args[0] == "mb":
    bucket = args[-1].split("/", 1)[1]
    if bucket not in state["buckets"]: state["buckets"].append(bucket)
elif args[:2] == ["anonymous", "set"]:
    pass
elif args[:3] == ["admin", "policy", "create"]:
    state["policies"][args[4]] = json.load(open(args[5]))
elif args[:3] == ["admin", "user", "add"]:
    state["users"].setdefault(args[4], {"secret": args[5], "policies": []})["secret"] = args[5]
elif args[:3] == ["admin", "user", "info"]:
    # mc's text output (cmd/admin-user-info.go): the access key first, then the attached policies.
    user = state["users"][args[4]]
    save(); print(f"AccessKey: {args[4]}\nStatus: enabled\nPolicyName: {','.join(user['policies'])}\nMemberOf: []"); sys.exit(0)
elif args[:3] == ["admin", "policy", "attach"]:
    user = state["users"][args[-1]]
    if args[4] in user["policies"]:
        save(); print("mc: <ERROR> Unable to make user/group policy association. The specified policy change is already in effect.", file=sys.stderr); sys.exit(1)
    user["policies"].append(args[4])
else:
    save(); print("unknown mc command: " + " ".join(args), file=sys.stderr); sys.exit(2)
save()
"""


def setup(tmp_path, *roles, without_policy=None, **extra_env):
    bin_dir = tmp_path / "bin"
    policies = tmp_path / "policies"
    if not bin_dir.exists():
        bin_dir.mkdir()
        # The image has no python: the stand-in names the host's interpreter itself.
        (bin_dir / "mc").write_text(FAKE_MC.replace("PYTHON", sys.executable, 1))
        (bin_dir / "mc").chmod(0o755)
        policies.mkdir()
    # Only what the mc image ships (image_tools.py): a grep or sed the image lacks fails here too.
    path = image_path(tmp_path / "image-bin", "mc", {"mc": bin_dir / "mc"})
    env = {"PATH": path, "MC_STATE": str(tmp_path / "state.json"), "POLICIES_DIR": str(policies)}
    env.update({"MINIO_URL": "http://minio:9000", "MINIO_ROOT_USER": "root", "MINIO_ROOT_PASSWORD": "root-password"})
    env.update(extra_env)
    for role in roles:
        if role != without_policy:
            (policies / f"{role}.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": role}]}))
        env[f"{role}_ACCESS_KEY"] = f"llm-{role}"
        env[f"{role}_SECRET_KEY"] = f"{role}-secret"
    run = subprocess.run([shutil.which("sh"), SCRIPT, "llm-models", *roles], check=False, env=env, capture_output=True, text=True, timeout=30)
    return run, json.loads((tmp_path / "state.json").read_text())


def test_creates_the_bucket_and_one_user_per_role_with_its_policy(tmp_path):
    run, state = setup(tmp_path, "reader", "writer")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "bucket and users ready" in run.stdout
    assert state["buckets"] == ["llm-models"]
    assert {u: v["policies"] for u, v in state["users"].items()} == {"llm-reader": ["llm-reader"], "llm-writer": ["llm-writer"]}
    assert state["users"]["llm-writer"]["secret"] == "writer-secret"
    assert "anonymous set none local/llm-models" in state["calls"]


def test_a_rerun_with_a_new_role_adds_it_and_attaches_nothing_twice(tmp_path):
    setup(tmp_path, "reader", "writer")
    run, state = setup(tmp_path, "reader", "writer", "volume")
    assert run.returncode == 0, run.stdout + run.stderr
    assert {u: v["policies"] for u, v in state["users"].items()} == {
        "llm-reader": ["llm-reader"],
        "llm-writer": ["llm-writer"],
        "llm-volume": ["llm-volume"],
    }
    assert state["policies"]["llm-volume"]["Statement"] == [{"Sid": "volume"}]
    attaches = [c for c in state["calls"] if c.startswith("admin policy attach")]
    assert len(attaches) == 3


def test_a_missing_policy_file_fails_the_job(tmp_path):
    run, state = setup(tmp_path, "writer", "reader", without_policy="reader")
    assert run.returncode != 0
    assert "bucket and users ready" not in run.stdout
    assert "llm-writer" in state["users"]


def test_gives_up_on_an_unreachable_minio_at_its_deadline(tmp_path):
    """Applied without Pulumi's ordering the Job may start before MinIO; it waits, but not forever."""
    run, state = setup(tmp_path, "reader", MC_UNREACHABLE="1", MINIO_WAIT_SECONDS="3")
    assert run.returncode != 0
    assert "FATAL: waited 3 s (MINIO_WAIT_SECONDS) for MinIO at http://minio:9000" in run.stdout
    assert state["buckets"] == []
