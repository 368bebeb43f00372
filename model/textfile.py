"""Recognising a text file's encoding: the one detector behind the editor, training and the
fine-tune wizard.

Free of torch, Qt and numpy, so the GUI can check a file before it opens it or hands it to a
training process. UTF-8 is the norm; a byte-order mark selects UTF-8/16/32; UTF-16 without a
mark is recognised by its zero bytes; other bytes that are not UTF-8 are read as Windows-1252
when that gives prose. Anything else is refused with a message that names the file and says why:
``kind`` tells "binary" (not a text file at all) from "encoding" (text in an encoding Inkwell
does not recognise: convert it to UTF-8) and "empty".
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = (".txt", ".md", ".text", ".markdown")

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its mark starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
ENCODING_NAMES = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8 with byte-order mark", "utf-16": "UTF-16", "utf-32": "UTF-32",
    "utf-16-le": "UTF-16 (little-endian, no byte-order mark)", "utf-16-be": "UTF-16 (big-endian, no byte-order mark)",
    "cp1252": "Windows-1252",
}
# Real prose has next to no control characters other than tab, line feed, form feed and carriage
# return; binary data has plenty. Above this share a file is taken for binary.
CONTROL_SHARE = 0.01
_SAMPLE = 1 << 16


class TextFileError(ValueError):
    """A file that cannot be read as text; ``kind`` is "empty", "binary", "encoding" or "io"."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # a key of ENCODING_NAMES

    @property
    def encoding_name(self) -> str:
        return ENCODING_NAMES.get(self.encoding, self.encoding)

    @property
    def is_utf8(self) -> bool:
        return self.encoding in ("utf-8", "utf-8-sig")


def decode_bytes(data: bytes, source: str | Path, allow_empty: bool = True) -> Decoded:
    """The text in ``data`` (the bytes of the file ``source``, named in messages)."""
    if not data.strip() and not allow_empty:
        raise TextFileError(f"{source}: the file is empty", "empty")
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(name)
            except UnicodeDecodeError as exc:
                raise TextFileError(f"{source}: starts like {ENCODING_NAMES[name]} text but is not valid "
                                    f"{ENCODING_NAMES[name]} ({exc.reason} at byte {exc.start}); "
                                    f"convert it to UTF-8", "encoding") from None
            return Decoded(_checked(text, source, allow_empty), name)
    if b"\x00" in data:
        guess = _utf16_without_bom(data)
        if guess:
            try:
                return Decoded(_checked(data.decode(guess), source, allow_empty), guess)
            except UnicodeDecodeError:
                pass
        raise TextFileError(f"{source}: this is a binary file, not text (it contains zero bytes)", "binary")
    try:
        return Decoded(_checked(data.decode("utf-8"), source, allow_empty), "utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc.start
    if _control_share(data[:_SAMPLE]) > CONTROL_SHARE:
        raise TextFileError(f"{source}: this is a binary file, not text (neither UTF-8 nor Windows-1252)", "binary")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    # Windows-1252 decodes almost anything; accept it only when the result reads like prose.
    if text is not None and not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return Decoded(text, "cp1252")
    raise TextFileError(f"{source}: is not UTF-8 text (invalid byte at offset {utf8_error}) and its encoding "
                        "could not be recognised; convert it to UTF-8 and try again", "encoding")


def read_file(path: str | Path, max_bytes: int | None = None, allow_empty: bool = True) -> tuple[Decoded, bytes]:
    """(decoded text, raw bytes) of the file at ``path``; the bytes are for checksums."""
    path = Path(path)
    try:
        if path.is_dir():
            raise TextFileError(f"{path}: is a folder, not a text file", "io")
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise TextFileError(f"{path}: the file is {size // 2**20} MiB; the limit is {max_bytes // 2**20} MiB", "io")
        data = path.read_bytes()
    except OSError as exc:
        raise TextFileError(f"{path}: cannot be opened ({exc.strerror or exc})", "io") from None
    return decode_bytes(data, path, allow_empty), data


def _utf16_without_bom(data: bytes) -> str | None:
    sample = data[:_SAMPLE]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _control_share(sample: bytes) -> float:
    controls = sum(1 for b in sample if (b < 32 and b not in (9, 10, 12, 13)) or b == 0x7F)
    return controls / max(len(sample), 1)


def _checked(text: str, source: str | Path, allow_empty: bool) -> str:
    if not allow_empty and not text.strip():
        raise TextFileError(f"{source}: the file holds no text (only white space)", "empty")
    sample = text[:_SAMPLE]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\f\r")
    if controls > CONTROL_SHARE * len(sample):
        raise TextFileError(f"{source}: this is a binary file, not text (it is full of control characters)", "binary")
    return text
