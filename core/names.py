"""Names that come from files and people (a manifest's ``name``, ``--name``): shown safely, and
one rule for the folder a name gets.

``printable(text)`` is how any such text is put on a terminal or into a message: control
characters (escape sequences that clear the screen or set the title, line breaks that would
forge a line of output, bidi overrides that reverse what follows) are written as escapes such
as ``\\x1b``, and a very long text is cut. ``folder_name(name)`` is the folder a model or a
fine-tune of that name gets: letters, digits, '-', '_' and '.', at most NAME_MAX characters
("" when nothing is left).
"""

from __future__ import annotations

import re
import unicodedata

NAME_MAX = 64  # characters of a folder made from a name (a file system allows 255 bytes)
SHOWN_MAX = 200  # characters of a name shown in a message

# Format characters that reorder or hide text (the rest of category Cf, such as the joiners of
# emoji sequences, are harmless).
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _unsafe(ch: str) -> bool:
    return ch in _BIDI or unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs")


def printable(text: object, limit: int = SHOWN_MAX, keep: str = "") -> str:
    """``text`` with every control character (but those in ``keep``) escaped, at most ``limit``
    characters (cut with "…")."""
    text = str(text)
    if any(_unsafe(ch) and ch not in keep for ch in text):
        text = "".join(ch if ch in keep or not _unsafe(ch) else _NAMED.get(ch) or _escape(ch) for ch in text)
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def folder_name(name: str) -> str:
    """The folder for a model or fine-tune named ``name``: runs of other characters become '-',
    at most NAME_MAX characters, never starting or ending with '-' or '.' ("" when nothing is left)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return cleaned[:NAME_MAX].rstrip("-.")
