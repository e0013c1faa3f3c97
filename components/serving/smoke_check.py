"""Smoke check after deploy (python image): the model's server, once Ready, must list its served
model name on /v1/models and answer a 1-token completion. Any other answer fails the Job (and so the
`pulumi up` that waits for it) with the status and the response body, also written to the pod's
termination message.

Before the completion it waits until the server reports the model this revision serves (vLLM's
/v1/models `root`, SGLang's /model_info `model_path`): Pulumi can see a Deployment's previous, still
Ready pods as the rollout's and create the Job before the new revision answers (seen on a real node),
so only the server itself can say which revision answers.

Usage: smoke_check.py BASE_URL MODEL_NAME   (BASE_URL ends in /v1)
Environment: SERVER_API_KEY, the server's API key when it requires one (sent as a Bearer token);
CONNECT_WAIT_SECONDS, how long the Service may refuse connections or answer with the previous revision
(default 60: Pulumi creates the Job once the server is Ready; applied without that ordering, the
program passes the server's whole budget); EXPECTED_MODEL, SERVED_MODEL_URL and SERVED_MODEL_FIELD,
the model path, URI or repo the server must report, where and under which field (all three or none).
"""

import json
import os
import sys
import time
import urllib.error
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
        time.sleep(2)
        reported = reported_model(url, name, field)


def main(base, name):
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
