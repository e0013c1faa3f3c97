"""A local stand-in for the Hugging Face Hub, speaking the part of its HTTP API that huggingface_hub
uses to list and download a model repo: repo info, the recursive tree (with sizes and LFS oids) and
`resolve` (HEAD for metadata, GET for bytes). Serves one repo at one commit from a directory, on
loopback (or, for the node tests, the node IP inside the test cluster's network namespace). Every
request path is recorded, so tests can tell what was fetched.

With a token the repo is gated, as the Hub answers for one: a request without `Authorization: Bearer`
gets 401 with X-Error-Code GatedRepo, one with another token 401 "Invalid credentials in
Authorization header" (what an expired or revoked token gets).

    python3 hub_emulator.py REPO COMMIT DIR HOST PORT [TOKEN]   serves until killed; prints its endpoint
"""

import hashlib
import http.server
import json
import pathlib
import sys
import threading
import urllib.parse


class HubEmulator:
    def __init__(self, repo, commit, root, host="127.0.0.1", port=0, token=None):
        self.repo, self.commit, self.root, self.token = repo, commit, pathlib.Path(root), token
        self.requests = []
        emulator = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                emulator.handle(self, body=False)

            def do_GET(self):
                emulator.handle(self, body=True)

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.endpoint = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def files(self):
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def entry(self, path):
        data = (self.root / path).read_bytes()
        entry = {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": path}
        if path.endswith((".safetensors", ".pth", ".bin")):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    def tree(self, prefix):
        entries, dirs = [], set()
        for path in self.files():
            if prefix and not path.startswith(prefix + "/"):
                continue
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
            entries.append(self.entry(path))
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs) if d.startswith(prefix)]
        return entries

    def send(self, handler, status, headers, payload, body):
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if body:
            handler.wfile.write(payload)

    def refusal(self, authorization):
        """The Hub's 401 headers for a gated repo's request without the token, or with another one; None when allowed."""
        if not self.token or authorization == f"Bearer {self.token}":
            return None
        if authorization:
            return {"X-Error-Message": "Invalid credentials in Authorization header"}
        message = f"Access to model {self.repo} is restricted. You must have access to it and be authenticated to access it. Please log in."
        return {"X-Error-Code": "GatedRepo", "X-Error-Message": message}

    def handle(self, handler, body):
        url = urllib.parse.urlsplit(handler.path)
        path = urllib.parse.unquote(url.path)
        self.requests.append(f"{handler.command} {path}")
        api = f"/api/models/{self.repo}/"
        resolve = f"/{self.repo}/resolve/"
        json_headers = {"Content-Type": "application/json", "X-Repo-Commit": self.commit}
        refusal = self.refusal(handler.headers.get("Authorization"))
        if refusal:
            return self.send(handler, 401, refusal, b'{"error": "%s"}' % refusal["X-Error-Message"].encode(), body)
        if path.startswith(api + "revision/"):
            siblings = [{"rfilename": p, "size": (self.root / p).stat().st_size} for p in self.files()]
            gated = "manual" if self.token else False
            info = {"id": self.repo, "modelId": self.repo, "sha": self.commit, "private": False, "gated": gated, "siblings": siblings}
            return self.send(handler, 200, json_headers, json.dumps(info).encode(), body)
        if path.startswith(api + "tree/"):
            rest = path[len(api + "tree/") :].split("/", 1)
            return self.send(handler, 200, json_headers, json.dumps(self.tree(rest[1] if len(rest) > 1 else "")).encode(), body)
        if path.startswith(resolve):
            revision, _, file = path[len(resolve) :].partition("/")
            if revision not in (self.commit, "main") or not (self.root / file).is_file():
                return self.send(handler, 404, {"X-Error-Code": "EntryNotFound"}, b"not found", body)
            data = (self.root / file).read_bytes()
            entry = self.entry(file)
            etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
            headers = {"X-Repo-Commit": self.commit, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
            if "lfs" in entry:
                headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
            return self.send(handler, 200, headers, data, body)
        return self.send(handler, 404, {}, b"unknown route", body)


if __name__ == "__main__":
    if len(sys.argv) not in (6, 7):
        sys.exit("usage: hub_emulator.py REPO COMMIT DIR HOST PORT [TOKEN]")
    emulator = HubEmulator(*sys.argv[1:5], int(sys.argv[5]), sys.argv[6] if len(sys.argv) == 7 else None)
    print(f"Hugging Face Hub emulator for {emulator.repo}@{emulator.commit} at {emulator.endpoint}", flush=True)
    emulator.server.serve_forever()
