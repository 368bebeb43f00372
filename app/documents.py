"""Reading and saving the text files Inkwell edits (.txt, .md).

Files are saved as UTF-8 through QSaveFile, so a failed or interrupted save leaves the old file as
it was. On reading, UTF-8 (with or without a byte-order mark) is the norm; UTF-16/32 with a
byte-order mark and Windows-1252 text are recognised and converted (the window says so, and the
next save writes UTF-8); anything else, binary files included, is refused with a clear message.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QIODevice, QSaveFile

MAX_BYTES = 64 * 1024 * 1024
FILE_FILTER = "Text files (*.txt *.md *.markdown *.text);;All files (*)"

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with byte-order mark", "utf-16": "UTF-16",
                   "utf-32": "UTF-32", "cp1252": "Windows-1252"}


class DocumentError(Exception):
    """A file cannot be opened or saved; the message names the file and the problem."""


@dataclass(frozen=True)
class LoadedText:
    text: str
    encoding: str  # the file's encoding as found; saving always writes UTF-8

    @property
    def converted(self) -> bool:
        return self.encoding != "utf-8"

    @property
    def encoding_name(self) -> str:
        return _ENCODING_NAMES.get(self.encoding, self.encoding)


def read_text(path: str | Path) -> LoadedText:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DocumentError(f"{path}: the file is {size // 2**20} MiB; Inkwell opens text files up to "
                                f"{MAX_BYTES // 2**20} MiB")
        data = path.read_bytes()
    except IsADirectoryError:
        raise DocumentError(f"{path}: is a folder, not a text file") from None
    except OSError as exc:
        raise DocumentError(f"{path}: cannot be opened ({exc.strerror})") from None
    text, encoding = _decode(path, data)
    # Qt's editor shows \r as a glyph; keep line ends uniform and let saving write \n.
    return LoadedText(text.replace("\r\n", "\n").replace("\r", "\n"), encoding)


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise DocumentError(f"{path}: starts like {_ENCODING_NAMES[encoding]} text but is not valid "
                                    f"{_ENCODING_NAMES[encoding]} (byte {exc.start})") from None
    if b"\x00" in data:
        raise DocumentError(f"{path}: looks like a binary file (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc.start
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    # cp1252 decodes almost anything; accept it only when the result looks like prose.
    if text is not None and not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return text, "cp1252"
    raise DocumentError(f"{path}: is not UTF-8 text (invalid byte at offset {utf8_error}) and its encoding "
                        "could not be recognised; convert it to UTF-8 and open it again")


def save_text(path: str | Path, text: str) -> None:
    """Save ``text`` as UTF-8, atomically: the file is replaced only once it is completely written."""
    path = Path(path)
    data = text.encode("utf-8")
    out = QSaveFile(str(path))
    if not out.open(QIODevice.OpenModeFlag.WriteOnly):
        raise DocumentError(f"{path}: cannot be saved ({out.errorString()})")
    try:
        written = out.write(data)
        if written != len(data):
            raise DocumentError(f"{path}: cannot be saved ({out.errorString() or 'incomplete write'})")
    except BaseException:
        out.cancelWriting()
        raise
    if not out.commit():
        raise DocumentError(f"{path}: cannot be saved ({out.errorString()})")
