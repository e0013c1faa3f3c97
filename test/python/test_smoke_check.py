"""smoke_check.py against a local HTTP server that answers like vLLM / SGLang's OpenAI API (and
servers that answer wrong): it passes only when the served name is listed and a completion comes
back, and otherwise fails with the status and the body."""

import datetime
import http.server
import json
import os
import pathlib
import re
import socket
import ssl
import subprocess
import sys
import threading

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "components" / "serving" / "smoke_check.py"

# The shapes of vLLM's ModelList / Completion responses (entrypoints/openai/protocol.py).
MODELS = {
    "object": "list",
    "data": [{"id": "small", "object": "model", "created": 1, "owned_by": "vllm", "root": "/models/x", "max_model_len": 32768}],
}
COMPLETION = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1,
    "model": "small",
    "choices": [{"index": 0, "text": " world", "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 1, "total_tokens": 2, "completion_tokens": 1},
}


def serve(routes, token=None):
    """An HTTP server on loopback: routes maps (method, path) to (status, body); with `token`, /v1
    answers 401 without `Authorization: Bearer <token>`, as vLLM's and SGLang's key middleware do."""
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            requests.append((method, self.path, json.loads(self.rfile.read(length)) if length else None))
            route = routes.get((method, self.path), (404, {"detail": "Not Found"}))
            status, body = route() if callable(route) else route
            if token and self.path.startswith("/v1") and self.headers.get("Authorization") != f"Bearer {token}":
                status, body = 401, {"error": "Unauthorized"}
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.answer("GET")

        def do_POST(self):
            self.answer("POST")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, requests


@pytest.fixture()
def engine(request):
    server, requests = serve(request.param)
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    server.shutdown()


def smoke(base, name="small", api_key=None, **extra):
    env = {k: v for k, v in os.environ.items() if k != "SERVER_API_KEY"}
    if api_key:
        env["SERVER_API_KEY"] = api_key
    env.update(extra)
    return subprocess.run([sys.executable, SCRIPT, base, name], check=False, env=env, capture_output=True, text=True, timeout=60)


GOOD = {("GET", "/v1/models"): (200, MODELS), ("POST", "/v1/completions"): (200, COMPLETION)}


@pytest.mark.parametrize("engine", [GOOD], indirect=True)
def test_a_server_that_lists_the_model_and_completes_passes(engine):
    base, requests = engine
    run = smoke(base)
    assert run.returncode == 0, run.stderr
    assert "small answers at" in run.stdout and "' world'" in run.stdout
    assert requests[1] == ("POST", "/v1/completions", {"model": "small", "prompt": "Hello", "max_tokens": 1, "temperature": 0})


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ({**GOOD, ("GET", "/v1/models"): (200, {"object": "list", "data": [{"id": "other"}]})}, "lists ['other'], not the served model name 'small'"),
        ({**GOOD, ("GET", "/v1/models"): (503, "Service Unavailable")}, "/v1/models answered 503: Service Unavailable"),
        (
            {**GOOD, ("POST", "/v1/completions"): (400, {"object": "error", "message": "max_tokens is too large"})},
            'answered 400: {"object": "error", "message": "max_tokens is too large"}',
        ),
        ({**GOOD, ("POST", "/v1/completions"): (200, {"choices": []})}, 'answered 200 without a completion: {"choices": []}'),
        ({**GOOD, ("POST", "/v1/completions"): (200, "<html>proxy</html>")}, "a body that is not JSON: <html>proxy</html>"),
    ],
    indirect=["engine"],
)
def test_a_wrong_answer_fails_with_the_body(engine, expected):
    run = smoke(engine[0])
    assert run.returncode == 1
    assert expected in run.stderr
    assert run.stderr.startswith("FATAL: ")


def test_no_server_fails_after_retrying(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sys.path.insert(0, str(SCRIPT.parent))
    import smoke_check

    monkeypatch.setattr(smoke_check, "CONNECT_RETRY_SECONDS", 1)
    monkeypatch.setattr(smoke_check, "TERMINATION_LOG", "/nonexistent/termination-log")
    with pytest.raises(SystemExit) as exit_info:
        smoke_check.main(f"http://127.0.0.1:{port}/v1", "small")
    assert "no answer for 1 s" in str(exit_info.value)


def test_a_server_with_an_api_key_is_called_with_it_and_refuses_without():
    server, _ = serve(GOOD, token="k3y-0123456789abcdef")
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        run = smoke(base, api_key="k3y-0123456789abcdef")
        assert run.returncode == 0, run.stderr
        refused = smoke(base)
        assert refused.returncode == 1 and "answered 401" in refused.stderr
        assert "k3y-0123456789abcdef" not in refused.stderr
    finally:
        server.shutdown()


def test_a_server_that_comes_up_within_connect_wait_seconds_is_waited_for():
    """Applied without Pulumi's ordering the check can start before the server: it waits for the
    Service as long as CONNECT_WAIT_SECONDS (the server's budget, from the program), then checks it."""
    answering, _ = serve(GOOD)
    handler = answering.RequestHandlerClass
    answering.shutdown()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    late = threading.Timer(
        3.0, lambda: threading.Thread(target=http.server.ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever, daemon=True).start()
    )
    late.start()
    env = {**os.environ, "CONNECT_WAIT_SECONDS": "30"}
    run = subprocess.run(
        [sys.executable, SCRIPT, f"http://127.0.0.1:{port}/v1", "small"], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "small answers at" in run.stdout


def models_reporting(*roots):
    """A /v1/models route whose model reports each root in turn (the last one from then on)."""
    answers = list(roots)

    def route():
        root = answers.pop(0) if len(answers) > 1 else answers[0]
        return 200, {"object": "list", "data": [{**MODELS["data"][0], "root": root}]}

    return route


def served(base, path="/v1/models", field="root", expected="/models/repo/new"):
    origin = base.removesuffix("/v1")
    return {"EXPECTED_MODEL": expected, "SERVED_MODEL_URL": origin + path, "SERVED_MODEL_FIELD": field}


def test_the_previous_revision_answering_is_waited_out():
    """A real node showed Pulumi creating the Job while the previous revision's pod still answered:
    the check waits until the server reports this revision's model, then checks it."""
    server, requests = serve({**GOOD, ("GET", "/v1/models"): models_reporting("/models/repo/old", "/models/repo/old", "/models/repo/new")})
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        run = smoke(base, CONNECT_WAIT_SECONDS="30", **served(base))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "reports root '/models/repo/old'; waiting for '/models/repo/new'" in run.stdout
        assert [r[1] for r in requests].count("/v1/models") == 4
    finally:
        server.shutdown()


def test_a_server_that_keeps_the_previous_revision_fails_naming_both():
    server, _ = serve({**GOOD, ("GET", "/v1/models"): models_reporting("/models/repo/old")})
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        run = smoke(base, CONNECT_WAIT_SECONDS="3", **served(base))
        assert run.returncode == 1
        assert "still reports root '/models/repo/old' after 3 s (CONNECT_WAIT_SECONDS), not '/models/repo/new'" in run.stderr
    finally:
        server.shutdown()


def test_sglang_reports_its_model_path_on_model_info():
    info = {"model_path": "/models/repo/new", "tokenizer_path": "/models/repo/new", "is_generation": True}
    server, _ = serve({**GOOD, ("GET", "/model_info"): (200, info)})
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        run = smoke(base, **served(base, "/model_info", "model_path"))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "waiting" not in run.stdout
    finally:
        server.shutdown()


def api_server(tmp_path, pods, workloads=None):
    """A stand-in for the API server's pod list and, with `workloads` (path -> the answers in turn,
    the last from then on; an int answers that status), its workload objects (HTTPS with its own CA,
    the service account's bearer token), and the service account directory a pod would have mounted."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kubernetes"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"), "-out", str(account / "ca.crt")],
        check=True,
        capture_output=True,
    )
    (account / "token").write_text("sa-token\n")
    seen = []

    answers = {path: list(objects) for path, objects in (workloads or {}).items()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            status, body = 200, {"kind": "PodList", "items": pods}
            if self.path.startswith("/apis/"):
                queue = answers.get(self.path, [404])
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
                status, body = (answer, {"kind": "Status", "code": answer}) if isinstance(answer, int) else (200, answer)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(account / "ca.crt", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "SERVICEACCOUNT_DIR": str(account),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(server.server_address[1]),
        "POD_NAMESPACE": "llm",
        "SERVER_POD_SELECTOR": "app.kubernetes.io/name=small,app.kubernetes.io/component=inference-server",
        "CONFIG_PATH": "llm-serving:models[0]",
    }
    return server, seen, env


def ago(seconds):
    """An API server timestamp `seconds` before now."""
    return (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(conditions, created=60, **status):
    return {
        "metadata": {"name": "small-6d4f9-abcde", "creationTimestamp": ago(created)},
        "spec": {
            "containers": [
                {"name": "vllm", "resources": {"requests": {"cpu": "2", "memory": "64Gi"}, "limits": {"memory": "64Gi", "nvidia.com/gpu": "1"}}}
            ]
        },
        "status": {"phase": "Pending", "conditions": conditions, **status},
    }


def unschedulable(since):
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": ago(since)}
    return pod([{**condition, "message": "0/1 nodes are available: 1 Insufficient memory."}])


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def watched(tmp_path, pods, **extra):
    """smoke_check.py against no server at all, watching `pods` through the stand-in API server."""
    server, seen, env = api_server(tmp_path, pods)
    try:
        return smoke(f"http://127.0.0.1:{closed_port()}/v1", **env, **extra), seen
    finally:
        server.shutdown()


def test_a_server_pod_no_node_can_hold_fails_with_the_schedulers_reason(tmp_path):
    run, seen = watched(tmp_path, [unschedulable(since=20)], CONNECT_WAIT_SECONDS="60", UNSCHEDULABLE_SECONDS="10")
    assert run.returncode == 1
    assert re.match(r"FATAL: the server pod small-6d4f9-abcde cannot be scheduled \((19|20|21) s, UNSCHEDULABLE_SECONDS 10\): ", run.stderr)
    assert "0/1 nodes are available: 1 Insufficient memory. It requests cpu=2, memory=64Gi, nvidia.com/gpu=1" in run.stderr
    assert "so lower llm-serving:models[0].memory, .cpu or .gpus, or add a node that fits its placement" in run.stderr
    path, authorization = seen[0]
    assert path == "/api/v1/namespaces/llm/pods?labelSelector=app.kubernetes.io%2Fname%3Dsmall%2Capp.kubernetes.io%2Fcomponent%3Dinference-server"
    assert authorization == "Bearer sa-token"


def test_a_pod_the_scheduler_has_not_placed_yet_is_given_its_time(tmp_path):
    run, seen = watched(tmp_path, [unschedulable(since=1)], CONNECT_WAIT_SECONDS="4", UNSCHEDULABLE_SECONDS="300", READY_SECONDS="300")
    assert seen
    assert "cannot be scheduled" not in run.stderr
    assert "no answer for 4 s (CONNECT_WAIT_SECONDS" in run.stderr


def test_scheduled_ready_pods_and_an_unreachable_api_server_leave_the_check_to_its_server(tmp_path):
    ready = pod([{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True", "lastTransitionTime": ago(3000)}])
    run, seen = watched(tmp_path, [ready], CONNECT_WAIT_SECONDS="4", UNSCHEDULABLE_SECONDS="0", READY_SECONDS="10")
    assert "no answer for 4 s (CONNECT_WAIT_SECONDS" in run.stderr
    assert seen, "the watch asked the API server"
    env = {"SERVER_POD_SELECTOR": "app=small", "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(closed_port())}
    run = smoke(f"http://127.0.0.1:{closed_port()}/v1", CONNECT_WAIT_SECONDS="3", SERVICEACCOUNT_DIR=str(tmp_path / "serviceaccount"), **env)
    assert "not watching the server pods" in run.stdout
    assert "no answer for 3 s (CONNECT_WAIT_SECONDS" in run.stderr


def test_a_pod_not_ready_within_the_servers_await_fails_with_its_containers_states(tmp_path):
    pulling = {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "llm-serving.local/nope:0"'}}
    stuck = pod(
        [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False", "lastTransitionTime": ago(45)}],
        containerStatuses=[{"name": "vllm", "ready": False, "restartCount": 0, "state": pulling}],
    )
    run, _ = watched(tmp_path, [stuck], CONNECT_WAIT_SECONDS="60", READY_SECONDS="40")
    assert run.returncode == 1
    assert re.match(r"FATAL: the server pod small-6d4f9-abcde is not Ready after (44|45|46) s \(READY_SECONDS, the server's await\): ", run.stderr)
    assert 'vllm: waiting (ImagePullBackOff: Back-off pulling image "llm-serving.local/nope:0"), ready False' in run.stderr
    crashed = pod(
        [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False", "lastTransitionTime": ago(45)}],
        containerStatuses=[
            {
                "name": "vllm",
                "ready": False,
                "restartCount": 1,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 2, "message": "vllm serve: error: unrecognized arguments: --nope"}},
            }
        ],
    )
    (tmp_path / "crashed").mkdir()
    run, _ = watched(tmp_path / "crashed", [crashed], CONNECT_WAIT_SECONDS="60", READY_SECONDS="40")
    assert "vllm: waiting (CrashLoopBackOff), ready False, last exit 2: vllm serve: error: unrecognized arguments: --nope" in run.stderr


def test_a_server_init_step_that_failed_twice_fails_with_its_words(tmp_path):
    def verify_failed(times):
        terminated = {"exitCode": 1, "reason": "Error", "message": "FATAL: model.safetensors: missing from the bucket"}
        step = {
            "name": "verify-objects",
            "restartCount": times,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": terminated},
        }
        return pod([{"type": "PodScheduled", "status": "True"}, {"type": "Initialized", "status": "False"}], initContainerStatuses=[step])

    run, _ = watched(tmp_path, [verify_failed(1)], CONNECT_WAIT_SECONDS="4", READY_SECONDS="300")
    assert "its init step" not in run.stderr, "one failure is left to the kubelet's retry"
    (tmp_path / "twice").mkdir()
    run, _ = watched(tmp_path / "twice", [verify_failed(2)], CONNECT_WAIT_SECONDS="60", READY_SECONDS="300")
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "FATAL: the server pod small-6d4f9-abcde: its init step verify-objects failed 2 times (exit code 1): "
        "FATAL: model.safetensors: missing from the bucket"
    )


DEPLOYMENT = "/apis/apps/v1/namespaces/llm/deployments/small"


def deployment(digest, generation=2, observed=2, replicas=1, updated=1, available=1, total=None, conditions=()):
    """A Deployment as the API server has it: its template's digest, generations and rollout counts."""
    return {
        "kind": "Deployment",
        "metadata": {"name": "small", "generation": generation, "annotations": {"llm-serving.io/pod-template-digest": digest}},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "replicas": updated if total is None else total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": list(conditions),
        },
    }


def rolling(tmp_path, answers, **extra):
    """smoke_check.py against a good server, waiting for the Deployment `answers` describe in turn."""
    server, requests = serve(GOOD)
    api, seen, env = api_server(tmp_path, [], {DEPLOYMENT: answers})
    try:
        env.update(SERVER_WORKLOAD="deployments/small", POD_TEMPLATE_DIGEST="9e1f07aa", **extra)
        return smoke(f"http://127.0.0.1:{server.server_address[1]}/v1", **env), requests, seen
    finally:
        api.shutdown()
        server.shutdown()


def test_the_previous_templates_pods_are_waited_out_before_the_server_is_called(tmp_path):
    """A real node showed the Job passing against the previous pod template's Ready pod, which served
    the same revision, while the new template's pods could not start: it waits for the rollout."""
    answers = [
        deployment("5c3b2d10", generation=1, observed=1),
        deployment("9e1f07aa", generation=2, observed=1),
        deployment("9e1f07aa", updated=1, available=0, total=2),
        deployment("9e1f07aa", updated=1, available=0),
        deployment("9e1f07aa"),
    ]
    run, requests, seen = rolling(tmp_path, answers, CONNECT_WAIT_SECONDS="60")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if "deployments/small" in line]
    assert lines == [
        "waiting for deployments/small: it carries pod template '5c3b2d10', not yet '9e1f07aa'",
        "waiting for deployments/small: its controller has not yet seen generation 2",
        "waiting for deployments/small: 1 old pods still running",
        "waiting for deployments/small: 0 of 1 updated pods available",
        "deployments/small has rolled out pod template 9e1f07aa",
    ]
    assert [path for path, _ in seen if path.startswith("/apis/")] == [DEPLOYMENT] * 5
    assert [r[1] for r in requests] == ["/v1/models", "/v1/completions"]


def test_a_rollout_that_never_completes_fails_naming_what_it_waits_for(tmp_path):
    run, requests, _ = rolling(tmp_path, [deployment("9e1f07aa", updated=0, available=0, total=1)], CONNECT_WAIT_SECONDS="4")
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "FATAL: the server's deployments/small has not rolled out pod template 9e1f07aa after 4 s (CONNECT_WAIT_SECONDS): 0 of 1 pods updated"
    )
    assert requests == [], "the server's previous pods are never asked"


def test_a_rollout_past_its_progress_deadline_fails_with_the_deployments_words(tmp_path):
    stalled = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "small-7d9" has timed out progressing.',
    }
    run, _, _ = rolling(tmp_path, [deployment("9e1f07aa", updated=1, available=0, conditions=[stalled])], CONNECT_WAIT_SECONDS="60")
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "FATAL: the server's deployments/small stopped rolling out (0 of 1 updated pods available): "
        'ReplicaSet "small-7d9" has timed out progressing.'
    )
    # The verdict of an earlier template's rollout is not this one's: it waits for the new template.
    (tmp_path / "earlier").mkdir()
    earlier = deployment("5c3b2d10", generation=1, observed=1, updated=0, available=0, conditions=[stalled])
    run, requests, _ = rolling(tmp_path / "earlier", [earlier, deployment("9e1f07aa")], CONNECT_WAIT_SECONDS="60")
    assert run.returncode == 0, run.stdout + run.stderr
    assert [r[1] for r in requests] == ["/v1/models", "/v1/completions"]


def test_a_workload_not_there_yet_or_refused_is_waited_for_and_named(tmp_path):
    """Created beside the workload and its Role: a 404 or 403 first is waited out; one that stays is named."""
    run, _, _ = rolling(tmp_path, [404, 403, deployment("9e1f07aa")], CONNECT_WAIT_SECONDS="60")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"waiting for deployments/small: GET {DEPLOYMENT} answered 404: " in run.stdout
    assert f"waiting for deployments/small: GET {DEPLOYMENT} answered 403: " in run.stdout
    (tmp_path / "refused").mkdir()
    run, _, _ = rolling(tmp_path / "refused", [403], CONNECT_WAIT_SECONDS="3")
    assert run.returncode == 1
    assert f"after 3 s (CONNECT_WAIT_SECONDS): GET {DEPLOYMENT} answered 403: " in run.stderr


def test_a_statefulset_is_rolled_out_when_every_pod_is_ready_at_the_update_revision():
    sys.path.insert(0, str(SCRIPT.parent))
    import smoke_check

    def statefulset(ready, current, update, updated=1):
        metadata = {"generation": 3, "annotations": {"llm-serving.io/pod-template-digest": "9e1f07aa"}}
        status = {"observedGeneration": 3, "readyReplicas": ready, "currentRevision": current, "updateRevision": update, "updatedReplicas": updated}
        return {"kind": "StatefulSet", "metadata": metadata, "spec": {"replicas": 2}, "status": status}

    assert smoke_check.rollout_progress(statefulset(1, "small-a", "small-b"), "9e1f07aa") == "1 of 2 pods Ready"
    assert smoke_check.rollout_progress(statefulset(2, "small-a", "small-b"), "9e1f07aa") == "1 of 2 pods at revision small-b"
    assert smoke_check.rollout_progress(statefulset(2, "small-b", "small-b", 2), "9e1f07aa") is None
    assert (
        smoke_check.rollout_progress(statefulset(2, "small-b", "small-b", 2), "5c3b2d10") == "it carries pod template '9e1f07aa', not yet '5c3b2d10'"
    )
