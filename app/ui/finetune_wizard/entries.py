"""Training texts as the Texts page lists them: read, checked, counted, and what happens to each."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from core.prose import looks_hard_wrapped
from core.textfile import TRAINING_MAX_BYTES, TextFileError, read_file


@dataclass
class TextEntry:
    path: Path
    size: int
    tokens: int = 0
    sha256: str = ""
    problem: str | None = None    # why it is left out (binary, encoding, empty, duplicate)
    note: str = ""                # a remark that does not leave it out (converted encoding)
    wrap_width: int = 0           # lines hard-wrapped at about this many characters (0: not)

    @property
    def usable(self) -> bool:
        return self.problem is None


def describe(entry: TextEntry, unwrap: bool) -> str:
    """The Note column: why a file is left out, or what happens to it."""
    if entry.problem:
        return entry.problem
    notes = [entry.note] if entry.note else []
    if entry.wrap_width:
        notes.append(f"Lines wrapped at about {entry.wrap_width} characters: "
                     + ("joined into paragraphs." if unwrap else "kept as they are."))
    return " ".join(notes)


def read_entry(path: Path, seen: dict[str, Path]) -> TextEntry:
    """Check one file as training text; ``seen`` maps contents (sha256) to the first file with them."""
    from core.tokenizer import get_encoding

    try:
        size = path.stat().st_size
    except OSError as exc:
        return TextEntry(path, 0, problem=f"cannot be read ({exc.strerror}).")
    try:
        decoded, data = read_file(path, TRAINING_MAX_BYTES, allow_empty=False)
    except TextFileError as exc:
        what_to_do = {
            "binary": "Left out: this is not a text file. Add .txt or .md files (export other documents as plain text).",
            "encoding": "Left out: its text encoding is not recognised. Save it as UTF-8 in your editor and add it again.",
            "empty": "Left out: the file has no text.",
        }.get(exc.kind, f"Left out: {str(exc).split(': ', 1)[-1]}")
        return TextEntry(path, size, problem=what_to_do)
    sha = hashlib.sha256(data).hexdigest()
    if sha in seen:
        return TextEntry(path, size, sha256=sha, problem=f"Left out: the same text as {seen[sha].name} (a duplicate).")
    seen[sha] = path
    tokens = len(get_encoding().encode_ordinary(decoded.text))
    note = "" if decoded.is_utf8 else f"Read as {decoded.encoding_name}{'' if decoded.certain else ' (a guess)'}."
    wrapped = looks_hard_wrapped(decoded.text)
    return TextEntry(path, size, tokens, sha, None, note, wrapped.width if wrapped.hard_wrapped else 0)
