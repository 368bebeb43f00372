"""Reading and saving the text files Inkwell edits (.txt, .md).

Files are saved as UTF-8 through QSaveFile, so a failed or interrupted save leaves the old file as
it was. On reading, model.textfile recognises the encoding (UTF-8 is the norm; UTF-16/32 and
Windows-1252 text are converted: the window says so, and the next save writes UTF-8); anything
else, binary files included, is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QIODevice, QSaveFile

from model.textfile import ENCODING_NAMES, TextFileError, read_file

MAX_BYTES = 64 * 1024 * 1024
FILE_FILTER = "Text files (*.txt *.md *.markdown *.text);;All files (*)"


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
        return ENCODING_NAMES.get(self.encoding, self.encoding)


def read_text(path: str | Path) -> LoadedText:
    try:
        decoded, _ = read_file(path, max_bytes=MAX_BYTES)
    except TextFileError as exc:
        raise DocumentError(str(exc)) from None
    # Qt's editor shows \r as a glyph; keep line ends uniform and let saving write \n.
    return LoadedText(decoded.text.replace("\r\n", "\n").replace("\r", "\n"), decoded.encoding)


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
