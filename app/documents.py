"""Reading and saving the text files Inkwell edits (.txt, .md).

A file is saved the way it was read: in its encoding (byte-order mark included) and with its
line ends, so that what the writer did not change keeps its bytes, even when the encoding was a
guess (core.textfile). Text the encoding cannot hold (Windows-1252 holds few characters) is not
written: ``UnencodableText`` lets the window ask before converting the file to UTF-8. New files
are UTF-8 with LF line ends.

Saving is atomic (core.fileio.atomic_write): a failed or interrupted save leaves the old file as
it was, and says why in words ("the disk is full"). ``DiskState`` records what the file on disk
was when it was read or saved; ``changed_on_disk`` tells whether another program (or another
Inkwell) has written it since.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from core.fileio import (
    ReadOnlyFile,
    atomic_write,
    describe_os_error,
    is_finite_number,
    read_bytes,
    read_with_stat,
    write_in_place,
)
from core.textfile import ENCODING_NAMES, Decoded, TextFileError, decode_bytes, read_error

MAX_BYTES = 64 * 1024 * 1024
FILE_FILTER = "Text files (*.txt *.md *.markdown *.text);;All files (*)"
NEWLINE_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}
# A file whose modification time is this close to when it was looked at may still change without
# its time changing (timestamps are coarse): it is compared by content, as git does.
_RACY_S = 2.0


class DocumentError(Exception):
    """A file cannot be opened or saved; the message names the file and the problem."""


class UnencodableText(DocumentError):
    """The text holds a character the file's encoding cannot hold; nothing was written."""


class FolderReadOnly(DocumentError):
    """The file may be written but its folder not: the atomic save (a new file renamed over the
    old one) is impossible; ``save_text(..., in_place=True)`` writes into the file itself."""


@dataclass(frozen=True)
class FileFormat:
    """How a file's text is written back: its encoding, byte-order mark and line ends."""

    encoding: str = "utf-8"  # a key of core.textfile.ENCODING_NAMES
    bom: bytes = b""
    newline: str = "\n"
    certain: bool = True  # False: the encoding was a guess
    mixed_newlines: bool = False  # the file had several kinds; saving writes ``newline`` throughout
    note: str = ""

    @property
    def encoding_name(self) -> str:
        return ENCODING_NAMES.get(self.encoding, self.encoding)

    @property
    def newline_name(self) -> str:
        return NEWLINE_NAMES[self.newline]

    @property
    def label(self) -> str:
        """Short, for the status bar: "UTF-8 · LF", "UTF-16 LE · CRLF", "Windows-1252? · LF"."""
        short = Decoded("", self.encoding, self.bom).codec.upper().replace("-LE", " LE").replace("-BE", " BE")
        short = {"CP1252": "Windows-1252"}.get(short, short) + (" BOM" if self.bom else "")
        return f"{short}{'' if self.certain else '?'} · {self.newline_name}"

    def encode(self, text: str) -> bytes:
        """``text`` (with "\\n" line ends, as the editor holds it) as the file's bytes."""
        if self.newline != "\n":
            text = text.replace("\n", self.newline)
        return Decoded("", self.encoding, self.bom).encode(text)

    def as_utf8(self) -> FileFormat:
        return replace(self, encoding="utf-8", bom=b"", certain=True, note="")

    def to_dict(self) -> dict:
        return {"encoding": self.encoding, "bom": self.bom.hex(), "newline": self.newline, "certain": self.certain}

    @classmethod
    def from_dict(cls, data) -> FileFormat | None:
        """From ``to_dict``'s output (an autosave snapshot); None when it is not that."""
        try:
            fmt = cls(data["encoding"], bytes.fromhex(data["bom"]), data["newline"], bool(data["certain"]))
            fmt.encode("")
            _ = fmt.newline_name  # an unknown line end raises KeyError
        except (TypeError, KeyError, ValueError, LookupError):
            return None
        return fmt if fmt.encoding in ENCODING_NAMES else None


UTF8 = FileFormat()


@dataclass(frozen=True)
class DiskState:
    """A file as it was on disk when Inkwell read or wrote it."""

    size: int
    mtime_ns: int
    inode: int
    sha256: str
    seen_at: float  # time.time() when it was recorded

    @classmethod
    def of(cls, data: bytes, st: os.stat_result) -> DiskState:
        return cls(len(data), st.st_mtime_ns, st.st_ino, hashlib.sha256(data).hexdigest(), time.time())

    def to_dict(self) -> dict:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "inode": self.inode, "sha256": self.sha256,
                "seen_at": self.seen_at}

    @classmethod
    def from_dict(cls, data) -> DiskState | None:
        try:
            state = cls(*(data[k] for k in ("size", "mtime_ns", "inode", "sha256", "seen_at")))
        except (TypeError, KeyError):
            return None
        numbers = (state.size, state.mtime_ns, state.inode, state.seen_at)
        if not all(is_finite_number(n) for n in numbers) or not isinstance(state.sha256, str):
            return None
        return state

    @property
    def racy(self) -> bool:
        return self.seen_at - self.mtime_ns / 1e9 < _RACY_S


@dataclass(frozen=True)
class LoadedText:
    text: str
    format: FileFormat
    disk: DiskState

    @property
    def encoding(self) -> str:
        return self.format.encoding

    @property
    def converted(self) -> bool:
        """The file is not plain UTF-8 (it is saved back in its own encoding)."""
        return self.format.encoding != "utf-8"

    @property
    def encoding_name(self) -> str:
        return self.format.encoding_name


def _line_ends(text: str) -> tuple[str, bool]:
    """The file's usual line end and whether it mixes several."""
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    counts = {"\r\n": crlf, "\r": cr, "\n": lf}
    used = [k for k, n in counts.items() if n]
    if not used:
        return "\n", False
    return max(used, key=lambda k: counts[k]), len(used) > 1


def read_text(path: str | Path) -> LoadedText:
    try:
        data, st = read_with_stat(path, MAX_BYTES)
        decoded = decode_bytes(data, path)
    except OSError as exc:
        raise DocumentError(str(read_error(path, exc))) from None
    except TextFileError as exc:
        raise DocumentError(str(exc)) from None
    newline, mixed = _line_ends(decoded.text)
    fmt = FileFormat(decoded.encoding, decoded.bom, newline, decoded.certain, mixed, decoded.note)
    # Qt's editor shows \r as a glyph; it holds "\n" and saving writes the file's own line end.
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n")
    return LoadedText(text, fmt, DiskState.of(data, st))


def save_text(path: str | Path, text: str, fmt: FileFormat = UTF8, follow_links: bool = True,
              in_place: bool = False) -> DiskState:
    """Save ``text`` in ``fmt``, atomically: the file is replaced only once it is completely
    written. Returns the new DiskState; UnencodableText (nothing written) when the encoding
    cannot hold the text; FolderReadOnly when only the file, not its folder, may be written
    (``in_place`` then writes into the file itself, which is not atomic); DocumentError saying
    why otherwise (a folder, named pipe or device is never replaced). ``follow_links=False``
    replaces a symbolic link at ``path`` itself instead of the file it points to."""
    path = Path(path)
    try:
        data = fmt.encode(text)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start]
        line = exc.object.count(fmt.newline, 0, exc.start) + 1
        shown = bad if bad.isprintable() else f"U+{ord(bad):04X}"
        raise UnencodableText(f"{path}: “{shown}” (line {line}) cannot be written in {fmt.encoding_name}, "
                              "the file's encoding") from None
    try:
        if in_place:
            write_in_place(path, data)
        else:
            atomic_write(path, data, follow_links=follow_links)
        st = os.stat(path)
    except PermissionError as exc:
        target = os.path.realpath(path) if follow_links else os.fspath(path)
        if not in_place and not isinstance(exc, ReadOnlyFile) and os.path.isfile(target) \
                and not os.path.islink(target) and os.access(target, os.W_OK) \
                and not os.access(os.path.dirname(target) or ".", os.W_OK):
            raise FolderReadOnly(f"{path}: the folder {os.path.dirname(target)} is read-only, so the file cannot "
                                 "be replaced safely (by writing a new file and swapping it in)") from None
        raise DocumentError(f"{path}: cannot be saved: {describe_os_error(exc)}") from None
    except OSError as exc:
        raise DocumentError(f"{path}: cannot be saved: {describe_os_error(exc)}") from None
    return DiskState.of(data, st)


def changed_on_disk(path: str | Path, known: DiskState) -> str | None:
    """None when the file at ``path`` still is what ``known`` records; "deleted" when it is
    gone; "changed" when another program wrote it (same size and times are checked by content
    while the times are too recent to trust)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "deleted"
    except OSError:
        return "changed"
    if st.st_size != known.size:
        return "changed"
    if (st.st_mtime_ns, st.st_ino) == (known.mtime_ns, known.inode) and not known.racy:
        return None
    try:
        data = read_bytes(path, MAX_BYTES)
    except OSError:
        return "changed"
    return None if hashlib.sha256(data).hexdigest() == known.sha256 else "changed"
