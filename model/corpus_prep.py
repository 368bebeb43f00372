"""One reproducible preparation of the bundled model's training corpus.

    python -m model.corpus_prep --fiction ../shared/data/corpus/fiction \\
        --austen ../shared/data/corpus/austen --out runs/corpus

Reads the fiction books (``FICTION/books/*.txt`` with ``FICTION/MANIFEST.tsv``: file, author,
title, year) and Jane Austen's six novels, cleans every book the same way and writes:

- ``OUT/train/*.txt``: one cleaned file per book;
- ``OUT/heldout-authors/*.txt``: every book of the authors in ``HELDOUT_AUTHORS`` (never in train/),
  for measuring the model on writers it has not seen;
- ``OUT/heldout-austen/persuasion-from-chapter-21.txt``: Persuasion from the line starting
  "Chapter 21" to the end (the bundled model's held-out text so far); train/ gets Persuasion
  only up to that line;
- ``OUT/manifest.json``: per output file its source, author, title, characters and sha256, the
  held-out authors, what the cleaning removed (counts per kind) and the sha256 over all outputs.

The same input gives byte-identical output (sorted inputs, no dates, JSON with sorted keys); the
overall sha256 is printed at the end.

Cleaning, per book: the front matter up to the start of the text (title page, contents, list of
illustrations, dedication), tables of contents, chapter / part / book headings with their title
lines, story titles, "[Illustration...]" marks, footnote markers and footnote blocks, "THE END",
transcriber's notes and section-break lines (asterisks, dots) are removed (a section break
becomes a plain paragraph break); then the paragraphs are unwrapped with
``core.prose.normalise_prose``.

Quotes and dashes, the decision: the model trains on ONE canonical style, straight ASCII quotes
(" and ') and the em dash "—" (unspaced) for every dash ("--", " -- ", "―", "–" used as a dash;
an en dash between digits, a number range, is kept, and so are hyphens in compound words).
Curly double quotes become ", curly single quotes and apostrophes become '. Most writers type
straight quotes, and a model that learns one style does not spend its capacity (or its
suggestions) switching between the editions' styles; the app adapts the model's straight quotes
to the document's own style when it shows a suggestion. Odd spaces (no-break and the like) become
plain spaces, and pure typesetting characters (soft hyphen, zero-width characters, byte-order
mark) are dropped. core.typography owns both directions: ``canonical`` (used here) and the
document's style.

Torch-free and numpy-free.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.fileio import atomic_write
from core.prose import normalise_prose
from core.typography import INVISIBLE, ODD_SPACES
from core.typography import canonical as canonical_characters

# Authors whose every book is held out. Fairly modern, plain prose of 1910-1923, each a different
# genre: a letter-novel (Webster), a spy thriller (Buchan), detective novels (Wells), humorous
# sketches (Leacock) and literary novels of the prairie (Cather).
HELDOUT_AUTHORS = ("Jean Webster", "John Buchan", "Carolyn Wells", "Stephen Leacock", "Willa Cather")

AUSTEN_HELDOUT_FROM = "Chapter 21"
AUSTEN_HELDOUT_NAME = "persuasion-from-chapter-21.txt"
AUSTEN_TITLES = {
    "emma.txt": ("Emma", 1815),
    "mansfieldpark.txt": ("Mansfield Park", 1814),
    "northangerabbey.txt": ("Northanger Abbey", 1817),
    "persuasion.txt": ("Persuasion", 1817),
    "prideprejudice.txt": ("Pride and Prejudice", 1813),
    "sensesensibility.txt": ("Sense and Sensibility", 1811),
}

# --- characters ---------------------------------------------------------------------------------

# canonical_characters: straight quotes, one em dash for every dash, plain spaces, no invisible
# typesetting (core.typography.canonical, which the editor also uses for the model's context).


# --- marks inside the text ----------------------------------------------------------------------

# Bracketed editorial marks, possibly over several lines: [Illustration: ...], [Footnote 3: ...].
_BRACKETED = re.compile(
    r"\[\s*(?P<kind>illustration|frontispiece|footnote|transcriber|sidenote|note\s*:)(?:[^\[\]]|\[[^\[\]]{0,200}\]){0,3000}\]",
    re.IGNORECASE)
_KIND = {"illustration": "illustration marks", "frontispiece": "illustration marks",
         "footnote": "footnote blocks", "transcriber": "transcriber's notes", "sidenote": "footnote blocks",
         "note": "footnote blocks"}
_FOOTNOTE_MARK = re.compile(r"(?<=\S)\[(?:\d{1,3}|[A-Z]|\*)\]|(?<=\S)[ \n]+\[(?:\d{1,3}|\*)\](?=\s|$)")
_STAR_MARK = re.compile(r"(?<=[a-z.,;:!?'\"\u2019\u201d])\*+(?=[\s,.;:!?'\"\u2019\u201d]|$)", re.MULTILINE)
_FOOTNOTE_BLOCK = re.compile(r"^\s*(?:\[(?:\d{1,3}|[A-Z]|\*)\]|\*{1,3}\s*\S)")

# --- blocks -------------------------------------------------------------------------------------

_ROMAN = r"[IVXLCDM]+"
_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                 r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|"
                 r"first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|the\s+\w+")
_KEYWORD = r"(?i:chapter|chap\.|book|part|volume|vol\.|stave|section|canto|episode|letter|story)"
_HEADING = re.compile(
    rf"^(?:{_KEYWORD}\s+(?P<n1>{_ROMAN}|\d+|(?i:[ivxlcdm]+)|(?i:{_NUMBER_WORDS})(?:[- ](?i:{_NUMBER_WORDS}))?)"
    rf"|(?P<n2>{_ROMAN}|\d{{1,3}}))"
    r"\s*[.:]?\s*(?:[-\u2014\u2013.:]+\s*)?(?P<title>.*)$")
# A numeral alone at the end of a paragraph's lines: a heading the edition ran on ("I" excepted:
# the pronoun, as in "said\nI.").
_BARE_NUMERAL = re.compile(r"^\s*(?:[IVXLCDM]{2,}|[VXLCDM])\.?\s*$")
_TOC_MARK = re.compile(r"^\s*(?:table\s+of\s+)?(?:contents|list\s+of\s+illustrations|illustrations)\s*[.:]?\s*$",
                       re.IGNORECASE)
_THE_END = re.compile(r"^\s*(?:the\s+end|finis)\s*[.!]?\s*$", re.IGNORECASE)
_BREAK = re.compile(r"^[\s*.\u00b7\u2022\-\u2014_=~#+]*$")
_SMALL_WORDS = {"a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "for", "by", "with", "from",
                "into", "as", "de", "la", "le", "du", "von", "van", "is", "was", "who", "which", "that",
                "his", "her", "its", "their", "but", "nor", "upon", "over", "under", "than", "o'", "it"}
_TERMINAL = (".", "!", "?", ",", ";", ":", '"', "'", "\u201d", "\u2019", ")", "\u2014", "-")
_PAGE_NUMBER = re.compile(r"(?:\s|\.)\d{1,4}\s*$")
_PAGE_GAP = re.compile(r"\S(?: {3,}|\t+|(?: ?\.){4,} ?)(?:\d{1,4}|[ivxlc]{1,6})\s*$")
_LIST_ENTRY = re.compile(rf"^\s*(?:{_KEYWORD}\s+)?(?:{_ROMAN}|\d{{1,3}})\b[.:]?\s+\S")
# Producers' credits, edition notes and transcribers' notes (the e-texts' front matter).
_CREDIT = re.compile(r"(?i)\b(?:transcriber|e-?text|scanned|proof-?read|proofed|produced by|project gutenberg|"
                     r"distributed proofreading|underscore character|printed in|all rights reserved|"
                     r"copyright|popular edition|new impressions)\b")
# A letter's or a diary's date line ("Sunday", "10th October") is the letter's text, not a title.
_DATE_LINE = re.compile(r"(?i)\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|"
                        r"april|may|june|july|august|september|october|november|december|\d+(?:st|nd|rd|th))\b")
_STAR_LINE = re.compile(r"^[ \t]*(?:\*[ \t]*){3,}$", re.MULTILINE)
# Publishers' advertisements after the end of a book.
_ADVERT = re.compile(r"(?i)\b(?:crown 8vo|8vo|12mo|16mo|4to|decorated cloth|postpaid|net\.? \$|\$\d+\.\d\d net)\b")
_IMPRINT = re.compile(r"(?i)\bprinted by\b|\bprinters\b|&\s*sons,?\s*limited|\bpress of\b")
_DROP_CAP = re.compile(r"^\|(?=[A-Z])", re.MULTILINE)


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalpha())


def _is_caps(text: str) -> bool:
    letters = _letters(text)
    return len(letters) >= 2 and letters.isupper()


def _is_title_case(text: str) -> bool:
    words = [w for w in re.split(r"[\s\u2014-]+", text) if _letters(w)]
    if not words or len(words) > 12:
        return False
    for i, w in enumerate(words):
        bare = w.strip("\"'\u201c\u201d\u2018\u2019([_*.,:;!?")
        if not bare:
            continue
        if bare[0].isupper() or bare[0].isdigit():
            continue
        if i > 0 and bare.lower() in _SMALL_WORDS:
            continue
        return False
    return True


def _is_title(text: str) -> bool:
    """A heading's title: capitals, or a short Title-Case phrase."""
    text = text.strip().strip("_")
    if not text:
        return True
    if text[:1] in "\"'\u201c\u2018":
        return False
    return _is_caps(text) or (_is_title_case(text) and len(text) <= 90)


def _is_heading_line(line: str) -> bool:
    """One line that is a heading by itself: a keyword and a number with any short title after a
    separator ("Chapter I. The beginning of things."), or a keyword or numeral with a title in
    capitals or Title Case."""
    text = line.strip().strip("_")
    m = _HEADING.match(text)
    if m is None:
        return False
    title = m.group("title").strip()
    if _is_title(title):
        return True
    # "CHAPTER II. Matthew Cuthbert is surprised": after a keyword, a numeral and a separator, any
    # short title; a prose line "Chapter one of my life..." has no separator after a number word.
    separated = re.match(rf"^{_KEYWORD}\s+(?:{_ROMAN}|\d+)(?:\s*[.:\u2014\u2013-]+\s*|\t+)\S", text)
    return separated is not None and len(title.split()) <= 12 and len(text) <= 100


def _is_list(lines: list[str]) -> bool:
    """A table of contents or another list: most lines are headings, titles or numbered entries,
    or some end in a page number set off by a gap."""
    if sum(bool(_PAGE_GAP.search(line)) for line in lines) >= (1 if len(lines) <= 4 else 2):
        return True
    if len(lines) < 3:
        return False
    listed = sum(1 for line in lines if _is_heading_line(line) or _is_title(line) or _PAGE_NUMBER.search(line)
                 or _LIST_ENTRY.match(line))
    return listed >= 0.6 * len(lines)


def _is_start(lines: list[str]) -> bool:
    """The first paragraph of the text itself: prose of some length, starting with a capital or a
    quote, and not a producer's credit or a transcriber's note."""
    text = " ".join(line.strip() for line in lines)
    if not _is_prose(lines) or (len(text) < 200 and len(lines) < 3) or _CREDIT.search(text):
        return False
    first = next((c for c in text if c.isalpha() or c in "\"'\u201c\u2018"), "")
    return not first.islower()


def _is_heading(lines: list[str]) -> bool:
    """A chapter / part / book heading (with its title on the same or the next line), a roman
    numeral alone, or a story title in capitals."""
    text = " ".join(line.strip() for line in lines)
    if len(lines) > 4 or len(text) > 160:
        return False
    first = lines[0].strip().strip("_")
    if _is_heading_line(first) and all(_is_title(line) for line in lines[1:]):
        return True
    # A story or chapter title alone, in capitals ("THE GIFT OF THE MAGI"), not a quoted shout.
    return (len(lines) <= 3 and len(text) <= 100 and text[:1] not in "\"'\u201c\u2018"
            and _is_caps(text) and not text.endswith(("!", "?", ",")))


def _is_prose(lines: list[str]) -> bool:
    """A paragraph of running text, not a title page, a heading or a list."""
    text = " ".join(line.strip() for line in lines)
    if _is_heading(lines) or len(text) < 120 or _is_list(lines):
        return False
    letters = _letters(text)
    if not letters or sum(c.islower() for c in letters) < 0.6 * len(letters):
        return False
    # A list (a table of contents) has many lines ending in page numbers.
    if len(lines) >= 3 and sum(bool(_PAGE_NUMBER.search(line)) for line in lines) > len(lines) / 2:
        return False
    return len(lines) >= 2 or text.endswith(_TERMINAL)


def _is_single_title(lines: list[str]) -> bool:
    """A line like "Blue Wednesday" or "The Sisters": a Title-Case phrase without punctuation."""
    if len(lines) != 1:
        return False
    text = lines[0].strip().strip("_")
    if not text or text.endswith(_TERMINAL) or text[:1] in "\"'\u201c\u2018(":
        return False
    return _is_title_case(text) and len(text) <= 70 and not _DATE_LINE.search(text)


@dataclass
class Cleaned:
    text: str
    removed: Counter = field(default_factory=Counter)


def _drop_bracketed(text: str, removed: Counter) -> str:
    def one(m: re.Match) -> str:
        removed[_KIND[m.group("kind").lower().split()[0].rstrip(":")]] += 1
        return ""
    # A mark that fills its lines goes with its lines, so a paragraph it interrupted joins up again.
    whole_lines = re.compile(r"^[ \t]*" + _BRACKETED.pattern + r"[ \t]*\n", re.IGNORECASE | re.MULTILINE)
    text = whole_lines.sub(one, text)
    return _BRACKETED.sub(one, text)


def _dedent(text: str) -> str:
    """Editions that indent every line (a few Conan Doyle e-texts) lose that common indent, so
    the unwrapping does not take their paragraphs for verse."""
    lines = text.split("\n")
    widths = Counter(len(line) - len(line.lstrip(" ")) for line in lines if line.strip())
    total = sum(widths.values())
    if not total or widths[0] > 0.3 * total:
        return text
    common = widths.most_common(1)[0][0]
    return "\n".join(line[common:] if line[:common].isspace() else line.lstrip(" ") for line in lines)


def clean_book(raw: str) -> Cleaned:
    """A book's raw e-text as training text: see the module docstring."""
    removed: Counter = Counter()
    text = _plain_text(raw, removed)
    blocks = [b.split("\n") for b in re.split(r"\n[ \t]*\n", text)]
    blocks = [[line for line in b if line.strip()] for b in blocks]
    blocks = [b for b in blocks if b]
    start = _front_matter_end(blocks, len(text))
    removed["front-matter lines"] += sum(len(b) for b in blocks[:start])
    end = _back_matter_start(blocks, start)
    if end < len(blocks):
        removed["back-matter lines"] += sum(len(b) for b in blocks[end:])
    kept = _running_text(blocks[:end], start, removed)
    body = "\n\n".join("\n".join(b) for b in kept)
    n_marks = len(_FOOTNOTE_MARK.findall(body)) + len(_STAR_MARK.findall(body))
    if n_marks:
        removed["footnote marks"] += n_marks
        body = _STAR_MARK.sub("", _FOOTNOTE_MARK.sub("", body))
    body = normalise_prose(body)
    return Cleaned(canonical_characters(body).strip() + "\n", removed)


def _plain_text(raw: str, removed: Counter) -> str:
    """The e-text with plain line ends and spaces, without its common indent, bracketed
    illustration marks, section-break lines and drop-cap marks."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(INVISIBLE)
    text = text.translate(dict.fromkeys(map(ord, ODD_SPACES), " "))
    text = _dedent(text)
    text = _drop_bracketed(text, removed)
    # A section break inside a block of lines ("* * *" with no blank line around it) breaks it.
    text, n = _STAR_LINE.subn("", text)
    if n:
        removed["section breaks"] += n
    text, n = _DROP_CAP.subn("", text)
    if n:
        removed["drop-cap marks"] += n
    return text


def _front_matter_end(blocks: list[list[str]], text_length: int) -> int:
    """The first block of running text: the first paragraph of it or, when a table of
    contents follows a short preface near the start, the first after that."""
    window = max(text_length // 10, 20000)
    offset = 0
    first_prose = next((i for i, b in enumerate(blocks) if _is_start(b)), 0)
    start = first_prose
    for i, b in enumerate(blocks):
        if offset > window:
            break
        if _TOC_MARK.match(b[0]) or sum(bool(_PAGE_GAP.search(line)) for line in b) >= min(2, len(b)):
            start = next((j for j in range(i + 1, len(blocks)) if _is_start(blocks[j])), first_prose)
        offset += sum(len(line) + 1 for line in b) + 1
    return start


def _back_matter_start(blocks: list[list[str]], start: int) -> int:
    """Where the back matter begins: after a last "THE END" or at the first publisher's
    advertisement in the last part of the book, with the printer's imprint and the
    advertisements' headings before them."""
    end = len(blocks)
    tail_from = start + int(0.8 * (len(blocks) - start))
    for j in range(len(blocks) - 1, tail_from - 1, -1):
        if len(blocks[j]) == 1 and _THE_END.match(blocks[j][0]):
            end = j + 1
            break
    advert = next((j for j in range(max(tail_from, start), end) if _ADVERT.search(" ".join(blocks[j]))), None)
    if advert is not None:
        end = advert
    while (end > start + 1 and len(blocks[end - 1]) <= 3
           and not _THE_END.match(blocks[end - 1][0])
           and (_IMPRINT.search(" ".join(blocks[end - 1])) or (end < len(blocks) and _is_heading(blocks[end - 1])))):
        end -= 1
    return end


_HEADING_KINDS = ("headings", "heading titles")


def _running_text(blocks: list[list[str]], start: int, removed: Counter) -> list[list[str]]:
    """The blocks from ``start`` that are the book's own text, each counted in ``removed`` by
    what it was when it is not."""
    kept: list[list[str]] = []
    after_heading = True
    i = start
    while i < len(blocks):
        b = blocks[i]
        i += 1
        if _is_contents(b):
            # A table of contents later on (a second volume): the mark and the list after it.
            removed["tables of contents"] += 1
            while i < len(blocks) and not _is_prose(blocks[i]):
                removed["front-matter lines"] += len(blocks[i])
                i += 1
            continue
        kind = _not_text(b, i - 1 < start + 5, after_heading)
        if kind is None:
            kept.append(_without_headings(b, removed))
            after_heading = False
            continue
        removed[kind] += len(b) if kind == "front-matter lines" else 1
        if kind in _HEADING_KINDS:
            after_heading = True
        elif kind == "section breaks":
            after_heading = False
    return kept


def _is_contents(b: list[str]) -> bool:
    return bool(_TOC_MARK.match(b[0].strip())
                or (_is_list(b) and sum(map(_is_heading_line, b)) >= 0.6 * len(b)))


def _not_text(b: list[str], near_start: bool, after_heading: bool) -> str | None:
    """What the block is when it is not the book's text (the key it is counted under in the
    removed counts); None for text."""
    first = b[0].strip()
    if all(_BREAK.match(line) for line in b):
        return "section breaks"
    if len(b) == 1 and _THE_END.match(first):
        return "THE END"
    if first.startswith("[") and b[-1].rstrip().endswith("]"):
        return "editorial notes"
    if near_start and _CREDIT.search(" ".join(b)) and len(b) <= 6:
        return "front-matter lines"
    if _FOOTNOTE_BLOCK.match(first) and not _BREAK.match(first):
        return "footnote blocks"
    if _is_heading(b):
        return "headings"
    if _is_single_title(b) and (after_heading or len(first.split()) >= 2):
        return "heading titles"
    return None


def _without_headings(b: list[str], removed: Counter) -> list[str]:
    """A paragraph without the heading or bare numeral stuck to it (no blank line between)."""
    if len(b) > 1 and _is_heading_line(b[0]) and not _is_title(b[1]):
        removed["headings"] += 1
        b = b[1:]
    if len(b) > 1 and _BARE_NUMERAL.match(b[-1]):
        removed["headings"] += 1
        b = b[:-1]
    return b


# --- the corpus ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Book:
    path: Path
    author: str
    title: str
    year: int


def read_manifest(fiction: Path) -> list[Book]:
    manifest = fiction / "MANIFEST.tsv"
    books_dir = fiction / "books"
    if not manifest.is_file():
        raise SystemExit(f"{manifest}: no such file (the fiction folder's MANIFEST.tsv)")
    books = []
    with manifest.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            path = books_dir / row["file"]
            if not path.is_file():
                raise SystemExit(f"{path}: listed in {manifest} but missing")
            books.append(Book(path, row["author"], row["title"], int(row["first_published"])))
    return sorted(books, key=lambda b: b.path.name)


def _line_start(text: str, marker: str) -> int:
    pos = 0
    for line in text.splitlines(keepends=True):
        if line.strip().startswith(marker):
            return pos
        pos += len(line)
    raise SystemExit(f"no line starts with {marker!r}")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _jobs(fiction: Path, austen: Path) -> list[tuple[str, str, Book, str]]:
    """Every book to clean, as (folder, output name, book, raw text): the fiction manifest's,
    the held-out authors apart, and Austen's novels, the end of Persuasion held out."""
    books = read_manifest(fiction)
    authors = {b.author for b in books}
    missing = [a for a in HELDOUT_AUTHORS if a not in authors]
    if missing:
        raise SystemExit(f"held-out authors not in the manifest: {', '.join(missing)}")
    jobs: list[tuple[str, str, Book, str]] = []   # (folder, name, book, raw text)
    for b in books:
        folder = "heldout-authors" if b.author in HELDOUT_AUTHORS else "train"
        jobs.append((folder, b.path.name, b, b.path.read_text(encoding="utf-8")))
    for name, (title, year) in sorted(AUSTEN_TITLES.items()):
        path = austen / name
        if not path.is_file():
            raise SystemExit(f"{path}: no such file")
        raw = path.read_text(encoding="utf-8")
        book = Book(path, "Jane Austen", title, year)
        out_name = "Jane_Austen__" + title.replace(" ", "_") + ".txt"
        if name == "persuasion.txt":
            cut = _line_start(raw, AUSTEN_HELDOUT_FROM)
            jobs.append(("train", out_name, book, raw[:cut]))
            jobs.append(("heldout-austen", AUSTEN_HELDOUT_NAME, book, raw[cut:]))
        else:
            jobs.append(("train", out_name, book, raw))
    return jobs


def prepare(fiction: Path, austen: Path, out: Path, log=print) -> dict:
    t0 = time.monotonic()
    jobs = _jobs(fiction, austen)

    files: dict[str, dict] = {}
    total_removed: Counter = Counter()
    outputs: dict[str, bytes] = {}
    for folder, name, book, raw in jobs:
        cleaned = clean_book(raw)
        data = cleaned.text.encode("utf-8")
        rel = f"{folder}/{name}"
        outputs[rel] = data
        total_removed.update(cleaned.removed)
        entry = {"source": str(book.path.name), "author": book.author, "title": book.title, "year": book.year,
                 "chars": len(cleaned.text), "sha256": _sha(data), "removed": dict(sorted(cleaned.removed.items()))}
        if folder == "heldout-austen":
            entry["part"] = f"from the line starting {AUSTEN_HELDOUT_FROM!r} to the end"
        elif book.path.name == "persuasion.txt":
            entry["part"] = f"up to the line starting {AUSTEN_HELDOUT_FROM!r}"
        files[rel] = entry

    overall = _sha("".join(f"{rel}\t{files[rel]['sha256']}\n" for rel in sorted(files)).encode())
    for folder in ("train", "heldout-authors", "heldout-austen"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for stale in (out / folder).glob("*.txt"):
            if f"{folder}/{stale.name}" not in outputs:
                stale.unlink()
    for rel in sorted(outputs):
        _write(out / rel, outputs[rel])
    totals = {folder: {"files": sum(1 for r in files if r.startswith(folder + "/")),
                       "chars": sum(f["chars"] for r, f in files.items() if r.startswith(folder + "/"))}
              for folder in ("train", "heldout-authors", "heldout-austen")}
    manifest = {
        "format": "inkwell-corpus", "version": 1,
        "heldout_authors": list(HELDOUT_AUTHORS),
        "heldout_austen": f"persuasion.txt from the line starting {AUSTEN_HELDOUT_FROM!r}",
        "quotes_and_dashes": "straight ASCII quotes; the em dash for every dash; hyphens and number ranges kept",
        "removed": dict(sorted(total_removed.items())),
        "totals": totals,
        "files": files,
        "sha256": overall,
    }
    _write(out / "manifest.json", (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode())
    counts = ", ".join(f"{k}: {v['files']}" for k, v in totals.items())
    log(f"{len(files)} files ({counts}) in {time.monotonic() - t0:.1f}s")
    log("removed: " + ", ".join(f"{k} {v}" for k, v in sorted(total_removed.items())))
    log(f"sha256 {overall}")
    return manifest


def _write(path: Path, data: bytes) -> None:
    atomic_write(path, data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.corpus_prep", allow_abbrev=False,
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--fiction", type=Path, required=True, help="folder with MANIFEST.tsv and books/")
    ap.add_argument("--austen", type=Path, required=True, help="folder with Jane Austen's six novels")
    ap.add_argument("--out", type=Path, required=True, help="output folder (train/, heldout-*/, manifest.json)")
    args = ap.parse_args(argv)
    prepare(args.fiction, args.austen, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
