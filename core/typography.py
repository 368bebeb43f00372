"""Quotes and dashes: the model's one canonical style, and the writer's.

The bundled model is trained on ONE style (model/corpus_prep.py): straight ASCII quotes (" and ')
and the unspaced em dash "—" for every dash. Writers differ: straight or curly quotes, "—",
"--" or a spaced dash. So the text the model sees is made canonical first (``canonical``,
``for_model``), and what it writes is shown in the document's own style (``detect_style``,
``apply_style``; ``Styler`` does the same for text arriving in pieces).

Curly quotes need an opening or closing form: a quote opens after whitespace, the start of the
text, an opening bracket or quote; after a dash it opens when a word follows it ("—“Stop”") and
closes otherwise ("I was going to—”"); anywhere else it closes. An apostrophe is ’: inside or at
the end of a word (don't, o'clock, the writers' books), before a digit ('90s) and at the start
of the usual elisions ('tis, 'em, 'cause).

Torch-free, numpy-free, Qt-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- the canonical style (the training corpus and the model's context) --------------------------

# Pure typesetting characters (soft hyphen, zero-width characters, byte-order mark): a translate
# table that drops them; and the odd spaces (no-break and the like) that become plain spaces.
INVISIBLE: dict[int, None] = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
ODD_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u2033"
_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b\u2032"
_QUOTES = {
    **dict.fromkeys(map(ord, _DOUBLE_QUOTES), '"'),
    **dict.fromkeys(map(ord, _SINGLE_QUOTES), "'"),
    **dict.fromkeys(map(ord, ODD_SPACES), " "),
    ord("\u2015"): "\u2014",  # horizontal bar
}
_CHANGED = tuple((chr(code), new or "") for code, new in {**INVISIBLE, **_QUOTES}.items())
_EN_DASH = re.compile(r"(?<!\d)\u2013|\u2013(?!\d)")   # not a number range (1880–1925)
# Runs of dashes, each starting with its character: re then skips ahead to it.
_EM_DASHES = re.compile("\u2014\u2014+")
_HYPHEN_DASHES = re.compile("--+")
_SPACED_DASH = re.compile(r" (?<=\S ) *\u2014 +(?=\S)")  # " +— +" between non-spaces

EM_DASH = "\u2014"


def canonical(text: str) -> str:
    """Straight quotes, one em dash for every dash, plain spaces, no invisible typesetting.

    Curly quotes become straight ones; "--", "―", "—" runs and an en dash that is not a number
    range (10–12) become one "—", which loses the spaces around it when it has text on both
    sides; odd spaces (no-break and the like) become plain spaces; soft hyphens, zero-width
    characters and byte-order marks are dropped. Hyphens in compound words stay.
    """
    # This runs on every keystroke over all the text the model may see, so each step runs only
    # where its characters occur: str.translate and a regex scan cost 20-50 ns a character even
    # where nothing changes, finding a character ~0.1 ns.
    if not text.isascii():  # every character the tables change is outside ASCII
        for char, replacement in _CHANGED:
            if char in text:
                text = text.replace(char, replacement)
        if "\u2013" in text:
            text = _EN_DASH.sub(EM_DASH, text)
        if EM_DASH in text:
            text = _EM_DASHES.sub(EM_DASH, text)
    if "--" in text:  # after the em dash runs: it makes none (one pass of both would be the same)
        text = _HYPHEN_DASHES.sub(EM_DASH, text)
    return _SPACED_DASH.sub(EM_DASH, text) if " \u2014" in text else text


# --- the document's style -----------------------------------------------------------------------

DETECT_CHARS = 20_000  # how much of the text before the cursor decides its style
# The dash forms a writer may use, in order of preference when counts tie.
DASHES = (EM_DASH, "--", " \u2014 ", " -- ", " \u2013 ", " - ")


@dataclass(frozen=True)
class Style:
    """How a document writes quotes and dashes."""

    curly_double: bool = False  # “ ” instead of "
    curly_single: bool = False  # ‘ ’ (and ’ as the apostrophe) instead of '
    dash: str = EM_DASH  # one of DASHES: what the canonical "—" is written as

    @property
    def spaced_dash(self) -> bool:
        return self.dash.startswith(" ")


CANONICAL = Style()

_HYPHEN_RUN = re.compile("--+")
_EM_RUN = re.compile("\u2014+")
# The lookbehind after the first character, not before it: re then skips ahead to a space or tab.
_SPACED_EN = re.compile(r"[ \t](?<=\S[ \t])\u2013[ \t](?=\S)")
_SPACED_HYPHEN = re.compile(r"[ \t](?<=\S[ \t])-[ \t](?=\S)")


def detect_style(text: str) -> Style:
    """The quote and dash style of ``text`` (the text before the cursor; its last DETECT_CHARS
    characters count): the majority of each, and straight quotes and "—" where it has none. A
    document with curly double quotes and no single quotes or apostrophes yet gets curly single
    ones too, and the other way round."""
    tail = text[-DETECT_CHARS:]
    straight_double = tail.count('"')
    curly_double = sum(tail.count(c) for c in "\u201c\u201d")
    straight_single = tail.count("'")
    curly_single = sum(tail.count(c) for c in "\u2018\u2019")
    double = curly_double > straight_double
    single = curly_single > straight_single
    if not straight_single and not curly_single:
        single = double
    if not straight_double and not curly_double:
        double = single
    counts = dict.fromkeys(DASHES, 0)
    _count_runs(tail, counts)
    if "\u2013" in tail:
        counts[" \u2013 "] = len(_SPACED_EN.findall(tail))
    if " - " in tail or "\t-" in tail or "-\t" in tail:
        counts[" - "] = len(_SPACED_HYPHEN.findall(tail))
    dash = max(DASHES, key=lambda d: (counts[d], -DASHES.index(d)))
    return Style(double, single, dash if counts[dash] else EM_DASH)


def _count_runs(text: str, counts: dict[str, int]) -> None:
    """Add the dashes written as runs to ``counts``: "--" or "---" (a run of four hyphens or more
    is no dash) and "—"s, spaced when a space or tab is on both sides. The space before a hyphen
    dash must not follow a hyphen, nor the one after it precede one; a space between two em dash
    runs belongs to the first. (Each run found by its first character: one pattern with the
    spaces in it made re try every position, ~30 ns a character.)"""
    if "--" in text:
        for m in _HYPHEN_RUN.finditer(text):
            a, b = m.span()
            if b - a <= 3:
                pre = a > 0 and text[a - 1] in " \t" and text[a - 2 : a - 1] != "-"
                post = text[b : b + 1] in (" ", "\t") and text[b + 1 : b + 2] != "-"
                counts[" -- " if pre and post else "--"] += 1
    if EM_DASH in text:
        taken = -1  # the space or tab after the last run, if it took one
        for m in _EM_RUN.finditer(text):
            a, b = m.span()
            pre = a > 0 and text[a - 1] in " \t" and a - 1 != taken
            post = text[b : b + 1] in (" ", "\t")
            taken = b if post else -1
            counts[" \u2014 " if pre and post else EM_DASH] += 1


_END_DASH = re.compile(r"(?<=\S)[ \t]+\u2014[ \t]*\Z")
_END_HYPHEN_DASH = re.compile(r"(?<=\S)[ \t]+-[ \t]*\Z")


def for_model(text: str, style: Style | None = None) -> str:
    """``text`` (before the cursor) as the model should see it: ``canonical``, and, in a document
    whose dash is a spaced hyphen (``style``), those hyphens as "—" too. A spaced dash the writer
    has just typed at the end ("word --", "word -- ") is the unspaced "—" the model knows: the
    suggestion then starts after the dash (``apply_style`` gives it the space the style owes)."""
    text = canonical(text)
    if style is not None and style.dash == " - ":
        text = _SPACED_HYPHEN.sub(EM_DASH, text)
        text = _END_HYPHEN_DASH.sub(EM_DASH, text)
    return _END_DASH.sub(EM_DASH, text) if text.rstrip(" \t").endswith(EM_DASH) else text


# --- the model's text in the document's style ---------------------------------------------------

_DASH_CHARS = "-\u2014\u2013\u2015"
_OPENERS = "([{<\u201c\u2018"
_CLOSING_PUNCT = ".,;:!?)]}>\u201d\u2019"
_ELISIONS = ("tis", "twas", "twere", "twould", "twill", "em", "cause", "cos", "til", "bout", "n")
_LONGEST_ELISION = max(map(len, _ELISIONS))
_TO_CANONICAL = {**dict.fromkeys(map(ord, _DOUBLE_QUOTES), '"'), **dict.fromkeys(map(ord, _SINGLE_QUOTES), "'"),
                 ord("\u2015"): EM_DASH}


def apply_style(suggestion: str, style: Style, before: str = "") -> str:
    """The model's ``suggestion`` (canonical text, to be inserted after ``before``, the text
    just before the cursor) in ``style``."""
    styler = Styler(style, before)
    return styler.push(suggestion) + styler.finish()


class Styler:
    """``apply_style`` for text that arrives in pieces: ``push`` returns the styled text that is
    decided so far, ``finish`` the rest. A character whose form depends on what follows it (a
    dash run, a quote after a dash, an opening single quote that may be an elision) is held back
    until that is known, so the pieces joined are always ``apply_style`` of the text joined."""

    def __init__(self, style: Style, before: str = ""):
        self.style = style
        self._pending = ""  # canonical text not yet decided
        self._prev = before[-1:]  # the last character on screen before the next one written
        self._prev_opens = _opens_at_end(before)
        # A spaced dash written without its trailing space ("word --"): a word after it gets one.
        self._space_owed = _ends_in_open_dash(before, style)

    def push(self, text: str) -> str:
        self._pending += text.translate(_TO_CANONICAL)
        return self._run(final=False)

    def finish(self) -> str:
        out = self._run(final=True)
        self._space_owed = False
        return out

    def _run(self, final: bool) -> str:
        out: list[str] = []
        text, i = self._pending, 0
        while i < len(text):
            step = self._one(text, i, final, out)
            if step is None:
                break  # undecided until more text comes
            i = step
        self._pending = text[i:]
        return "".join(out)

    def _emit(self, out: list[str], text: str, opens: bool = False) -> None:
        if self._space_owed:
            self._space_owed = False
            if opens or text[0].isalnum():
                out.append(" ")
        out.append(text)
        self._prev, self._prev_opens = text[-1], opens

    def _opening_context(self) -> bool:
        return not self._prev or self._prev.isspace() or self._prev in _OPENERS or self._prev_opens

    def _one(self, text: str, i: int, final: bool, out: list[str]) -> int | None:
        """Write the character at ``text[i]`` (a dash: its whole run); the index after what was
        written, or None when that needs text not yet here."""
        c = text[i]
        if c in _DASH_CHARS:
            j = i
            while j < len(text) and text[j] in _DASH_CHARS:
                j += 1
            if j == len(text) and not final:
                return None
            run, after = text[i:j], text[j : j + 1]
            if run == "-" or (run == "\u2013" and self._prev.isdigit() and after.isdigit()):
                self._emit(out, run)
                return j
            dash = self.style.dash
            if dash.startswith(" ") and (not self._prev or self._prev.isspace() or self._prev in _OPENERS):
                dash = dash[1:]
            if dash.endswith(" "):
                dash = dash[:-1]
                self._emit(out, dash)
                self._space_owed = True
            else:
                self._emit(out, dash)
            return j
        if c == '"' or c == "'":
            return self._quote(text, i, final, out)
        self._emit(out, c, opens=c in "([{<")
        return i + 1

    def _quote(self, text: str, i: int, final: bool, out: list[str]) -> int | None:
        c = text[i]
        curly = self.style.curly_double if c == '"' else self.style.curly_single
        closing = ("\u201d" if c == '"' else "\u2019") if curly else c
        opening = ("\u201c" if c == '"' else "\u2018") if curly else c
        after_dash = bool(self._prev) and self._prev in _DASH_CHARS
        if not after_dash and not self._opening_context():
            self._emit(out, closing)
            return i + 1
        rest = text[i + 1 : i + 2 + _LONGEST_ELISION]
        if not rest and not final:
            return None
        nxt = rest[:1]
        if after_dash and (not nxt or nxt.isspace() or nxt in _CLOSING_PUNCT):
            self._emit(out, closing)  # "I was going to—"
            return i + 1
        if c == "'":
            if nxt.isdigit():
                self._emit(out, closing)  # '90s
                return i + 1
            letters = re.match(r"[^\W\d_]*", rest)
            word = letters.group().lower() if letters else ""
            ended = len(word) < len(rest) or final
            if not ended and len(word) <= _LONGEST_ELISION and any(e.startswith(word) for e in _ELISIONS):
                return None  # 'tw... may still become 'twas
            if word in _ELISIONS:
                self._emit(out, closing)  # 'tis, 'em
                return i + 1
        self._emit(out, opening, opens=True)
        return i + 1


_OPEN_DASH = re.compile(r"\S[ \t]+(?:-{2,}|[\u2014\u2015]+|\u2013)\Z")
_OPEN_HYPHEN_DASH = re.compile(r"\S[ \t]+-\Z")


def _ends_in_open_dash(before: str, style: Style) -> bool:
    """Whether ``before`` ends in a dash with a space before it and none after it yet ("word --"),
    which ``for_model`` shows the model as "word—"."""
    tail = before[-16:]
    return bool(_OPEN_DASH.search(tail) or (style.dash == " - " and _OPEN_HYPHEN_DASH.search(tail)))


def _opens_at_end(before: str) -> bool:
    """Whether the last character of ``before`` is an opening quote or bracket."""
    if not before:
        return False
    last = before[-1]
    if last in _OPENERS:
        return True
    if last in "\"'":
        prev = before[-2:-1]
        return not prev or prev.isspace() or prev in _OPENERS or prev in _DASH_CHARS
    return False
