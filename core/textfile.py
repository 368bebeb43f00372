"""Recognising a text file's encoding: the one detector behind the editor, training and the
fine-tune wizard.

Free of torch, Qt and numpy, so the GUI can check a file before it opens it or hands it to a
training process. UTF-8 is the norm; a byte-order mark selects UTF-8/16/32. Without a mark,
UTF-32 and UTF-16 are recognised by decoding: the text must decode strictly and read like text
(no unassigned, private-use or control characters), which bytes in another encoding almost never
do; this finds UTF-16 of any script, with or without the zero bytes of Latin text. Other bytes
that are not UTF-8 are read as Windows-1252 when that gives prose. Anything else is refused with
a message that names the file and says why: ``kind`` tells "binary" (not a text file at all) from
"encoding" (text in an encoding Inkwell does not recognise: convert it to UTF-8), "empty" and "io".

``Decoded.certain`` is False for a guess (Windows-1252, UTF-16 without a mark or zero bytes);
``Decoded.encode`` writes text back in the encoding it was read in, mark included, so that what
was not edited keeps its bytes even when the guess was wrong.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.fileio import FileTooLarge, MiB, NotRegularFile, describe_os_error, read_bytes

TEXT_SUFFIXES = (".txt", ".md", ".text", ".markdown")

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "utf-32-le"),  # before UTF-16 LE: its mark starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32", "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16-be"),
)
ENCODING_NAMES = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8 with byte-order mark", "utf-16": "UTF-16", "utf-32": "UTF-32",
    "utf-16-le": "UTF-16 (little-endian, no byte-order mark)", "utf-16-be": "UTF-16 (big-endian, no byte-order mark)",
    "utf-32-le": "UTF-32 (little-endian, no byte-order mark)", "utf-32-be": "UTF-32 (big-endian, no byte-order mark)",
    "cp1252": "Windows-1252",
}
# Real prose has next to no control characters other than tab, line feed, form feed and carriage
# return; binary data has plenty. Above this share a file is taken for binary.
CONTROL_SHARE = 0.01
# A candidate decoding without a byte-order mark is text when at most this share of its
# characters are ones real text does not hold (unassigned, private use, controls, most format
# characters). Windows-1252 prose read as UTF-16 has 10-30 % of them; the wrong byte order of
# real UTF-16 text 0.5 % and more; real text none (a few, from newer Unicode versions).
IMPLAUSIBLE_SHARE = 0.002
# Without zero bytes as evidence, UTF-16 must also keep its letters to few scripts: at least this
# share of them in the three most used (Chinese, Japanese and Korean text all do).
MIN_COHERENCE = 0.9
# Legacy CJK encodings, refused by name: (codec, name, the scripts of its text, their least share
# of the letters). Japanese always has kana between its kanji.
# Chinese and Korean encodings decode each other's bytes, so they are named together.
_KANA = ("HIRAGANA", "KATAKANA")
_JAPANESE, _CHINESE_KOREAN = "Japanese (Shift-JIS or EUC-JP)", "Chinese or Korean (GBK, Big5 or EUC-KR)"
_LEGACY = (("shift_jis", _JAPANESE, _KANA, 0.1), ("euc_jp", _JAPANESE, _KANA, 0.1),
           ("gbk", _CHINESE_KOREAN, ("CJK",), 0.9), ("big5", _CHINESE_KOREAN, ("CJK",), 0.9),
           ("euc_kr", _CHINESE_KOREAN, ("HANGUL",), 0.9))
# UTF-16 without zero bytes is refused when more of its byte pairs than this are two ASCII letters
# (or spaces): about 10 % in CJK text, 40 % and more in text of another encoding.
MAX_ASCII_PAIRS = 0.35
_WORD_BYTES = frozenset(b" ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# Format characters real text does use: soft hyphen, zero-width (non-)joiners and space, marks of
# direction, word joiner, the byte-order mark, emoji tag characters.
_TEXT_FORMAT_CHARS = set("\u00ad\u061c\u200b\u200c\u200d\u200e\u200f\u2060\ufeff") | {chr(c) for c in range(0xE0020, 0xE0080)}
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not (b < 32 and b not in (9, 10, 12, 13)))
TEXT_MAX_BYTES = 64 * MiB  # what the editor opens
TRAINING_MAX_BYTES = 256 * MiB  # a training text (about 60 million tokens)
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
    bom: bytes = b""  # the byte-order mark the file starts with, written back by encode()
    certain: bool = True  # False: a guess (Windows-1252; UTF-16 without mark and zero bytes)
    note: str = ""  # what else the reader should know about the guess

    @property
    def encoding_name(self) -> str:
        return ENCODING_NAMES.get(self.encoding, self.encoding)

    @property
    def is_utf8(self) -> bool:
        return self.encoding in ("utf-8", "utf-8-sig")

    @property
    def codec(self) -> str:
        """The Python codec that writes text in this encoding, without the mark."""
        for bom, name, codec in _BOMS:
            if name == self.encoding and bom == self.bom:
                return codec
        return self.encoding

    def encode(self, text: str) -> bytes:
        """``text`` in the encoding it was read in, mark included; UnicodeEncodeError for a
        character the encoding cannot hold (Windows-1252 holds few)."""
        return self.bom + text.encode(self.codec)


def decode_bytes(data: bytes, source: str | Path, allow_empty: bool = True) -> Decoded:
    """The text in ``data`` (the bytes of the file ``source``, named in messages)."""
    if not data.strip() and not allow_empty:
        raise TextFileError(f"{source}: the file is empty", "empty")
    # One ladder of guesses, from the surest (a byte-order mark) to the weakest.
    found = _with_mark(data, source)
    if found is None:
        found = _with_zero_bytes(data, source) if b"\x00" in data else _guessed(data, source)
    return dataclasses.replace(found, text=_checked(found.text, source, allow_empty))


def _with_mark(data: bytes, source: str | Path) -> Decoded | None:
    """The text after a byte-order mark; None without one."""
    for bom, name, codec in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data[len(bom):].decode(codec), name, bom)
            except UnicodeDecodeError as exc:
                raise TextFileError(f"{source}: starts like {ENCODING_NAMES[name]} text but is not valid "
                                    f"{ENCODING_NAMES[name]} ({exc.reason} at byte {exc.start + len(bom)}); "
                                    f"convert it to UTF-8", "encoding") from None
    return None


def _with_zero_bytes(data: bytes, source: str | Path) -> Decoded:
    """Zero bytes: UTF-16 or UTF-32 of mostly Latin text, or not text at all."""
    found = _without_mark(data, ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be"), certain=True)
    if found is None:
        raise TextFileError(f"{source}: this is a binary file, not text (it contains zero bytes)", "binary")
    return Decoded(found.text, found.encoding)


def _guessed(data: bytes, source: str | Path) -> Decoded:
    """Text with neither a mark nor zero bytes: UTF-8, else the likeliest other encoding."""
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc.start
    western = _windows_1252(data)
    if western is not None and _reads_as_western(western, spaced=True):
        return Decoded(western, "cp1252", certain=False, note=_mixed(data))
    # CJK text in a legacy encoding can also read as UTF-16 CJK: it is refused, by name.
    legacy = _legacy(data)
    if legacy:
        raise TextFileError(f"{source}: is not UTF-8 text; it looks like {legacy} text in a legacy encoding, "
                            "which Inkwell does not read: convert it to UTF-8 and try again", "encoding")
    # UTF-16 without zero bytes: text without a single ASCII character (CJK, say). Its bytes are
    # tried before the share of control bytes is judged: half of them are arbitrary.
    found = _without_mark(data, ("utf-16-le", "utf-16-be"), certain=False)
    if found is not None:
        return Decoded(found.text, found.encoding, certain=False)
    if _control_share(data[:_SAMPLE]) > CONTROL_SHARE:
        raise TextFileError(f"{source}: this is a binary file, not text (neither UTF-8 nor Windows-1252)", "binary")
    # Windows-1252 decodes almost anything: accept it only when the result is mostly ASCII, as
    # Western prose is; Cyrillic, Greek or CJK in a legacy encoding read as Windows-1252 is not.
    if western is not None and _reads_as_western(western, spaced=False):
        return Decoded(western, "cp1252", certain=False, note=_mixed(data))
    raise TextFileError(f"{source}: is not UTF-8 text (invalid byte at offset {utf8_error}) and its encoding "
                        "could not be recognised (it may be in a legacy encoding such as Shift-JIS, GBK or "
                        "KOI8-R); convert it to UTF-8 and try again", "encoding")


def read_file(path: str | Path, max_bytes: int = TEXT_MAX_BYTES, allow_empty: bool = True) -> tuple[Decoded, bytes]:
    """(decoded text, raw bytes) of the file at ``path``; the bytes are for checksums. Only a
    regular file of at most ``max_bytes`` is read (core.fileio.read_bytes)."""
    path = Path(path)
    try:
        data = read_bytes(path, max_bytes)
    except OSError as exc:
        raise read_error(path, exc) from None
    return decode_bytes(data, path, allow_empty), data


def read_error(path: str | Path, exc: OSError) -> TextFileError:
    """The TextFileError (kind "io") for a file that could not be read."""
    if isinstance(exc, NotRegularFile):
        return TextFileError(f"{path}: this is {exc.strerror}; only regular files can be opened", "io")
    if isinstance(exc, FileTooLarge):
        return TextFileError(f"{path}: {exc.strerror}", "io")
    return TextFileError(f"{path}: cannot be opened ({describe_os_error(exc)})", "io")


def _without_mark(data: bytes, candidates: tuple[str, ...], certain: bool) -> Decoded | None:
    """The candidate encoding in which ``data`` decodes strictly into what reads as text; when
    several do (CJK UTF-16 in either byte order), the one whose letters keep to fewest scripts."""
    best: tuple | None = None
    for rank, codec in enumerate(candidates):
        if len(data) % (4 if "32" in codec else 2):
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        sample = text[:_SAMPLE]
        bad = _implausible(sample)
        if bad > IMPLAUSIBLE_SHARE * len(sample):
            continue
        high, low = _zeros(data[:2 * _SAMPLE], codec)
        # Pairs of ASCII letters tell words in another encoding, wherever a stray NUL falls: one
        # at an even offset of ASCII text sits where UTF-16 BE keeps its high bytes (the zero
        # bytes of real UTF-16/32 Latin text pair with letters, and CJK text has few such pairs).
        if _ascii_pairs(data[:2 * _SAMPLE]) > MAX_ASCII_PAIRS:
            continue
        coherence = _coherence(sample)
        if not certain and coherence < MIN_COHERENCE:
            continue  # e.g. Big5 or GBK read as UTF-16: letters of Yi, Vai, Hangul, Bamum...
        score = (bad, -high, -coherence, rank)
        if best is None or score < best[0]:
            best = (score, codec, text)
    return None if best is None else Decoded(best[2], best[1], certain=certain)


def _legacy(data: bytes) -> str | None:
    """The name of a legacy CJK encoding ``data`` is text in: it decodes strictly into letters of
    the script that encoding is for (Japanese: kana between the kanji). Real UTF-16 bytes, whose
    low bytes are arbitrary, almost never do."""
    for codec, name, script, share in _LEGACY:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        sample = text[:_SAMPLE]
        if _implausible(sample) > IMPLAUSIBLE_SHARE * len(sample):
            continue
        scripts = _scripts(sample)
        letters = sum(scripts.values())
        if letters and sum(n for key, n in scripts.items() if key in script) >= share * letters:
            return name
    return None


def _scripts(text: str) -> Counter[str]:
    """Letters by script, named by the first word of their Unicode names (LATIN, CJK, HIRAGANA...)."""
    scripts: Counter[str] = Counter()
    for ch, n in Counter(text).items():
        if unicodedata.category(ch).startswith("L"):
            scripts[unicodedata.name(ch, "?").split(" ")[0]] += n
    return scripts


def _ascii_pairs(data: bytes) -> float:
    """The share of byte pairs that are two ASCII letters or spaces: words of another encoding,
    which UTF-16 of CJK text (its high bytes are few, and rarely letters) seldom makes."""
    pairs = len(data) // 2
    if not pairs:
        return 0.0
    wordy = _WORD_BYTES
    return sum(1 for i in range(0, 2 * pairs, 2) if data[i] in wordy and data[i + 1] in wordy) / pairs


def _implausible(text: str) -> int:
    """How many characters of ``text`` real text does not hold."""
    bad = 0
    for ch, n in Counter(text).items():
        category = unicodedata.category(ch)
        if category in ("Cn", "Co", "Cs") or (category == "Cc" and ch not in "\t\n\r\f") or \
                (category == "Cf" and ch not in _TEXT_FORMAT_CHARS):
            bad += n
    return bad


def _zeros(data: bytes, codec: str) -> tuple[int, int]:
    """Zero bytes where ``codec`` puts the high byte of each character, and where the lowest:
    Latin text in the right byte order has them high, read in the wrong order low."""
    if "32" in codec:
        high, low = (data[3::4], data[0::4]) if codec.endswith("le") else (data[0::4], data[3::4])
    else:
        high, low = (data[1::2], data[0::2]) if codec.endswith("le") else (data[0::2], data[1::2])
    return high.count(0), low.count(0)


def _coherence(text: str) -> float:
    """The share of letters in the three scripts most used; real text keeps to few, misread
    bytes scatter."""
    scripts = _scripts(text)
    total = sum(scripts.values())
    return sum(n for _, n in scripts.most_common(3)) / total if total else 1.0


def _windows_1252(data: bytes) -> str | None:
    """The text, when ``data`` is Windows-1252 without control characters."""
    if data.translate(None, _NOT_CONTROL_BYTES):  # (deletes all but control bytes; fast on 60 MiB)
        return None
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return None


def _reads_as_western(text: str, spaced: bool) -> bool:
    """Western prose: mostly ASCII and, when ``spaced``, with white space between words (or too
    short to have any)."""
    sample = text[:_SAMPLE]
    ascii_share = sum(1 for c in sample if " " <= c <= "~" or c in "\t\n\r") / max(len(sample), 1)
    if ascii_share < 0.6:
        return False
    return not spaced or len(sample) < 16 or sum(sample.count(c) for c in " \t\n") >= 0.03 * len(sample)


def _mixed(data: bytes) -> str:
    if _UTF8_SEQUENCE.search(data, 0, 1 << 20):
        return "parts of it look like UTF-8: the file may mix two encodings"
    return ""


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
