"""The training corpus preparation (model/corpus_prep.py) on small books shaped like the e-texts."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from model.corpus_prep import AUSTEN_HELDOUT_NAME, HELDOUT_AUTHORS, canonical_characters, clean_book, main


def para(text: str) -> str:
    """A paragraph hard-wrapped at 70 columns, as the editions print it."""
    return textwrap.fill(text, 70, break_on_hyphens=False)


P1 = para("It was a dark and stormy night, and the wind blew the rain against the windows of the "
          "old house on the hill, where nobody had lived for twenty years and nobody wanted to.")
P2 = para("Mr. Holmes took the letter from the table and read it twice, slowly, turning it over "
          "in his long fingers as though the paper itself might tell him something more, and then "
          "he laid it down and looked out of the window for a long time without a word.")
P3 = para("Chapter and verse he could quote for every rule of the house, and he quoted them often, "
          "to the great annoyance of everyone who had to live under the same roof with him.")
P4 = para("The morning came at last, grey and cold, and with it the doctor, who looked at the "
          "patient for a long time before he said a single word to any of the people waiting.")

BOOK = "\n".join([
    "THE ADVENTURES OF SOMEBODY", "", "", "by", "", "A. N. Author", "", "", "",
    "Contents", "", "",
    "   I.     A Scandal in the Village",
    "   II.    The Red-Headed Cousin",
    "   III.   The Last Word", "", "", "",
    "CHAPTER I.", "", "A SCANDAL IN THE VILLAGE", "", "",
    P1, "",
    "[Illustration]", "",
    P2, "",
    "[Illustration: \u201cHE EXAMINED THE WORD UPON THE WALL,\n     GOING OVER EVERY LETTER\u201d]", "",
    "CHAPTER IV. THE RED-HEADED COUSIN", "", "",
    P3, "",
    "       *       *       *       *       *", "",
    para("\u201cI don\u2019t know,\u201d she said\u2014and stopped. \u2018Well?\u2019 he said--\u201cthe "
         "years 1880\u20131925 were long -- very long.\u201d[1]"),
    "",
    "[Footnote 1: A note by the editor that runs on\nover two lines.]", "",
    "Chapter 2", "",
    "The Next Morning", "",
    P4, "",
    "XII", "",
    "The well-known end of the story came after all.", "",
    "THE END", "",
])


def test_a_book_is_cleaned_to_its_paragraphs():
    cleaned = clean_book(BOOK)
    paragraphs = cleaned.text.rstrip("\n").split("\n\n")
    assert paragraphs == [
        " ".join(P1.split("\n")),
        " ".join(P2.split("\n")),
        # A paragraph that starts with the word "Chapter" is prose, not a heading.
        " ".join(P3.split("\n")),
        "\"I don't know,\" she said\u2014and stopped. 'Well?' he said\u2014\"the years 1880\u20131925 were "
        "long\u2014very long.\"",
        " ".join(P4.split("\n")),
        "The well-known end of the story came after all.",
    ]
    removed = cleaned.removed
    assert removed["illustration marks"] == 2
    assert removed["footnote blocks"] == 1
    assert removed["footnote marks"] == 1
    assert removed["section breaks"] == 1
    assert removed["THE END"] == 1
    # The title page, the table of contents, the first heading and its title (before the text).
    assert removed["front-matter lines"] == 9
    # CHAPTER IV. THE RED-HEADED COUSIN, Chapter 2, XII; the title line "The Next Morning".
    assert removed["headings"] == 3
    assert removed["heading titles"] == 1


@pytest.mark.parametrize("heading", [
    "CHAPTER XLIII", "Chapter 1", "I.", "BOOK II", "PART ONE", "XIV", "CHAPTER IV. THE RED-HEADED LEAGUE",
    "Chapter II. Matthew Cuthbert is surprised", "STAVE THREE", "CHAPTER II\u2014JUNE'S TREAT",
])
def test_headings_of_every_shape_go(heading):
    text = clean_book("\n\n".join([P1, heading, P2, P4]) + "\n").text
    assert text == "\n\n".join(" ".join(p.split("\n")) for p in (P1, P2, P4)) + "\n"


def test_a_table_of_contents_after_a_preface_goes():
    book = "\n\n".join([
        "THE FOUR STORIES", "by", "O. AUTHOR",
        para("Not very long ago some one invented the assertion that there were only a few people in "
             "the city who were really worth noticing, and this book is about the rest of them."),
        "Contents:", "TOBIN'S PALM\nTHE GIFT OF THE MAGI\nBETWEEN ROUNDS",
        "TOBIN'S PALM", P1, P4, "THE GIFT OF THE MAGI", P2,
    ]) + "\n"
    assert clean_book(book).text == "\n\n".join(" ".join(p.split("\n")) for p in (P1, P4, P2)) + "\n"


def test_quotes_dashes_and_odd_spaces_become_one_style():
    assert canonical_characters("\u201cdon\u2019t\u201d \u2018so\u2019") == "\"don't\" 'so'"
    dash = "\u2014"
    assert (canonical_characters("word--word and word -- word and word \u2015 word")
            == f"word{dash}word and word{dash}word and word{dash}word")
    assert (canonical_characters("pages 10\u201312, yes \u2013 no, Mr. D\u2014\u2014")
            == f"pages 10\u201312, yes{dash}no, Mr. D{dash}")
    assert canonical_characters("well-known a\u00a0b co\u00adoperate\u200b\ufeff") == "well-known a b cooperate"


def _write_corpus(root: Path) -> tuple[Path, Path]:
    fiction, austen = root / "fiction", root / "austen"
    (fiction / "books").mkdir(parents=True)
    austen.mkdir()
    rows = ["file\tauthor\ttitle\tfirst_published\tsource\tbytes\tsha256"]
    authors = list(HELDOUT_AUTHORS) + ["Arthur Conan Doyle", "Rudyard Kipling"]
    for n, author in enumerate(authors):
        for k in range(2):
            name = f"{author.replace(' ', '_').replace('.', '')}__Book_{k}.txt"
            text = f"BOOK {k}\n\nby {author}\n\n\nCHAPTER I\n\n\n{P1}\n\n{P2}\n\nCHAPTER II\n\n{P3} ({n}, {k})\n"
            (fiction / "books" / name).write_text(text, encoding="utf-8")
            rows.append(f"{name}\t{author}\tBook {k}\t1910\tx\t0\t0")
    (fiction / "MANIFEST.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for name in ("emma", "mansfieldpark", "northangerabbey", "prideprejudice", "sensesensibility"):
        (austen / f"{name}.txt").write_text(f"{name.upper()}\n\n\nChapter 1\n\n\n{P1}\n", encoding="utf-8")
    persuasion = (f"Persuasion\n\n\nby\n\nJane Austen\n\n\nChapter 1\n\n\n{P1}\n\n{P4}\n\n\n"
                  f"Chapter 20\n\n\n{P2}\n\n\nChapter 21\n\n\n{P3}\n\n{P4}\n\n\nChapter 22\n\n\n{P2}\n\n\nFinis\n")
    (austen / "persuasion.txt").write_text(persuasion, encoding="utf-8")
    return fiction, austen


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_the_corpus_is_split_by_author_and_prepared_the_same_every_time(tmp_path, capsys):
    fiction, austen = _write_corpus(tmp_path)
    assert main(["--fiction", str(fiction), "--austen", str(austen), "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert main(["--fiction", str(fiction), "--austen", str(austen), "--out", str(tmp_path / "b")]) == 0
    a, b = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
    assert a == b  # byte-identical, manifest included
    manifest = json.loads(a["manifest.json"])
    assert f"sha256 {manifest['sha256']}" in printed
    lines = "".join(f"{rel}\t{hashlib.sha256(a[rel]).hexdigest()}\n" for rel in sorted(a) if rel != "manifest.json")
    assert manifest["sha256"] == hashlib.sha256(lines.encode()).hexdigest()
    assert manifest["heldout_authors"] == list(HELDOUT_AUTHORS)

    train = {rel for rel in a if rel.startswith("train/")}
    held = {rel for rel in a if rel.startswith("heldout-authors/")}
    assert len(held) == 2 * len(HELDOUT_AUTHORS)
    assert all(manifest["files"][rel]["author"] in HELDOUT_AUTHORS for rel in held)
    assert not any(manifest["files"][rel]["author"] in HELDOUT_AUTHORS for rel in train)
    assert not any(a[rel] in {a[h] for h in held} for rel in train)
    assert {"train/Arthur_Conan_Doyle__Book_0.txt", "train/Rudyard_Kipling__Book_1.txt",
            "train/Jane_Austen__Emma.txt", "train/Jane_Austen__Persuasion.txt"} <= train
    assert len(train) == 4 + 6

    # Persuasion: train/ up to the line "Chapter 21", held out from it (headings gone in both).
    flat = [" ".join(p.split("\n")) for p in (P1, P2, P3, P4)]
    assert a["train/Jane_Austen__Persuasion.txt"].decode() == f"{flat[0]}\n\n{flat[3]}\n\n{flat[1]}\n"
    assert a[f"heldout-austen/{AUSTEN_HELDOUT_NAME}"].decode() == f"{flat[2]}\n\n{flat[3]}\n\n{flat[1]}\n"
    entry = manifest["files"]["train/Arthur_Conan_Doyle__Book_0.txt"]
    assert entry["source"] == "Arthur_Conan_Doyle__Book_0.txt" and entry["author"] == "Arthur Conan Doyle"
    assert entry["sha256"] == hashlib.sha256(a["train/Arthur_Conan_Doyle__Book_0.txt"]).hexdigest()
    # "CHAPTER II" of the 14 books, "Chapter 20" and "Chapter 22" of Persuasion; every first
    # heading comes before the text and goes with the front matter.
    assert manifest["removed"]["headings"] == 14 + 2
    assert manifest["removed"]["THE END"] == 1  # Persuasion's "Finis"


def test_a_held_out_author_missing_from_the_manifest_is_refused(tmp_path):
    fiction, austen = _write_corpus(tmp_path)
    manifest = fiction / "MANIFEST.tsv"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    manifest.write_text("\n".join(line for line in lines if HELDOUT_AUTHORS[0] not in line) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=f"held-out authors not in the manifest: {HELDOUT_AUTHORS[0]}"):
        main(["--fiction", str(fiction), "--austen", str(austen), "--out", str(tmp_path / "out")])


def test_an_edition_that_indents_every_line_is_unwrapped():
    book = "\n\n".join(textwrap.indent(p, "      ") for p in (P1, P2, P3, P4)) + "\n"
    assert clean_book(book).text == "\n\n".join(" ".join(p.split("\n")) for p in (P1, P2, P3, P4)) + "\n"
