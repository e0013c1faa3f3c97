"""Smoke check after deploy (python image): the model's server, once Ready, must list its served
model name on /v1/models and answer a 1-token completion. Any other answer fails the Job (and so the
`pulumi up` that waits for it) with the status and the response body, also written to the pod's
termination message.

Usage: smoke_check.py BASE_URL MODEL_NAME   (BASE_URL ends in /v1)
Environment: SERVER_API_KEY, the server's API key when it requires one (sent as a Bearer token);
CONNECT_WAIT_SECONDS, how long the Service may refuse connections (default 60: Pulumi creates the Job
once the server is Ready; applied without that ordering, the program passes the server's whole budget).
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


def main(base, name):
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
