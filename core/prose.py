"""Prose-shaped training text: undo the hard line wraps of printed and e-text editions.

Plain-text editions (Project Gutenberg and the like) break every paragraph into lines of about 70
columns. A model trained on them learns to put a line break every dozen words, so its
suggestions start with one in the middle of a sentence. ``normalise_prose`` joins the lines of a
paragraph, keeps the breaks that mean something (paragraphs, verse, letters, short dialogue lines,
headings) and removes typesetting marks (``_italic_``, doubled spaces after a full stop).

Torch-free: the fine-tune wizard uses ``looks_hard_wrapped`` to tell the writer about their files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A file counts as hard-wrapped when most of its paragraphs' lines run on into the next line
# and its lines have a narrow maximum width, as typeset text has.
_MIN_WRAP_WIDTH = 45
_MAX_WRAP_WIDTH = 100
_MIN_WRAPPED_SHARE = 0.5
_MIN_LINES = 8
_ROOM_TO_SPARE = 0.85

_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_SPACES = re.compile(r"[ \t]{2,}")
_DOUBLE_SPACED = re.compile(r"[.!?]  \S")
_SINGLE_SPACED = re.compile(r"[.!?] \S")
_SENTENCE_END = (".", "!", "?", "\"", "\u201d", "'", "\u2019", ":", ")")


@dataclass(frozen=True)
class WrapReport:
    """What ``looks_hard_wrapped`` found, in numbers a message can quote."""

    hard_wrapped: bool
    width: int              # the wrap width (98th percentile of line lengths)
    lines: int              # non-blank lines
    continued_share: float  # share of non-blank lines followed by another non-blank line


def wrap_width(lines: list[str]) -> int:
    lengths = sorted(len(line.rstrip()) for line in lines if line.strip())
    if not lengths:
        return 0
    # The 98th percentile: a few overlong lines (tables, a long word) do not set the width.
    return lengths[min(len(lengths) - 1, int(len(lengths) * 0.98))]


def looks_hard_wrapped(text: str) -> WrapReport:
    lines = text.splitlines()
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    width = wrap_width(lines)
    if len(nonblank) < _MIN_LINES:
        return WrapReport(False, width, len(nonblank), 0.0)
    continued = [i for i in nonblank if i + 1 < len(lines) and lines[i + 1].strip()]
    share = len(continued) / len(nonblank)
    # Lines near the wrap width must dominate: in verse or a list most lines end well short of it.
    full = sum(1 for i in nonblank if len(lines[i].rstrip()) >= 0.6 * width)
    # A wrap falls mid-sentence, so many lines go on in lower case; verse lines mostly start with
    # a capital, and a poem's lines are shorter than any page's.
    lower = sum(1 for i in continued if lines[i + 1].lstrip()[:1].islower())
    hard = (_MIN_WRAP_WIDTH <= width <= _MAX_WRAP_WIDTH and share >= _MIN_WRAPPED_SHARE
            and full / len(nonblank) >= 0.5 and lower >= 0.3 * max(1, len(continued)))
    return WrapReport(hard, width, len(nonblank), share)


def _is_wrapped_break(line: str, next_line: str, width: int, double_spaced: bool) -> bool:
    """Whether the break after ``line`` was made by the typesetter (the next word did not fit)."""
    if next_line[:1].isspace():
        return False  # an indented line: verse, a letter's address, a quotation
    stripped = line.rstrip()
    first_word = next_line.split(maxsplit=1)[0] if next_line.split() else ""
    # Typewriter-style editions put two spaces after a full stop, and wrap counting both.
    gap = 2 if double_spaced and stripped.endswith(_SENTENCE_END) else 1
    # Had the next word fitted with room to spare, the line was ended on purpose (verse, a short
    # line of dialogue, a heading, the end of a letter). Room to spare, because many editions wrap
    # a few columns short of their widest lines.
    return len(stripped) + gap + len(first_word) > _ROOM_TO_SPARE * width


def _unwrap_paragraph(lines: list[str], width: int, double_spaced: bool) -> list[str]:
    out = [lines[0].strip()]
    for prev, line in zip(lines, lines[1:]):
        if _is_wrapped_break(prev, line, width, double_spaced):
            # A word broken with a hyphen at the line end stays hyphenated ("well-known"): the
            # editions this is for use "--" for dashes and keep real compound hyphens.
            # The same for an em dash set close up ("word\u2014" then "next"), as many editions print it.
            joiner = "" if out[-1].endswith("--") or (out[-1].endswith("\u2014") and not out[-1].endswith(" \u2014")) else " "
            out[-1] = out[-1] + joiner + line.strip()
        else:
            out.append(line.strip())
    return out


def strip_typesetting(text: str) -> str:
    """Remove ``_italic_`` marks and doubled spaces; nothing else."""
    text = _ITALIC.sub(r"\1", text)
    return "\n".join(_SPACES.sub(" ", line) for line in text.split("\n"))


def normalise_prose(text: str) -> str:
    """Paragraphs on one line each, separated by one blank line; intentional breaks kept.

    Text that does not look hard-wrapped is returned with only its typesetting marks removed
    and its runs of blank lines reduced to one.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    report = looks_hard_wrapped(text)
    width = report.width
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    unwrap = report.hard_wrapped
    double_spaced = len(_DOUBLE_SPACED.findall(text)) > 0.3 * len(_SINGLE_SPACED.findall(text))
    blocks = ["\n".join(_unwrap_paragraph(p, width, double_spaced) if unwrap else [line.rstrip() for line in p])
              for p in paragraphs]
    return strip_typesetting("\n\n".join(blocks)) + ("\n" if blocks else "")
