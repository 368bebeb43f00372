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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from model.units import human_bytes

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
TIMEOUT_S = 30.0
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
        if isinstance(exc, httpx2.TimeoutException):
            return HubError(f"{what}: {where} did not answer in time; check your connection and try again")
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
    from huggingface_hub import HfApi

    repo = repo_id(name)
    where = endpoint()
    try:
        # token=False: a public checkpoint needs no account, and no credentials go to a mirror.
        info = HfApi(endpoint=where).model_info(repo, revision=revision, files_metadata=True,
                                                timeout=TIMEOUT_S, token=False)
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
        files.append(HubFile(fname, int(size), sha256, s.blob_id))
    card = getattr(info, "card_data", None) or {}
    licence = card.get("license") if hasattr(card, "get") else None
    result = RepoPlan(repo, revision, info.sha or revision, where, files, licence)
    if folder is not None:
        result.have = {f.name: _have(Path(folder), f) for f in files}
    return result


def _part_path(folder: Path, f: HubFile) -> Path:
    return folder / f"{f.name}.{f.tag}.part"


def _have(folder: Path, f: HubFile) -> int:
    if (folder / f.name).is_file() and (folder / f.name).stat().st_size == f.size:
        return f.size
    part = _part_path(folder, f)
    return min(part.stat().st_size, f.size) if part.is_file() else 0


# --- downloading --------------------------------------------------------------------------------


class _Meter:
    """Bytes done over the whole download, speed (over this session only) and time left."""

    def __init__(self, total: int, done: int, emit: Callable[[dict[str, Any]], None]):
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


def download(p: RepoPlan, folder: Path, emit: Callable[[dict[str, Any]], None] | None = None,
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
    if final.is_file() and final.stat().st_size == f.size:
        return  # checked when it got its final name
    for stale in folder.glob(f"{f.name}.*.part"):  # an older revision's part: useless now
        if stale != _part_path(folder, f):
            stale.unlink()
    part = _part_path(folder, f)
    if part.is_file() and part.stat().st_size > f.size:
        part.unlink()
    digest = hashlib.sha256() if f.sha256 else hashlib.sha1(b"blob %d\0" % f.size)
    if part.is_file():
        with open(part, "rb") as existing:  # the digest continues over the bytes already here
            while chunk := existing.read(CHUNK):
                digest.update(chunk)
    url = f"{p.endpoint}/{p.repo}/resolve/{p.commit}/{f.name}"
    translate = _hub_errors(f"{p.repo}/{f.name}", p.endpoint)
    attempt = 0
    while True:
        offset = part.stat().st_size if part.is_file() else 0
        if offset == f.size:
            break
        try:
            _fetch(url, part, offset, f, digest, meter)
        except HubError:
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise HubError(f"{part}: the disk is full; free some space and download again to "
                               "continue where it stopped") from None
            error = translate(exc)
            if error is None:
                if isinstance(exc, OSError):  # a local file problem, not the network
                    raise HubError(f"{part}: cannot write ({exc.strerror or exc})") from None
                raise
            transient = _transient(exc)
            attempt += 1
            if not transient or attempt > RETRIES:
                have = part.stat().st_size if part.is_file() else 0
                raise HubError(f"{error}. {human_bytes(have)} of {human_bytes(f.size)} kept; download "
                               "again to continue where it stopped") from None
            time.sleep(min(BACKOFF_S * 2 ** (attempt - 1), 8))
            continue
        if part.is_file() and part.stat().st_size >= f.size:
            break
        # The server closed the stream early without an error: continue with the next attempt.
        attempt += 1
        if attempt > RETRIES:
            have = part.stat().st_size if part.is_file() else 0
            raise HubError(f"{p.repo}/{f.name}: the download keeps stopping early ({human_bytes(have)} of "
                           f"{human_bytes(f.size)}); download again to continue where it stopped")
    meter.emit({"event": "verify", "file": f.name})
    expected = f.sha256 or f.git_oid
    got = digest.hexdigest()
    if part.stat().st_size != f.size or got != expected:
        part.unlink()
        kind = "sha256" if f.sha256 else "git checksum"
        raise HubError(f"{p.repo}/{f.name}: the downloaded file does not match the hub's {kind} (it was "
                       "corrupted on the way); the damaged file was deleted, download again")
    with open(part, "rb+") as done:
        os.fsync(done.fileno())
    os.replace(part, final)
    meter.emit({"event": "verified", "file": f.name, ("sha256" if f.sha256 else "git_oid"): got})


def _transient(exc: BaseException) -> bool:
    """A dropped connection or a server hiccup: worth retrying from where the file stopped."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return status in (408, 429) or status >= 500
    return isinstance(exc, (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError))


def _fetch(url: str, part: Path, offset: int, f: HubFile, digest: Any, meter: _Meter) -> None:
    from huggingface_hub.utils import get_session, hf_raise_for_status

    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with get_session().stream("GET", url, headers=headers, follow_redirects=True, timeout=TIMEOUT_S) as r:
        if r.status_code == 416 and offset:  # nothing left past the offset: the part is complete or wrong
            return
        if r.status_code >= 400:
            r.read()  # the error's details are in the body; a streamed body must be read first
        hf_raise_for_status(r)
        # A server that ignores Range sends the whole file: skip what the part already holds
        # (the checksum at the end catches a server whose bytes changed meanwhile).
        skip = offset if offset and r.status_code != 206 else 0
        with open(part, "ab") as out:
            for chunk in r.iter_bytes(CHUNK):
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                    if not chunk:
                        continue
                out.write(chunk)
                digest.update(chunk)
                meter.add(len(chunk), f.name)
            out.flush()
