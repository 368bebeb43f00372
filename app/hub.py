"""Downloads of GPT-2 checkpoints from the Hugging Face Hub: resumable, checked, torch-free.

The hub's address is ``HF_ENDPOINT`` (default https://huggingface.co), so a mirror or a local
test server can stand in for it. This is the only code in Inkwell that uses the network, and it
runs only when the user asks for a download (``inkwell models download`` or the Models dialog,
which runs it in a subprocess).

``huggingface_hub`` reads the repository's file list (sizes, sha256 of LFS files, git ids of the
others) and provides the HTTP client and its error types. The bytes are fetched here rather than
with ``hf_hub_download``, because that function (2.x) writes each attempt to a file with a
process-unique name and deletes it on failure, so a download cannot resume after the app is
closed or the process killed; it also does not check the sha256 of what it wrote and reports
progress only through tqdm. Here a partial file ``<name>.<sha256 prefix>.part`` stays in the
download folder and the next attempt continues it with an HTTP Range request; the digest is
computed while the bytes arrive and the file takes its final name only when it matches the hub.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.events import Emit
from core.fileio import parse_json, replace_with
from core.units import human_bytes

DEFAULT_ENDPOINT = "https://huggingface.co"
# The GPT-2 family: short name -> (repository, one-line description).
KNOWN: dict[str, tuple[str, str]] = {
    "distilgpt2": ("distilbert/distilgpt2", "82M parameters, distilled from GPT-2: fastest"),
    "gpt2": ("openai-community/gpt2", "124M parameters: fast on any computer"),
    "gpt2-medium": ("openai-community/gpt2-medium", "355M parameters: better text, still quick"),
    "gpt2-large": ("openai-community/gpt2-large", "774M parameters: needs a fast CPU or a GPU"),
    "gpt2-xl": ("openai-community/gpt2-xl", "1.5B parameters: best text, wants a GPU"),
}
# Which weights file to fetch, in order of preference (safetensors needs no unpickling).
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CHUNK = 1 << 20
RETRIES = 4  # attempts per file after a dropped connection, each resuming where it stopped
BACKOFF_S = 1.0  # wait before the first retry; doubles each time
# A connection that sends nothing for READ_TIMEOUT_S, or fewer than STALL_MIN_BYTES in any
# STALL_WINDOW_S, has stalled: it is dropped (the partial file stays) and tried again. A server
# that sends one byte every 20 s defeats a read timeout alone. Tests make these short.
READ_TIMEOUT_S = 30.0
# The status line and headers of a response (redirects included) must all arrive within this:
# a server that sends its headers one byte every 5 s defeats the read timeout, and the stall
# check watches only the body.
HEADERS_TIMEOUT_S = 60.0
STALL_WINDOW_S = 60.0
STALL_MIN_BYTES = 16 * 1024
API_LIMIT = 16 << 20  # bytes of JSON the repository's file list may take
ERROR_BODY_LIMIT = 64 << 10  # bytes of an error page read for its message
# Exporting a checkpoint of N fp32 parameters briefly needs about this many bytes per parameter
# on disk: the temporary fp32 graph that checks the export, then int8 + fp16 graphs and the
# float16 checkpoint kept in the bundle.
EXPORT_BYTES_PER_PARAMETER = 6


class HubError(Exception):
    """A download failed; the message is for the user and names what went wrong."""


@dataclass(frozen=True)
class HubFile:
    name: str
    size: int
    sha256: str | None  # LFS files: the sha256 of the content
    git_oid: str | None  # other files: the git blob id (sha1 of "blob <size>\\0" + content)

    @property
    def tag(self) -> str:
        """Part of the partial file's name: a changed file on the hub never continues an old part."""
        return (self.sha256 or self.git_oid or "nohash")[:16]


@dataclass
class RepoPlan:
    repo: str
    revision: str
    commit: str
    endpoint: str
    files: list[HubFile]
    licence: str | None = None
    have: dict[str, int] = field(default_factory=dict)  # bytes already on disk, by file name

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def have_bytes(self) -> int:
        return sum(self.have.get(f.name, 0) for f in self.files)

    @property
    def weights(self) -> HubFile:
        return next(f for f in self.files if f.name != "config.json")

    def disk_needed(self) -> int:
        """Bytes still to download plus what exporting the checkpoint will write."""
        parameters = self.weights.size // 4
        return self.total_bytes - self.have_bytes + EXPORT_BYTES_PER_PARAMETER * parameters

    def to_event(self, folder: Path) -> dict[str, Any]:
        return {"event": "plan", "repo": self.repo, "revision": self.revision, "commit": self.commit,
                "endpoint": self.endpoint, "licence": self.licence,
                "files": [{"name": f.name, "size": f.size, "have": self.have.get(f.name, 0)} for f in self.files],
                "total_bytes": self.total_bytes, "have_bytes": self.have_bytes,
                "disk_needed": self.disk_needed(), "disk_free": free_space(folder), "folder": str(folder)}


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def repo_id(name: str) -> str:
    """``gpt2`` -> ``openai-community/gpt2``; a full ``owner/name`` passes through."""
    if name in KNOWN:
        return KNOWN[name][0]
    if name.count("/") != 1 or not all(name.split("/")):
        known = ", ".join(KNOWN)
        raise HubError(f"{name!r}: not a known model ({known}) nor a hub repository such as owner/name")
    return name


def free_space(folder: Path) -> int:
    folder = Path(folder)
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def download_folder(root: Path, repo: str) -> Path:
    return Path(root) / repo.replace("/", "--")


# --- talking to the hub -----------------------------------------------------------------------


def _hub_errors(what: str, where: str) -> Callable[[BaseException], HubError | None]:
    """Translate huggingface_hub's and httpx's exceptions into one clear sentence."""

    def translate(exc: BaseException) -> HubError | None:
        import httpx2
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        if isinstance(exc, OfflineModeIsEnabled):
            return HubError(f"{what}: HF_HUB_OFFLINE is set, so Inkwell may not use the network")
        if isinstance(exc, GatedRepoError):
            return HubError(f"{what}: {where} asks you to accept its terms on the hub first (gated repository)")
        if isinstance(exc, RepositoryNotFoundError):
            return HubError(f"{what}: no such repository on {where}")
        if isinstance(exc, RevisionNotFoundError):
            return HubError(f"{what}: no such revision on {where}")
        if isinstance(exc, HfHubHTTPError):
            status = exc.response.status_code if exc.response is not None else "?"
            return HubError(f"{what}: {where} answered HTTP {status}; try again later")
        if isinstance(exc, _Stalled):
            return HubError(f"{what}: the download from {where} stalled ({exc}); check your connection "
                            "and try again")
        if isinstance(exc, httpx2.TimeoutException):
            return HubError(f"{what}: {where} did not answer in time; check your connection and try again")
        if isinstance(exc, httpx2.TooManyRedirects):
            return HubError(f"{what}: {where} redirected the request too many times (a redirect loop); "
                            "try again later or use another mirror (HF_ENDPOINT)")
        if isinstance(exc, (httpx2.ConnectError, httpx2.NetworkError)):
            return HubError(f"{what}: cannot reach {where} (offline, or the address is wrong); "
                            "check your connection and try again")
        if isinstance(exc, httpx2.HTTPError):
            return HubError(f"{what}: the connection to {where} failed ({exc})")
        return None

    return translate


def plan(name: str, revision: str = "main", folder: Path | None = None) -> RepoPlan:
    """The files of ``name`` to download (config.json and the weights) with sizes and checksums;
    ``have`` counts what ``folder`` already holds from an earlier, interrupted download."""
    from urllib.parse import quote

    from huggingface_hub.hf_api import ModelInfo

    repo = repo_id(name)
    where = endpoint()
    try:
        # What HfApi.model_info(files_metadata=True) asks, read through the same bounded, watched
        # reader as the downloads: a server that answers slowly or without end cannot hang this
        # or fill the memory.
        data = _get_json(f"{where}/api/models/{repo}/revision/{quote(revision, safe='')}", {"blobs": "true"})
        info = ModelInfo(**data)
    except HubError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError):
        raise HubError(f"{repo}: {where} answered with something that is not a repository's file list") from None
    except Exception as exc:
        error = _hub_errors(repo, where)(exc)
        if error is None:
            raise
        raise error from None
    siblings = {s.rfilename: s for s in (info.siblings or [])}
    if "config.json" not in siblings:
        raise HubError(f"{repo}: the repository has no config.json; it is not a Hugging Face model")
    weights = next((n for n in WEIGHT_FILES if n in siblings), None)
    if weights is None:
        raise HubError(f"{repo}: the repository has none of {', '.join(WEIGHT_FILES)}")
    files = []
    for fname in ("config.json", weights):
        s = siblings[fname]
        size = s.lfs.size if s.lfs else s.size
        sha256 = s.lfs.sha256 if s.lfs else None
        if size is None or not (sha256 or s.blob_id):
            raise HubError(f"{repo}: the hub gave no size or checksum for {fname}, so it cannot be verified")
        if not _valid_listing(size, sha256, s.blob_id):
            raise HubError(f"{repo}: the hub gave an impossible size or checksum for {fname} "
                           f"({size!r}, {sha256 or s.blob_id!r})")
        files.append(HubFile(fname, int(size), sha256, s.blob_id))
    card = getattr(info, "card_data", None) or {}
    licence = card.get("license") if hasattr(card, "get") else None
    result = RepoPlan(repo, revision, info.sha or revision, where, files, licence)
    if folder is not None:
        result.have = {f.name: _have(Path(folder), f) for f in files}
    return result


def _valid_listing(size: Any, sha256: Any, git_oid: Any) -> bool:
    """A size of at least 0 and checksums in hex (a checksum goes into the partial file's name)."""
    import re

    def hex_digest(value: Any, length: int) -> bool:
        return value is None or (isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{length}}}", value) is not None)

    return (isinstance(size, int) and not isinstance(size, bool) and size >= 0
            and hex_digest(sha256, 64) and hex_digest(git_oid, 40))


def _part_path(folder: Path, f: HubFile) -> Path:
    return folder / f"{f.name}.{f.tag}.part"


def _have(folder: Path, f: HubFile) -> int:
    final, part = folder / f.name, _part_path(folder, f)
    if final.is_file() and not final.is_symlink() and final.stat().st_size == f.size:
        return f.size
    return min(part.stat().st_size, f.size) if part.is_file() and not part.is_symlink() else 0


# --- downloading --------------------------------------------------------------------------------


class _Meter:
    """Bytes done over the whole download, speed (over this session only) and time left."""

    def __init__(self, total: int, done: int, emit: Emit):
        self.total, self.done, self.emit = total, done, emit
        self.started = time.monotonic()
        self.start_done = done
        self.last = 0.0
        self.file = ""

    def add(self, n: int, name: str, force: bool = False) -> None:
        force = force or name != self.file  # a new file shows at once
        self.file = name
        self.done += n
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        elapsed = now - self.started
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        self.emit({"event": "download", "file": name, "done": self.done, "total": self.total,
                   "bytes_per_s": round(rate), "eta_s": None if eta is None else round(eta, 1)})


def download(p: RepoPlan, folder: Path, emit: Emit | None = None,
             check_disk: bool = True, on_file: Callable[[Path], None] | None = None) -> Path:
    """Fetch every file of ``p`` into ``folder``, continuing partial files, each checked against
    the hub's checksum before it takes its final name. Returns ``folder``.

    On failure a partial file is kept (the next call continues it) unless its content is wrong:
    a checksum mismatch or an oversized part deletes it. ``on_file(path)`` is called as each file
    is complete (config.json comes first, so a wrong model fails before the big download).
    """
    emit = emit or (lambda event: None)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HubError(f"{folder}: cannot create the download folder ({exc.strerror or exc})") from None
    p.have = {f.name: _have(folder, f) for f in p.files}
    if check_disk:
        needed, free = p.disk_needed(), free_space(folder)
        if needed > free:
            raise HubError(f"{p.repo}: not enough disk space in {folder}: needs {human_bytes(needed)} "
                           f"(download and export), {human_bytes(free)} free")
    meter = _Meter(p.total_bytes, p.have_bytes, emit)
    for f in p.files:
        _download_file(p, f, folder, meter)
        if on_file is not None:
            on_file(folder / f.name)
    meter.add(0, p.files[-1].name, force=True)
    return folder


def _download_file(p: RepoPlan, f: HubFile, folder: Path, meter: _Meter) -> None:
    final = folder / f.name
    if final.is_file() and not final.is_symlink() and final.stat().st_size == f.size:
        return  # checked when it got its final name
    part = _usable_part(folder, f)
    digest = _digest_so_far(part, f)
    _fetch_rest(p, f, part, digest, meter)
    meter.emit({"event": "verify", "file": f.name})
    expected = f.sha256 or f.git_oid
    got = digest.hexdigest()
    if part.stat().st_size != f.size or got != expected:
        part.unlink()
        kind = "sha256" if f.sha256 else "git checksum"
        raise HubError(f"{p.repo}/{f.name}: the downloaded file does not match the hub's {kind} (it was "
                       "corrupted on the way); the damaged file was deleted, download again")
    replace_with(part, final)
    meter.emit({"event": "verified", "file": f.name, ("sha256" if f.sha256 else "git_oid"): got})


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _usable_part(folder: Path, f: HubFile) -> Path:
    """The partial file of ``f`` to continue, once every part that cannot be continued is gone."""
    part = _part_path(folder, f)
    for stale in folder.glob(f"{f.name}.*.part"):  # an older revision's part: useless now
        if stale != part:
            stale.unlink()
    if part.is_symlink() or (part.exists() and not part.is_file()):
        part.unlink()  # appending through a link or into a pipe would write somewhere else, or block
    if part.is_file() and part.stat().st_size > f.size:
        part.unlink()
    return part


def _digest_so_far(part: Path, f: HubFile) -> Any:
    """The digest ``f`` is checked by, over the bytes already in ``part``: a download that
    continues never reads what it has fetched again at the end."""
    digest = hashlib.sha256() if f.sha256 else hashlib.sha1(b"blob %d\0" % f.size)
    if part.is_file():
        with open(part, "rb") as existing:
            while chunk := existing.read(CHUNK):
                digest.update(chunk)
    return digest


def _fetch_rest(p: RepoPlan, f: HubFile, part: Path, digest: Any, meter: _Meter) -> None:
    """Fetch into ``part`` what it lacks of ``f``, again after a transient failure or a stream
    that ended early, each attempt from where the last stopped."""
    url = f"{p.endpoint}/{p.repo}/resolve/{p.commit}/{f.name}"
    translate = _hub_errors(f"{p.repo}/{f.name}", p.endpoint)
    attempt = 0
    while _size(part) < f.size:
        try:
            _fetch(url, part, _size(part), f, digest, meter)
        except HubError:
            raise
        except _Lied as exc:
            # What it sent cannot be trusted, nor the part it went into.
            part.unlink(missing_ok=True)
            raise HubError(f"{p.repo}/{f.name}: {exc}; the partial download was deleted. Try again later "
                           "or use another mirror (HF_ENDPOINT)") from None
        except Exception as exc:  # noqa: BLE001 - _failed_attempt raises what is not worth another attempt
            attempt += 1
            _failed_attempt(exc, translate, part, f, attempt)
            continue
        if _size(part) < f.size:  # the server closed the stream early without an error
            attempt += 1
            if attempt > RETRIES:
                raise HubError(f"{p.repo}/{f.name}: the download keeps stopping early ({human_bytes(_size(part))} of "
                               f"{human_bytes(f.size)}); download again to continue where it stopped")


def _failed_attempt(exc: Exception, translate: Callable[[BaseException], HubError | None], part: Path,
                    f: HubFile, attempt: int) -> None:
    """After the ``attempt``th failed fetch: wait before the next one when the failure is
    transient, else raise it in words (``translate``: the hub's words for a failure of its own)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        raise HubError(f"{part}: the disk is full; free some space and download again to "
                       "continue where it stopped") from None
    error = translate(exc)
    if error is None:
        if isinstance(exc, OSError):  # a local file problem, not the network
            raise HubError(f"{part}: cannot write ({exc.strerror or exc})") from None
        raise exc
    if not _transient(exc) or attempt > RETRIES:
        raise HubError(f"{error}. {human_bytes(_size(part))} of {human_bytes(f.size)} kept; download "
                       "again to continue where it stopped") from None
    time.sleep(min(BACKOFF_S * 2 ** (attempt - 1), 8))


def _transient(exc: BaseException) -> bool:
    """A dropped connection or a server hiccup: worth retrying from where the file stopped."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return status in (408, 429) or status >= 500
    return isinstance(exc, (_Stalled, httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError))


class _Stalled(Exception):
    """Too few bytes arrived for too long: the connection is as good as dead."""


class _Lied(Exception):
    """The server sent more than the file's announced size, or something other than the file."""


def _chunks(r: Any) -> Any:
    """The raw body as it arrives (no decompression: nothing can expand), watched for stalls."""
    window_start, got = time.monotonic(), 0
    for chunk in r.iter_raw():
        now = time.monotonic()
        got += len(chunk)
        if now - window_start >= STALL_WINDOW_S:
            if got < STALL_MIN_BYTES:
                raise _Stalled(f"{got} bytes in {now - window_start:.0f} s")
            window_start, got = now, 0
        yield chunk


def _body(r: Any, limit: int) -> bytes:
    """The whole body of a small response, at most ``limit`` bytes."""
    data = bytearray()
    for chunk in _chunks(r):
        data += chunk
        if len(data) > limit:
            raise _Lied(f"an answer of more than {human_bytes(limit)}")
    return bytes(data)


@contextmanager
def _open(url: str, headers: dict[str, str]) -> Iterator[Any]:
    """A streamed GET whose status line and headers (through every redirect) arrive within
    HEADERS_TIMEOUT_S, each read within READ_TIMEOUT_S; the body is watched by _chunks."""
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled
    from huggingface_hub.utils import build_hf_headers

    if constants.is_offline_mode():
        raise OfflineModeIsEnabled(f"Cannot reach {url}: offline mode is enabled")
    # token=False: a public checkpoint needs no account, and no credentials go to a mirror.
    headers = {**build_hf_headers(token=False), "Accept-Encoding": "identity", **headers}
    _HEADERS.deadline = time.monotonic() + HEADERS_TIMEOUT_S
    try:
        with _client().stream("GET", url, headers=headers, follow_redirects=True, timeout=READ_TIMEOUT_S) as r:
            _HEADERS.deadline = None  # the body is watched by _chunks
            yield r
    finally:
        _HEADERS.deadline = None


# The deadline of the headers being read on this thread (None while a body is read).
_HEADERS = threading.local()
_CLIENT: Any = None
_CLIENT_LOCK = threading.Lock()


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left before this thread's headers deadline."""
    deadline = getattr(_HEADERS, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error(f"the response's headers took more than {HEADERS_TIMEOUT_S:g} s")
    return left if timeout is None else min(timeout, left)


def _client() -> Any:
    """One HTTP client for the hub, whose sockets obey the headers deadline: httpx's timeouts
    are per read, so a server sending a byte just before each one expires would never time out."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            import httpcore2
            import httpx2

            class Stream(httpcore2.NetworkStream):
                def __init__(self, stream: Any) -> None:
                    self._stream = stream

                def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
                    return self._stream.read(max_bytes, _left(timeout, httpcore2.ReadTimeout))

                def write(self, buffer: bytes, timeout: float | None = None) -> None:
                    self._stream.write(buffer, _left(timeout, httpcore2.WriteTimeout))

                def close(self) -> None:
                    self._stream.close()

                def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                              timeout: float | None = None) -> Any:
                    return Stream(self._stream.start_tls(ssl_context, server_hostname,
                                                         _left(timeout, httpcore2.ConnectTimeout)))

                def get_extra_info(self, info: str) -> Any:
                    return self._stream.get_extra_info(info)

            class Backend(httpcore2.SyncBackend):
                def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
                    return Stream(super().connect_tcp(*args, **kwargs))

                def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
                    return Stream(super().connect_unix_socket(*args, **kwargs))

            class Transport(httpx2.HTTPTransport):
                def __init__(self) -> None:
                    super().__init__()
                    self._pool = httpcore2.ConnectionPool(ssl_context=httpx2.create_ssl_context(),
                                                          network_backend=Backend())

            _CLIENT = httpx2.Client(transport=Transport(), follow_redirects=True, timeout=None)
        return _CLIENT


def _raise_for_status(r: Any) -> None:
    """huggingface_hub's error for an error status (its message reads the body: at most
    ERROR_BODY_LIMIT bytes of it)."""
    import httpx2
    from huggingface_hub.utils import hf_raise_for_status

    if r.status_code < 400:
        return
    try:
        body = _body(r, ERROR_BODY_LIMIT)
    except (_Lied, _Stalled, httpx2.HTTPError):
        body = b""
    hf_raise_for_status(httpx2.Response(r.status_code, headers=r.headers, content=body, request=r.request))


def _get_json(url: str, params: dict[str, Any]) -> Any:
    from urllib.parse import urlencode

    with _open(f"{url}?{urlencode(params)}", {"Accept": "application/json"}) as r:
        _raise_for_status(r)
        try:
            # parse_json: a reply nested too deep (RecursionError) is a bad answer like any other
            return parse_json(_body(r, API_LIMIT), url)
        except _Lied as exc:
            raise HubError(f"{url}: the server sent {exc}, too much for a repository's file list") from None


def _encoding_problem(r: Any) -> str | None:
    encoding = r.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return f"the server sent the file compressed ({encoding}) although Inkwell asked for it as it is"
    return None


def _fetch(url: str, part: Path, offset: int, f: HubFile, digest: Any, meter: _Meter) -> None:
    """Append the bytes after ``offset`` to ``part``; never more than ``f.size`` bytes in all.

    A server that announces or sends more than that, or sends something else than the file
    (another range, a compressed body), has lied: _Lied, and the caller deletes the partial file.
    """
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with _open(url, headers) as r:
        if r.status_code == 416 and offset:  # nothing left past the offset: the part is complete or wrong
            return
        _raise_for_status(r)
        if problem := _encoding_problem(r):
            raise _Lied(problem)
        # A server that ignores Range sends the whole file: skip what the part already holds
        # (the checksum at the end catches a server whose bytes changed meanwhile).
        partial = r.status_code == 206
        skip = offset if offset and not partial else 0
        if partial and not _range_starts_at(r.headers.get("Content-Range", ""), offset, f.size):
            raise _Lied(f"the server answered another range ({r.headers.get('Content-Range')!r}) than the "
                        f"bytes from {offset} of {f.size} asked for")
        length = r.headers.get("Content-Length")
        announced = f.size - offset if partial else f.size
        if length is not None and length.strip().isdigit() and int(length) > announced:
            raise _Lied(f"the server announced {human_bytes(int(length))} where {human_bytes(announced)} "
                        "were to come")
        left = f.size - offset  # bytes this part may still grow by
        chunks = _chunks(r)
        with open(part, "ab") as out:
            for chunk in chunks:
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                    if not chunk:
                        continue
                if len(chunk) > left:
                    raise _Lied(f"the server sent more than the {human_bytes(f.size)} the hub announced")
                out.write(chunk)
                digest.update(chunk)
                meter.add(len(chunk), f.name)
                left -= len(chunk)
                if left == 0:
                    break
            out.flush()
        if left == 0 and length is None and next(chunks, b""):
            # No length was announced (chunked): the stream must end with the file.
            raise _Lied(f"the server sent more than the {human_bytes(f.size)} the hub announced")


def _range_starts_at(content_range: str, offset: int, size: int) -> bool:
    """Whether ``bytes START-END/TOTAL`` starts at ``offset`` of a file of ``size`` bytes."""
    import re

    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", content_range)
    return m is not None and int(m[1]) == offset and m[3] in (str(size), "*")
