"""Reading and writing files safely: the one place Inkwell's readers and writers go through.

Free of torch, Qt and numpy (the editor, the tools and the training processes all use it).

Reading (``read_bytes``, ``read_json``): only regular files are read (a symbolic link counts as
what it points to), and never more than a cap the caller chooses. A named pipe, a socket, a
device such as /dev/zero, or a folder is refused before anything is read, so nothing blocks or
grows without bound. JSON that does not parse, for whatever reason (bad syntax, nesting deeper
than the parser allows, an integer too long to convert, text that is not UTF-8) is one error,
``DamagedFile``: the caller backs the file up (``back_up``), says so and carries on.

Writing (``atomic_write``; ``replace_with`` for a file written elsewhere, ``publish_folder`` for a
folder): a reader sees the old file or the new one, never half of either.
``describe_os_error`` puts an OSError in words for the writer ("the disk is full").
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeGuard

MiB = 1 << 20
JSON_MAX_BYTES = 16 * MiB  # manifests, jobs, run summaries: a few KiB each
_CHUNK = 1 << 20


class NotRegularFile(OSError):
    """The path is a folder, a named pipe, a socket or a device, not a file to read."""


class FileTooLarge(OSError):
    """The file is larger than the reader's cap."""


class ReadOnlyFile(PermissionError):
    """The file to replace is protected against writing."""


class DamagedFile(ValueError):
    """A file that was read but does not parse; the message names it and says why."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _not_regular(path: str, mode: int) -> NotRegularFile:
    kind = _kind(mode)
    words = kind if kind.startswith("not") else f"{kind}, not a regular file"
    return NotRegularFile(errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL, words, path)


def _too_large(path: str, size: int | None, max_bytes: int) -> FileTooLarge:
    what = f"the file is {_size(size)}" if size is not None else "the file is larger than that"
    return FileTooLarge(errno.EFBIG, f"{what}; the limit here is {_size(max_bytes)}", path)


def _size(n: int) -> str:
    return f"{n / MiB:.0f} MiB" if n >= MiB else f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


# Flags that keep open() itself from blocking or grabbing a terminal; absent on Windows.
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def read_bytes(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` of them.

    Raises FileNotFoundError as is (callers say what a missing file means), NotRegularFile,
    FileTooLarge, or another OSError. The type is checked before opening (opening a device can
    have effects of its own; a FIFO would block) and again on the open descriptor, in case the
    path was swapped in between. The cap holds even where the size on record is wrong
    (/proc files say 0) or the file grows while it is read.
    """
    return read_with_stat(path, max_bytes)[0]


def read_with_stat(path: str | Path, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """``read_bytes``, plus the file's status taken on the open file once it was read (what a
    later check compares against to tell whether the file changed since)."""
    name = os.fspath(path)
    fd = _open_regular(name, max_bytes)
    try:
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(name, None, max_bytes)
        return b"".join(chunks), os.fstat(fd)
    finally:
        os.close(fd)


def open_regular(path: str | Path) -> IO[bytes]:
    """The regular file at ``path`` opened for reading (binary), for readers that take only a
    part of a large file (a header); the same refusals as ``read_bytes``, without the cap."""
    return os.fdopen(_open_regular(os.fspath(path), None), "rb")


def _open_regular(name: str, max_bytes: int | None) -> int:
    before = os.stat(name)
    if not stat.S_ISREG(before.st_mode):
        raise _not_regular(name, before.st_mode)
    if max_bytes is not None and before.st_size > max_bytes:
        raise _too_large(name, before.st_size, max_bytes)
    fd = os.open(name, _OPEN_FLAGS)
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode):
            raise _not_regular(name, now.st_mode)
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)  # a regular file: the usual descriptor from here on
    except BaseException:
        os.close(fd)
        raise
    return fd


def parse_json(data: bytes | str, source: str | Path) -> Any:
    """``data`` parsed as JSON, or DamagedFile naming ``source`` and the reason.

    Every way a parse can fail is the same for the caller: ValueError (syntax, an integer with
    thousands of digits, bytes that are not UTF-8) and RecursionError (deep nesting) included.
    NaN and Infinity parse as floats: the caller's checks of each value refuse them.
    """
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DamagedFile(source, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise DamagedFile(source, f"not valid JSON (not UTF-8 text: invalid byte at offset {exc.start})") from None
    except RecursionError:
        raise DamagedFile(source, "not valid JSON (nested too deeply to read)") from None
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        raise DamagedFile(source, f"not valid JSON ({exc})") from None


def read_json(path: str | Path, max_bytes: int = JSON_MAX_BYTES) -> Any:
    """The parsed JSON file at ``path``: FileNotFoundError as is, OSError when it cannot be read
    (NotRegularFile, FileTooLarge, permissions...), DamagedFile when it does not parse."""
    return parse_json(read_bytes(path, max_bytes), path)


def is_finite_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (
        isinstance(value, int) or math.isfinite(value))


def back_up(path: str | Path) -> Path | None:
    """Move a damaged file (or whatever sits at ``path``: a folder, a FIFO, a link) aside to
    ``NAME.bad-DATE-TIME``, never over an earlier backup; the new path, or None when it
    cannot be moved."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 100):
        backup = path.with_name(f"{path.name}.bad-{stamp}" + (f"-{n}" if n > 1 else ""))
        if os.path.lexists(backup):
            continue
        try:
            os.rename(path, backup)
        except OSError:
            return None
        return backup
    return None


# --- writing ------------------------------------------------------------------------------------

_umask: int | None = None


def umask() -> int:
    """The process's umask, read once: reading it means setting it, which is process-wide (a
    thread creating a file meanwhile would get the wrong permissions)."""
    global _umask
    if _umask is None:
        _umask = os.umask(0o022)
        os.umask(_umask)
    return _umask


def default_mode() -> int:
    """The permission bits of a new file under the umask."""
    return 0o666 & ~umask()


def atomic_write(path: str | Path, data: bytes | Callable[[IO[bytes]], Any], private: bool = False,
                 follow_links: bool = True) -> None:
    """Replace ``path`` with ``data`` (bytes, or a function writing to a binary file) so that a
    reader sees the old file or the new one, never half.

    The data goes to a temporary file ``.NAME.XXXXXXXX.tmp`` beside the target, is flushed to
    disk, and is renamed over it; on any failure the temporary file is removed and the target is
    untouched, and the OSError (with its errno: ENOSPC, EACCES, ...) is raised. A symbolic link
    is followed: the file it points to is replaced, the link stays; with ``follow_links=False``
    the link itself is replaced by the file (what it pointed to is left alone). Only a regular
    file is replaced: a folder, named pipe, socket or device (or a link to one) raises
    NotRegularFile, and a loop of links ELOOP. A file its owner made read-only is not
    replaced. The new file keeps the old one's permission bits; a file written for the first
    time gets the usual ones under the umask, or, when ``private`` (settings, autosaved text),
    is readable by its owner only.
    """
    target = Path(path)
    if follow_links and target.is_symlink():
        target = Path(os.path.realpath(target))
    try:
        st = os.stat(target) if follow_links else os.lstat(target)
    except FileNotFoundError:
        if os.path.islink(target):  # (a link to nothing, or a loop realpath gave up on)
            os.stat(target)  # raises ELOOP for a loop
        mode = 0o600 if private else default_mode()
    else:
        if stat.S_ISLNK(st.st_mode):
            mode = 0o600 if private else default_mode()  # the link goes; a new file takes its place
        elif not stat.S_ISREG(st.st_mode):
            raise _not_regular(str(path), st.st_mode)
        else:
            mode = stat.S_IMODE(st.st_mode)
            # Renaming over a file needs only a writable folder: honour the file's own protection,
            # as QSaveFile does.
            if not os.access(target, os.W_OK):
                raise ReadOnlyFile(errno.EACCES, "the file is read-only", str(target))
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
        replace_with(tmp, target, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def replace_with(written: str | Path, target: str | Path, mode: int | None = None) -> None:
    """Put the finished file ``written`` (beside ``target``, on the same disk) in ``target``'s
    place in one step: its bytes are flushed to the disk first, so that a power cut leaves the old
    file or the whole new one, and it gets ``mode``'s permission bits when given. What every
    writer of a file ends with (``atomic_write``, a download's ``.part``, the files a library
    wrote into a temporary folder)."""
    fd = os.open(os.fspath(written), os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if mode is not None:
        os.chmod(written, mode)
    os.replace(written, target)


def publish_folder(built: str | Path, dest: str | Path) -> None:
    """Put the finished folder ``built`` (beside ``dest``) in ``dest``'s place: a reader finds
    the old folder or the new one, never a mixture. An existing ``dest`` is moved aside first
    (a folder cannot be renamed over a full one) and removed once the new one is in place; when
    the move fails, it is put back and the OSError raised."""
    built, dest = Path(built), Path(dest)
    backup = None
    if dest.exists():
        backup = dest.with_name(f".{dest.name}.{os.getpid()}.old")
        os.replace(dest, backup)
    try:
        os.replace(built, dest)
    except OSError:
        if backup is not None:
            os.replace(backup, dest)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


_NAME_MAX = 255  # bytes in a file name (Linux, macOS; Windows counts 255 UTF-16 units)


def _temp_prefix(name: str) -> str:
    """``.NAME.``, cut short so that the temporary file's name (8 random characters and .tmp
    follow) is no longer than a name may be: a file of a long but valid name stays writable."""
    while name and len(os.fsencode(f".{name}.")) > _NAME_MAX - 12:
        name = name[:-1]
    return f".{name}."


def write_in_place(path: str | Path, data: bytes) -> None:
    """Write ``data`` into the existing regular file at ``path`` itself, for a file whose folder
    does not let a new file be made beside it (so ``atomic_write`` cannot work). Not atomic: an
    interruption (power cut) can leave it half written. A failure while writing (a full disk)
    puts the old bytes back as far as it can, and raises the OSError."""
    name = os.fspath(path)
    fd = os.open(name, os.O_RDWR | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0)
                 | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(name, st.st_mode)
        os.set_blocking(fd, True)
        old = b""
        while chunk := os.read(fd, _CHUNK):
            old += chunk
        try:
            _write_all(fd, data)
            os.ftruncate(fd, len(data))
            os.fsync(fd)
        except OSError:
            try:
                _write_all(fd, old)
                os.ftruncate(fd, len(old))
            except OSError:
                pass
            raise
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def atomic_write_text(path: str | Path, text: str, private: bool = False) -> None:
    """``atomic_write`` of ``text`` as UTF-8."""
    atomic_write(path, text.encode("utf-8"), private)


def remove_stale_temps(folder: str | Path, name: str = "*", older_than_s: float = 60.0,
                       abandoned: Callable[[Path], bool] | None = None) -> list[Path]:
    """Remove the temporary files ``atomic_write`` leaves in ``folder`` when it is killed
    mid-write (``.NAME.XXXXXXXX.tmp``, for targets matching the glob ``name``): those
    ``abandoned(path)`` says no running process owns or, without that test, those untouched for
    ``older_than_s`` seconds (a write takes milliseconds). Returns what was removed; errors are
    ignored (this is tidying up)."""
    removed: list[Path] = []
    now = time.time()
    try:
        candidates = list(Path(folder).glob(f".{name}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        try:
            st = tmp.lstat()
            if not stat.S_ISREG(st.st_mode):
                continue
            if abandoned is not None:
                if not abandoned(tmp):
                    continue
            elif now - st.st_mtime < older_than_s:
                continue
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            continue
    return removed


# --- errors in words ----------------------------------------------------------------------------

_WORDS = {
    errno.ENOSPC: "the disk is full (no space left on the device)",
    errno.EDQUOT: "your disk quota is used up",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.EROFS: "the disk or folder is read-only",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "an input/output error (the disk or its connection may be failing)",
    errno.EFBIG: "the file is too large for this disk",
    errno.ELOOP: "too many levels of symbolic links",
    errno.EMFILE: "too many files are open",
    errno.ENFILE: "too many files are open",
    errno.EBUSY: "the file or device is busy",
    errno.EXDEV: "it is on another disk",
}


def describe_os_error(exc: BaseException) -> str:
    """An OSError in words a writer understands."""
    if isinstance(exc, (NotRegularFile, FileTooLarge, ReadOnlyFile)):
        return exc.strerror or str(exc)
    if isinstance(exc, OSError):
        return _WORDS.get(exc.errno or 0, exc.strerror or str(exc) or type(exc).__name__)
    return str(exc)
