"""Smoke check after deploy (python image): the model's server, once Ready, must list its served
model name on /v1/models and answer a 1-token completion. Any other answer fails the Job (and so the
`pulumi up` that waits for it) with the status and the response body, also written to the pod's
termination message.

Before it calls the server, it waits until the server's Deployment or StatefulSet (SERVER_WORKLOAD)
carries this `up`'s pod template (its POD_TEMPLATE_DIGEST annotation) and has rolled it out, as
`kubectl rollout status` judges it: the Job starts beside Pulumi's update of the workload, and the
previous template's pods, Ready and serving the same revision, would otherwise answer for the new
one (seen on a real node, where the provider's own await also called such a rollout done). Then it
waits until the server reports the model this revision serves (vLLM's /v1/models `root`, SGLang's
/model_info `model_path`), which is all it has for a LeaderWorkerSet or a Dynamo graph.

While it waits, it watches the server's pods through the API server (SERVER_POD_SELECTOR): a pod the
scheduler cannot place for UNSCHEDULABLE_SECONDS fails the check with the scheduler's reason and what
the pod requests; a container or init step (the cache's fill or object check) that failed twice fails
it with its termination message; a pod not Ready READY_SECONDS after the watch first saw it (the
server's own await) fails it with its containers' states. Pulumi's await of a Deployment reports its
pods' main containers only, so without this such a server ends `pulumi up` with a bare timeout or
"incomplete status"; and the check never outwaits the server's await, which `pulumi up` waits for.

Usage: smoke_check.py BASE_URL MODEL_NAME   (BASE_URL ends in /v1)
Environment: SERVER_API_KEY, the server's API key when it requires one (sent as a Bearer token);
CONNECT_WAIT_SECONDS, how long the Service may refuse connections or answer with the previous revision
(default 60: Pulumi creates the Job once the server is Ready; applied without that ordering, the
program passes the server's whole budget); EXPECTED_MODEL, SERVED_MODEL_URL and SERVED_MODEL_FIELD,
the model path, URI or repo the server must report, where and under which field (all three or none);
SERVER_POD_SELECTOR, UNSCHEDULABLE_SECONDS, READY_SECONDS, POD_NAMESPACE and CONFIG_PATH, the server
pods' label selector, how long one may stay unschedulable and not Ready, their namespace and the
model's config key (the watch is off without a selector); SERVER_WORKLOAD and POD_TEMPLATE_DIGEST,
the workload (`deployments/NAME` or `statefulsets/NAME`) and the template it must roll out (both or
none); the pod's service account token and CA (SERVICEACCOUNT_DIR, default the
kubelet's mount) and KUBERNETES_SERVICE_HOST/PORT reach the API server.
"""

import datetime
import email.utils
import json
import os
import pathlib
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

CONNECT_RETRY_SECONDS = float(os.environ.get("CONNECT_WAIT_SECONDS", "60"))
COMPLETION_TIMEOUT_SECONDS = 300
TERMINATION_LOG = "/dev/termination-log"


def fail(message):
    try:
        with open(TERMINATION_LOG, "w") as log:
            log.write(message[:4000])
    except OSError:
        pass  # not in a pod
    sys.exit(f"FATAL: {message}")


class ServerPodWatch:
    """The server's pods as the API server has them, looked at every few seconds while the check
    waits. Times are the API server's (its Date header against the pods' condition transitions), so
    neither this pod's start nor a retry of the Job resets them."""

    def __init__(self, env):
        self.selector = env.get("SERVER_POD_SELECTOR")
        self.unschedulable_grace = float(env.get("UNSCHEDULABLE_SECONDS") or 0)
        self.ready_grace = float(env.get("READY_SECONDS") or 0)
        self.namespace = env.get("POD_NAMESPACE", "")
        self.config_path = env.get("CONFIG_PATH", "the model's config")
        self.account = pathlib.Path(env.get("SERVICEACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount"))
        host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "443")
        self.api = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        self.next_look = 0.0
        self.unseen = False

    def get(self, path):
        """GET `path` of the API server with the pod's token: (the object, the API server's time).
        Raises OSError (HTTPError for an answer other than 2xx), ValueError, KeyError or TypeError."""
        request = urllib.request.Request(f"{self.api}{path}", headers={"Authorization": f"Bearer {(self.account / 'token').read_text().strip()}"})
        context = ssl.create_default_context(cafile=str(self.account / "ca.crt"))
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            now = email.utils.parsedate_to_datetime(response.headers["Date"])
            return json.loads(response.read()), now

    def pods(self):
        """The server pods and the API server's time, or None (said once) when it cannot be asked."""
        query = urllib.parse.urlencode({"labelSelector": self.selector})
        try:
            pods, now = self.get(f"/api/v1/namespaces/{self.namespace}/pods?{query}")
            return pods["items"], now
        except (OSError, ValueError, KeyError, TypeError) as error:
            if not self.unseen:
                print(f"not watching the server pods: {error}", flush=True)
                self.unseen = True
            return None

    def look(self):
        if not self.selector or time.monotonic() < self.next_look:
            return
        self.next_look = time.monotonic() + 5
        answer = self.pods()
        for pod in answer[0] if answer else []:
            if not pod["metadata"].get("deletionTimestamp"):
                self.check(pod, answer[1])

    def check(self, pod, now):
        """Fails naming what keeps `pod` from serving: the scheduler, a container failing, or its await run out."""
        name = pod["metadata"]["name"]
        conditions = {c.get("type"): c for c in pod.get("status", {}).get("conditions", [])}

        def since(condition):
            return (now - timestamp(condition.get("lastTransitionTime") or pod["metadata"]["creationTimestamp"])).total_seconds()

        scheduled = conditions.get("PodScheduled", {})
        if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
            waited = since(scheduled)
            if waited >= self.unschedulable_grace:
                fail(
                    f"the server pod {name} cannot be scheduled ({waited:.0f} s, UNSCHEDULABLE_SECONDS {self.unschedulable_grace:.0f}): "
                    f"{scheduled.get('message', '').strip()} It requests {requests(pod)}: a node must offer that, "
                    f"so lower {self.config_path}.memory, .cpu or .gpus, or add a node that fits its placement (nodeSelector, tolerations)"
                )
            return
        status = pod.get("status", {})
        for kind, statuses in (("init step", status.get("initContainerStatuses", [])), ("container", status.get("containerStatuses", []))):
            for container in statuses:
                ended = container.get("lastState", {}).get("terminated") or container.get("state", {}).get("terminated") or {}
                if container.get("restartCount", 0) >= 2 and ended.get("exitCode", 0) != 0:
                    words = (ended.get("message") or ended.get("reason") or "").strip()
                    fail(
                        f"the server pod {name}: its {kind} {container['name']} failed {container['restartCount']} times "
                        f"(exit code {ended['exitCode']}): {words}"
                    )
        ready = conditions.get("Ready", {})
        if self.ready_grace and ready.get("status") != "True":
            waited = since(ready)
            if waited >= self.ready_grace:
                fail(f"the server pod {name} is not Ready after {waited:.0f} s (READY_SECONDS, the server's await): {states(pod)}")


def timestamp(text):
    """An RFC 3339 time as the API server writes it (`2026-12-06T22:40:00Z`)."""
    return datetime.datetime.fromisoformat(text)


def states(pod):
    """Each container's state in a few words: `vllm: waiting (ImagePullBackOff: Back-off pulling image …)`."""
    status = pod.get("status", {})
    words = []
    for container in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
        state = container.get("state", {})
        kind = next(iter(state), "unknown")
        detail = state.get(kind) or {}
        reason = ": ".join(part for part in (detail.get("reason"), detail.get("message")) if part)
        last = container.get("lastState", {}).get("terminated")
        ended = f", last exit {last.get('exitCode')}: {(last.get('message') or last.get('reason') or '').strip()}" if last else ""
        words.append(f"{container['name']}: {kind}{f' ({reason})' if reason else ''}, ready {container.get('ready', False)}{ended}")
    return "; ".join(words) or f"phase {status.get('phase', 'unknown')}, no container started"


def requests(pod):
    """What the pod's containers request in all (limits where a resource has no request, as for GPUs)."""
    total = {}
    for container in pod["spec"].get("containers", []):
        resources = container.get("resources", {})
        for key, value in {**resources.get("limits", {}), **resources.get("requests", {})}.items():
            total.setdefault(key, []).append(value)
    return ", ".join(f"{key}={'+'.join(values)}" for key, values in sorted(total.items())) or "nothing"


WATCH = ServerPodWatch(os.environ)

TEMPLATE_ANNOTATION = "llm-serving.io/pod-template-digest"


def rollout_progress(workload, digest):
    """None once `workload` (a Deployment or StatefulSet as the API server has it) runs the pod
    template `digest` on all its pods, Ready; else what it waits for, in a few words. The rules are
    `kubectl rollout status`'s, after the template of this `up` has been applied and observed."""
    metadata, spec, status = workload["metadata"], workload.get("spec", {}), workload.get("status", {})
    carried = (metadata.get("annotations") or {}).get(TEMPLATE_ANNOTATION)
    if carried != digest:
        return f"it carries pod template {carried!r}, not yet {digest!r}"
    if status.get("observedGeneration", 0) < metadata.get("generation", 0):
        return f"its controller has not yet seen generation {metadata.get('generation')}"
    replicas = spec.get("replicas", 1)
    if workload.get("kind") == "StatefulSet":
        ready = status.get("readyReplicas", 0)
        if ready < replicas:
            return f"{ready} of {replicas} pods Ready"
        if status.get("updateRevision") != status.get("currentRevision"):
            return f"{status.get('updatedReplicas', 0)} of {replicas} pods at revision {status.get('updateRevision')}"
        return None
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    if updated < replicas:
        return f"{updated} of {replicas} pods updated"
    if status.get("replicas", 0) > updated:
        return f"{status['replicas'] - updated} old pods still running"
    if available < updated:
        return f"{available} of {updated} updated pods available"
    return None


def progress_deadline(workload, digest):
    """A Deployment's own verdict that the rollout of `digest` stopped progressing (ProgressDeadlineExceeded), or None."""
    metadata, status = workload["metadata"], workload.get("status", {})
    if (metadata.get("annotations") or {}).get(TEMPLATE_ANNOTATION) != digest or status.get("observedGeneration", 0) < metadata.get("generation", 0):
        return None  # the verdict would be on an earlier template's rollout
    for condition in status.get("conditions", []):
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return condition.get("message", "ProgressDeadlineExceeded")
    return None


def wait_for_rollout(env):
    """Waits until the server's workload (SERVER_WORKLOAD, `deployments/NAME` or `statefulsets/NAME`)
    has rolled out the pod template POD_TEMPLATE_DIGEST: the check starts beside Pulumi's update of
    it, and pods of the previous template (the same revision, another image or flag) still answer
    until they are replaced. Meanwhile the watch says why a new pod does not come up."""
    target, digest = env.get("SERVER_WORKLOAD"), env.get("POD_TEMPLATE_DIGEST")
    if not target or not digest:
        return
    resource, name = target.split("/", 1)
    path = f"/apis/apps/v1/namespaces/{WATCH.namespace}/{resource}/{name}"
    deadline = time.monotonic() + CONNECT_RETRY_SECONDS
    said = None
    while True:
        try:
            workload, _ = WATCH.get(path)
            waiting = rollout_progress(workload, digest)
            stalled = progress_deadline(workload, digest) if waiting else None
            if stalled:
                fail(f"the server's {target} stopped rolling out ({waiting}): {stalled}")
        except urllib.error.HTTPError as error:
            waiting = f"GET {path} answered {error.code}: {error.read().decode(errors='replace')[:300]}"
        except (OSError, ValueError, KeyError, TypeError) as error:
            waiting = f"the API server at {WATCH.api} cannot be asked: {error}"
        if waiting is None:
            print(f"{target} has rolled out pod template {digest}", flush=True)
            return
        if time.monotonic() > deadline:
            fail(
                f"the server's {target} has not rolled out pod template {digest} after {CONNECT_RETRY_SECONDS:.0f} s (CONNECT_WAIT_SECONDS): {waiting}"
            )
        if waiting != said:
            print(f"waiting for {target}: {waiting}", flush=True)
            said = waiting
        WATCH.look()
        time.sleep(2)


def call(method, url, body=None, timeout=30):
    """Returns (status, text); retries only while the Service does not accept connections yet."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if os.environ.get("SERVER_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['SERVER_API_KEY']}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    deadline = time.monotonic() + CONNECT_RETRY_SECONDS
    while True:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")
        except (urllib.error.URLError, ConnectionError) as error:
            if time.monotonic() > deadline:
                fail(f"{method} {url}: no answer for {CONNECT_RETRY_SECONDS:.0f} s (CONNECT_WAIT_SECONDS; {getattr(error, 'reason', error)})")
            WATCH.look()
            time.sleep(2)


def parsed(method, url, text):
    try:
        return json.loads(text)
    except ValueError:
        fail(f"{method} {url} answered 200 with a body that is not JSON: {text}")


def reported_model(url, name, field):
    """The field the server reports for the loaded model: in the `data` entry of `name` (an OpenAI model
    list) or at the top level (SGLang's /model_info)."""
    status, text = call("GET", url)
    if status != 200:
        fail(f"GET {url} answered {status}: {text}")
    answer = parsed("GET", url, text)
    if isinstance(answer.get("data"), list):
        answer = next((m for m in answer["data"] if m.get("id") == name), {})
    return answer.get(field)


def wait_for_served_model(name):
    expected, url, field = (os.environ.get(k) for k in ("EXPECTED_MODEL", "SERVED_MODEL_URL", "SERVED_MODEL_FIELD"))
    if not expected:
        return
    deadline = time.monotonic() + CONNECT_RETRY_SECONDS
    reported = reported_model(url, name, field)
    if reported != expected:
        print(f"{url} reports {field} {reported!r}; waiting for {expected!r} (the previous revision's pods still answer)", flush=True)
    while reported != expected:
        if time.monotonic() > deadline:
            fail(
                f"{url} still reports {field} {reported!r} after {CONNECT_RETRY_SECONDS:.0f} s (CONNECT_WAIT_SECONDS), not {expected!r}: the new revision does not answer"
            )
        WATCH.look()
        time.sleep(2)
        reported = reported_model(url, name, field)


def main(base, name):
    wait_for_rollout(os.environ)
    wait_for_served_model(name)
    models_url = f"{base}/models"
    status, text = call("GET", models_url)
    if status != 200:
        fail(f"GET {models_url} answered {status}: {text}")
    served = [m.get("id") for m in parsed("GET", models_url, text).get("data", [])]
    if name not in served:
        fail(f"GET {models_url} lists {served}, not the served model name {name!r}: {text}")

    completions_url = f"{base}/completions"
    body = {"model": name, "prompt": "Hello", "max_tokens": 1, "temperature": 0}
    status, text = call("POST", completions_url, body, timeout=COMPLETION_TIMEOUT_SECONDS)
    if status != 200:
        fail(f"POST {completions_url} answered {status}: {text}")
    choices = parsed("POST", completions_url, text).get("choices") or []
    if not choices or not isinstance(choices[0].get("text"), str):
        fail(f"POST {completions_url} answered 200 without a completion: {text}")
    print(f"{name} answers at {base}: listed on /v1/models, completion {choices[0]['text']!r}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: smoke_check.py BASE_URL MODEL_NAME")
    main(sys.argv[1].rstrip("/"), sys.argv[2])
