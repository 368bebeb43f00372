"""What a line of Markdown looks like, for light highlighting (Qt-free).

Only the shape of the text is read: headings, emphasis, list markers, block quotes, inline code
and fenced code blocks. Nothing is rewritten: the file keeps every character the writer typed.
``line_spans`` works one line at a time with the one piece of state Markdown carries from line to
line here, whether the line is inside a fenced code block.
"""

from __future__ import annotations

import re
from pathlib import Path

SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")

HEADING = "heading"
STRONG = "strong"
EMPHASIS = "emphasis"
CODE = "code"
MARKER = "marker"  # list bullets and numbers, the ">" of a quote, the #s of a heading
QUOTE = "quote"

_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?=\s|$)")
_LIST = re.compile(r"^\s*([-*+]|\d{1,9}[.)])(?=\s)")
_QUOTE = re.compile(r"^ {0,3}(>+)")
_CODE = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![*\w])(\*|_)(?=[^\s*_])(.+?)(?<=[^\s*_])\1(?![*\w])")


def is_markdown(path: str | Path | None) -> bool:
    return path is not None and Path(path).suffix.lower() in SUFFIXES


def line_spans(line: str, in_fence: bool) -> tuple[list[tuple[int, int, str]], bool]:
    """The (start, length, kind) spans of ``line`` and whether the next line is in a fence."""
    if _FENCE.match(line):
        return [(0, len(line), CODE)], not in_fence
    if in_fence:
        return [(0, len(line), CODE)], True
    spans: list[tuple[int, int, str]] = []
    heading = _HEADING.match(line)
    if heading:
        spans.append((0, len(line), HEADING))
        spans.append((heading.start(1), len(heading.group(1)), MARKER))
    else:
        quote = _QUOTE.match(line)
        if quote:
            spans.append((0, len(line), QUOTE))
            spans.append((quote.start(1), len(quote.group(1)), MARKER))
        bullet = _LIST.match(line, quote.end() if quote else 0)
        if bullet:
            spans.append((bullet.start(1), len(bullet.group(1)), MARKER))
    code = [(m.start(), m.end()) for m in _CODE.finditer(line)]
    spans.extend((start, end - start, CODE) for start, end in code)

    def outside_code(match: re.Match) -> bool:
        return not any(start < match.end() and match.start() < end for start, end in code)

    strong = [m for m in _STRONG.finditer(line) if outside_code(m)]
    spans.extend((m.start(), m.end() - m.start(), STRONG) for m in strong)
    for m in _EMPHASIS.finditer(line):
        if outside_code(m) and not any(s.start() <= m.start() and m.end() <= s.end() and
                                       s.group(1)[0] == m.group(1) for s in strong):
            spans.append((m.start(), m.end() - m.start(), EMPHASIS))
    return spans, False


def code_ranges(spans: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """The (start, end) of the code in ``spans``: no spelling is checked there."""
    return [(start, start + length) for start, length, kind in spans if kind == CODE]
