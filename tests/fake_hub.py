"""A local stand-in for the Hugging Face Hub on 127.0.0.1, serving the parts of its HTTP API that
model downloads use: the repository's file list with sizes and checksums, and file downloads
with Range requests and the headers huggingface_hub reads.

Tests can make it misbehave: drop the connection after some bytes, hold a response until a test
lets it go, serve bytes other than those the checksum describes, or answer with an HTTP error;
and, as a hostile server would: announce a wrong Content-Length, stream without a length and
without end, drip one byte at a time, redirect in a loop or to another server, or send a
compressed body nobody asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
LFS_SUFFIXES = (".safetensors", ".bin", ".onnx")


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def gzip_bomb(expands_to: int) -> bytes:
    """A gzip body of a few hundred kB that expands to ``expands_to`` zero bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    body = [packer.compress(zeros) for _ in range(expands_to >> 20)]
    return b"".join(body) + packer.flush()


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
        self.content_length: dict[str, int] = {}  # file name -> Content-Length to announce (a lie)
        self.endless: set[str] = set()  # chunked, no length, and junk after the file until the client goes
        self.chunked: set[str] = set()  # chunked, no length (an honest stream)
        self.drip: dict[str, tuple[int, float]] = {}  # file name -> (bytes sent at once, seconds per byte after)
        self.redirect: dict[str, str] = {}  # file name -> Location ("loop": to itself)
        self.gzip_bomb: dict[str, bytes] = {}  # file name -> a gzip body (Content-Encoding: gzip) sent instead
        self.api_drip: float | None = None  # seconds per byte of the file list
        self.api_endless = False  # a file list that never ends
        self.api_body: bytes | None = None  # a file list answered with these bytes as they are
        self.endless_bytes = 64 << 20  # junk an endless stream sends at most (it stops when the client goes)
        self.range_from_zero: set[str] = set()  # answer a Range request with 206 but the bytes from 0
        self.error_endless = False  # with ``status``: an error page without end
        # "api" or a file name -> seconds per byte of the response's status line and headers,
        # which never end (a hub that keeps the client waiting before the body)
        self.header_drip: dict[str, float] = {}
        self.header_close: set[str] = set()  # "api" or a file name: close the connection mid-header
        self.header_flood: set[str] = set()  # "api" or a file name: one header line of many megabytes
        self.sent: dict[str, int] = {}  # body bytes written per file name (until the client went)
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
        # A short poll: stop() (shutdown) waits for the serving loop to look up, 0.5 s by default.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_folder(self, repo: str, folder: Path, **kw) -> Repo:
        files = {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}
        self.repos[repo] = Repo(files, **kw)
        return self.repos[repo]

    def release(self) -> None:
        self.release_event.set()

    def start(self) -> FakeHub:
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
            return self._error(h, self.status, body)
        key = "api" if _API.match(path) else path.rsplit("/", 1)[-1]
        if key in self.header_drip or key in self.header_close or key in self.header_flood:
            return self._bad_headers(h, key)
        if m := _API.match(path):
            return self._api(h, m["repo"], url.query, body)
        if m := _RESOLVE.match(path):
            return self._resolve(h, m["repo"], m["file"], body)
        return self._send(h, 404, b"not found", body)

    def _error(self, h: BaseHTTPRequestHandler, status: int, body: bool) -> None:
        """An error page, or with ``error_endless`` one that never ends."""
        if not self.error_endless:
            return self._send(h, status, b'{"error": "unavailable"}', body)
        h.send_response(status)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for _ in range(self.endless_bytes >> 16):
                h.wfile.write(b"10000\r\n" + b"e" * (1 << 16) + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    def _api(self, h: BaseHTTPRequestHandler, name: str, query: str, body: bool) -> None:
        """The repository's file list."""
        repo = self.repos.get(name)
        if repo is None:
            return self._send(h, 404, b'{"error": "Repository not found"}', body,
                              {"X-Error-Code": "RepoNotFound"})
        if self.api_drip is not None or self.api_endless:
            return self._stream(h, b'{"id": "' + b" " * 100_000, self.api_drip, "api",
                                junk_after=self.endless_bytes if self.api_endless else 0)
        if self.api_body is not None:
            return self._send(h, 200, self.api_body, body, {"Content-Type": "application/json"})
        blobs = parse_qs(query).get("blobs") == ["True"] or parse_qs(query).get("blobs") == ["true"]
        return self._send(h, 200, json.dumps(self._info(name, repo, blobs)).encode(), body,
                          {"Content-Type": "application/json"})

    def _resolve(self, h: BaseHTTPRequestHandler, name: str, fname: str, body: bool) -> None:
        """A file of the repository, or what stands in its place."""
        repo = self.repos.get(name)
        if repo is None:
            return self._send(h, 404, b"Repository not found", body, {"X-Error-Code": "RepoNotFound"})
        if fname not in repo.files:
            return self._send(h, 404, b"Entry not found", body,
                              {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit})
        if target := self.redirect.get(fname):
            location = h.path if target == "loop" else target
            return self._send(h, 302, b"", body, {"Location": location})
        return self._file(h, repo, fname, body)

    def _bad_headers(self, h: BaseHTTPRequestHandler, key: str) -> None:
        """A status line and headers sent one byte at a time without end, cut in the middle,
        or one header line of 64 MB."""
        start = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: "
        try:
            if key in self.header_close:
                h.wfile.write(start)
                h.wfile.flush()
            elif key in self.header_flood:
                h.wfile.write(start)
                for _ in range(1024):
                    h.wfile.write(b"a" * (64 << 10))
            else:
                per_byte = self.header_drip[key]
                for i in range(len(start)):
                    h.wfile.write(start[i:i + 1])
                    h.wfile.flush()
                    if self.release_event.wait(per_byte):
                        break
                while not self.release_event.wait(per_byte):
                    h.wfile.write(b"a")
                    h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    def _stream(self, h: BaseHTTPRequestHandler, data: bytes, per_byte: float | None, name: str,
                headers: dict[str, str] | None = None, junk_after: int = 0) -> None:
        """Send ``data`` chunked and without a length (a byte every ``per_byte`` seconds when
        given), then ``junk_after`` zero bytes, until all is sent or the client hangs up."""
        h.send_response(200)
        for k, v in {**(headers or {}), "Transfer-Encoding": "chunked"}.items():
            h.send_header(k, v)
        h.end_headers()
        step = 1 if per_byte is not None else 1 << 16

        def pieces():
            for i in range(0, len(data), step):
                yield data[i:i + step]
            zeros = b"\0" * step
            for _ in range(junk_after // step):
                yield zeros

        try:
            for piece in pieces():
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                h.wfile.flush()
                self.sent[name] = self.sent.get(name, 0) + len(piece)
                if per_byte is not None and self.release_event.wait(per_byte):
                    break
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

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
        status, start = 200, 0
        if rng := h.headers.get("Range"):
            m = re.match(r"bytes=(\d+)-$", rng)
            start = int(m[1]) if m else 0
            if start >= len(served):
                headers["Content-Range"] = f"bytes */{len(served)}"
                return self._send(h, 416, b"", body, headers)
            status = 206
            if fname in self.range_from_zero:
                start = 0
            headers["Content-Range"] = f"bytes {start}-{len(served) - 1}/{len(served)}"
        payload = served[start:]
        if not (body and self._sent_oddly(h, fname, status, headers, payload)):
            self._send_file(h, fname, status, headers, payload, body)

    def _sent_oddly(self, h: BaseHTTPRequestHandler, fname: str, status: int, headers: dict[str, str],
                    payload: bytes) -> bool:
        """Whether the file's body went out another way than with its length: endless, chunked,
        dripped or as a gzip bomb."""
        if fname in self.endless:
            self._stream(h, payload, None, fname, headers, junk_after=self.endless_bytes)
        elif fname in self.chunked:
            self._stream(h, payload, None, fname, headers)
        elif fname in self.drip:
            self._drip(h, status, {**headers, "Content-Length": str(len(payload))}, payload, *self.drip[fname])
        elif fname in self.gzip_bomb:
            self._send(h, status, self.gzip_bomb[fname], True, {**headers, "Content-Encoding": "gzip"})
        else:
            return False
        return True

    def _drip(self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes,
              at_once: int, per_byte: float) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        try:
            h.wfile.write(payload[:at_once])
            h.wfile.flush()
            for i in range(at_once, len(payload)):
                if self.release_event.wait(per_byte):
                    break
                h.wfile.write(payload[i:i + 1])
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    def _send_file(self, h: BaseHTTPRequestHandler, fname: str, status: int, headers: dict[str, str],
                   payload: bytes, body: bool) -> None:
        """The file with its length (or the length a test has it lie about), cut or held when a
        test asks."""
        h.send_response(status)
        length = self.content_length.get(fname, len(payload))
        for k, v in {**headers, "Content-Length": str(length)}.items():
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
            self.sent[fname] = self.sent.get(fname, 0) + len(payload)
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
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                h.wfile.write(data)
