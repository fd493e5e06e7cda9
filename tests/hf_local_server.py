"""A small Hugging Face hub-compatible HTTP server on 127.0.0.1, for tests.

It serves dataset repos from memory with exactly the endpoints the installed
huggingface_hub client (2.x) calls for what harness.data.fetch uses (read from
its source: hf_api.dataset_info, hf_api.get_paths_info, file_download):

* ``GET  /api/datasets/<org>/<name>/revision/<rev>``  -> repo info with ``sha``
* ``POST /api/datasets/<org>/<name>/paths-info/<rev>`` -> file sizes, blob ids, LFS sha256
* ``HEAD|GET /datasets/<org>/<name>/resolve/<rev>/<path>`` with ``X-Repo-Commit``,
  ``ETag``, ``Content-Length``, ``Accept-Ranges`` and ``Range`` -> 206 support.

Like the real hub, LFS files (the ``.bin`` shards) are not served by the hub
itself: ``resolve`` answers ``302`` with ``X-Linked-Size``/``X-Linked-Etag`` and a
``Location`` on a second server (another port, i.e. another origin: the "CDN"),
which serves the bytes. The client must not send the token there.

Why our own and not ``olah`` (PyPI): olah is a caching proxy in front of a real
upstream hub; serving a purely local repo offline is not what it is built for,
and it would add a heavy dependency. This server is ~150 lines of stdlib and lets
tests inject faults: drop the connection mid-file once (the client must resume
with a Range request), answer 500 once, or serve corrupted bytes.

Every request is recorded (method, path, headers) so tests can assert what the
client sent, e.g. the ``Authorization`` header built from HF_TOKEN.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


@dataclass
class Repo:
    repo_id: str
    files: dict[str, bytes]
    branch: str = "main"
    sha: str = ""

    def __post_init__(self):
        if not self.sha:  # a deterministic "commit" over the content
            h = hashlib.sha1()
            for k in sorted(self.files):
                h.update(k.encode() + b"\0" + hashlib.sha256(self.files[k]).digest())
            self.sha = h.hexdigest()

    def resolve(self, rev: str) -> bool:
        return rev in (self.branch, self.sha)


@dataclass
class Faults:
    drop_once: set[str] = field(default_factory=set)  # paths: close the socket mid-body on the first full GET
    drop_fraction: float = 0.65  # how much of the body is sent before the drop
    error_once: set[str] = field(default_factory=set)  # paths: answer 500 once
    corrupt: set[str] = field(default_factory=set)  # paths: serve one flipped byte (LFS sha256 then disagrees)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased (HTTP header names are case-insensitive)
    server: str = "hub"  # "hub" or "cdn"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class HubServer:
    def __init__(self, repos: list[Repo], cdn: bool = True):
        self.repos = {r.repo_id: r for r in repos}
        self.faults = Faults()
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("hub"))
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("cdn")) if cdn else None
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self.httpd, self.cdn) if s]
        for srv in (self.httpd, self.cdn):
            if srv is not None:
                srv.daemon_threads = True

    def _handler(self, role: str):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _record(self):
                with server.lock:
                    server.requests.append(Request(self.command, self.path,
                                                   {k.lower(): v for k, v in self.headers.items()}, role))

            def _json(self, obj, status=200):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status, msg):
                body = json.dumps({"error": msg}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 404:
                    self.send_header("X-Error-Code", "EntryNotFound" if "file" in msg else "RepoNotFound")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                self._record()
                if role == "cdn":
                    server._cdn(self)
                else:
                    server._route(self)

            do_HEAD = do_GET

            def do_POST(self):
                self._record()
                server._route(self)

        return Handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def __enter__(self) -> "HubServer":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        for srv in (self.httpd, self.cdn):
            if srv is not None:
                srv.shutdown()
                srv.server_close()

    # --- routing -----------------------------------------------------------------------------
    _INFO = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/?]+)$")
    _PATHS = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/paths-info/(?P<rev>[^/?]+)$")
    _RESOLVE = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")

    def _route(self, h) -> None:
        url = urlparse(h.path)
        path = unquote(url.path)
        for rx, fn in ((self._INFO, self._info), (self._PATHS, self._paths), (self._RESOLVE, self._resolve)):
            m = rx.match(path)
            if m:
                repo = self.repos.get(m.group("repo"))
                if repo is None:
                    return h._error(404, "Repository not found")
                if not repo.resolve(m.group("rev")):
                    h.send_response(404)
                    h.send_header("X-Error-Code", "RevisionNotFound")
                    h.send_header("Content-Length", "0")
                    h.end_headers()
                    return
                return fn(h, repo, m)
        h._error(404, "no such endpoint")

    def _info(self, h, repo: Repo, m) -> None:
        h._json({"id": repo.repo_id, "sha": repo.sha, "private": False,
                 "siblings": [{"rfilename": k} for k in sorted(repo.files)]})

    def _paths(self, h, repo: Repo, m) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        form = parse_qs(h.rfile.read(length).decode())
        out = []
        for p in form.get("paths", []):
            if p in repo.files:
                data = repo.files[p]
                out.append({"type": "file", "path": p, "size": len(data),
                            "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
                            "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}})
        h._json(out)

    def _resolve(self, h, repo: Repo, m) -> None:
        rel = m.group("path")
        if rel not in repo.files:
            return h._error(404, "file not found")
        data = repo.files[rel]
        oid = hashlib.sha256(data).hexdigest()
        if self.cdn is not None and rel.endswith(".bin"):  # an LFS file: redirect to the CDN
            h.send_response(302)
            h.send_header("X-Repo-Commit", repo.sha)
            h.send_header("X-Linked-Etag", f'"{oid}"')
            h.send_header("X-Linked-Size", str(len(data)))
            h.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
            h.send_header("Location", f"{self.cdn_url}/cdn/{oid}/{repo.repo_id}/{rel}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        self._send_bytes(h, rel, data, {"X-Repo-Commit": repo.sha, "ETag": f'"{oid}"'})

    def _cdn(self, h) -> None:
        mm = re.match(r"^/cdn/(?P<oid>[0-9a-f]{64})/(?P<repo>[^/]+/[^/]+)/(?P<path>.+)$", unquote(urlparse(h.path).path))
        repo = self.repos.get(mm.group("repo")) if mm else None
        data = repo.files.get(mm.group("path")) if repo else None
        if data is None or hashlib.sha256(data).hexdigest() != mm.group("oid"):
            return h._error(404, "no such blob")
        self._send_bytes(h, mm.group("path"), data, {"ETag": f'"{mm.group("oid")}"'})

    def _send_bytes(self, h, rel: str, data: bytes, extra: dict[str, str]) -> None:
        with self.lock:
            if h.command == "GET" and rel in self.faults.error_once:
                self.faults.error_once.discard(rel)
                return h._error(500, "injected server error")
        if rel in self.faults.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        rng = h.headers.get("Range")
        if rng:
            mm = re.match(r"bytes=(\d+)-$", rng.strip())
            if not mm:
                return h._error(416, "unsupported range")
            start = int(mm.group(1))
        body = data[start:]
        h.send_response(206 if rng else 200)
        for k, v in extra.items():
            h.send_header(k, v)
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        if rng:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.end_headers()
        if h.command == "HEAD":
            return
        drop = False
        with self.lock:
            if not rng and rel in self.faults.drop_once:
                self.faults.drop_once.discard(rel)
                drop = True
        if drop:  # part of the body, then a hard close: the client sees an incomplete message
            h.wfile.write(body[: int(len(body) * self.faults.drop_fraction)])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)
            return
        h.wfile.write(body)

    # --- assertions helpers -------------------------------------------------------------------
    def gets(self, suffix: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and unquote(r.path).endswith(suffix)]
