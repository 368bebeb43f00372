"""A local stand-in for the Hugging Face Hub on 127.0.0.1, serving the parts of its HTTP API that
model downloads use: the repository's file list with sizes and checksums, and file downloads
with Range requests and the headers huggingface_hub reads.

Tests can make it misbehave: drop the connection after some bytes, hold a response until a test
lets it go, serve bytes other than those the checksum describes, or answer with an HTTP error.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
LFS_SUFFIXES = (".safetensors", ".bin", ".onnx")


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    licence: str = "mit"
    served: dict[str, bytes] = field(default_factory=dict)  # bytes sent instead of files[name]


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range header
        self.drop_after: dict[str, int] = {}  # file name -> close the connection after so many body bytes
        self.drop_count: dict[str, int] = {}  # how many responses to cut (default: every one)
        self.hold_after: dict[str, int] = {}  # file name -> stop after so many bytes until release()
        self.status: int | None = None  # answer every request with this HTTP status
        self.release_event = threading.Event()
        self.held = threading.Event()  # set once a response is being held
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                hub._handle(self, body=False)

            def do_GET(self):
                hub._handle(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_folder(self, repo: str, folder: Path, **kw) -> Repo:
        files = {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}
        self.repos[repo] = Repo(files, **kw)
        return self.repos[repo]

    def release(self) -> None:
        self.release_event.set()

    def start(self) -> "FakeHub":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release_event.set()
        self.server.shutdown()
        self.server.server_close()

    def ranges(self, name: str) -> list[str | None]:
        """The Range headers of the GET requests for ``name``, in order."""
        return [r for m, p, r in self.requests if m == "GET" and p.endswith("/" + name)]

    # --- serving --------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        url = urlsplit(h.path)
        path = unquote(url.path)
        self.requests.append((h.command, path, h.headers.get("Range")))
        if self.status is not None:
            return self._send(h, self.status, b'{"error": "unavailable"}', body)
        if m := _API.match(path):
            repo = self.repos.get(m["repo"])
            if repo is None:
                return self._send(h, 404, b'{"error": "Repository not found"}', body,
                                  {"X-Error-Code": "RepoNotFound"})
            blobs = parse_qs(url.query).get("blobs") == ["True"] or parse_qs(url.query).get("blobs") == ["true"]
            return self._send(h, 200, json.dumps(self._info(m["repo"], repo, blobs)).encode(), body,
                              {"Content-Type": "application/json"})
        if m := _RESOLVE.match(path):
            repo = self.repos.get(m["repo"])
            if repo is None:
                return self._send(h, 404, b"Repository not found", body, {"X-Error-Code": "RepoNotFound"})
            if m["file"] not in repo.files:
                return self._send(h, 404, b"Entry not found", body,
                                  {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit})
            return self._file(h, repo, m["file"], body)
        return self._send(h, 404, b"not found", body)

    def _info(self, name: str, repo: Repo, blobs: bool) -> dict:
        siblings = []
        for fname, data in repo.files.items():
            entry = {"rfilename": fname}
            if blobs:
                entry.update(size=len(data), blobId=git_oid(data))
                if fname.endswith(LFS_SUFFIXES):
                    entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                                    "pointerSize": 134}
            siblings.append(entry)
        return {"id": name, "modelId": name, "sha": repo.commit, "private": False, "gated": False,
                "disabled": False, "tags": ["gpt2"], "cardData": {"license": repo.licence},
                "siblings": siblings}

    def _file(self, h: BaseHTTPRequestHandler, repo: Repo, fname: str, body: bool) -> None:
        data = repo.files[fname]
        served = repo.served.get(fname, data)
        lfs = fname.endswith(LFS_SUFFIXES)
        etag = hashlib.sha256(data).hexdigest() if lfs else git_oid(data)
        headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        start = 0
        status = 200
        if rng := h.headers.get("Range"):
            m = re.match(r"bytes=(\d+)-$", rng)
            start = int(m[1]) if m else 0
            if start >= len(served):
                headers["Content-Range"] = f"bytes */{len(served)}"
                return self._send(h, 416, b"", body, headers)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(served) - 1}/{len(served)}"
        payload = served[start:]
        h.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(payload))}.items():
            h.send_header(k, v)
        h.end_headers()
        if not body:
            return
        cut = self.drop_after.get(fname)
        left = self.drop_count.get(fname)
        if cut is not None and (left is None or left > 0):
            if left is not None:
                self.drop_count[fname] = left - 1
            h.wfile.write(payload[:cut])
            h.wfile.flush()
            h.close_connection = True
            return
        hold = self.hold_after.get(fname)
        if hold is not None and not self.release_event.is_set():
            h.wfile.write(payload[:hold])
            h.wfile.flush()
            self.held.set()
            self.release_event.wait(60)
            payload = payload[hold:]
        try:
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, body: bool,
              headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        for k, v in {**(headers or {}), "Content-Length": str(len(data))}.items():
            h.send_header(k, v)
        h.end_headers()
        if body:
            h.wfile.write(data)
