"""The paragraph-aware normaliser that turns hard-wrapped editions into prose-shaped text."""

from __future__ import annotations

import pytest

from core.prose import looks_hard_wrapped, normalise_prose, strip_typesetting

# Persuasion, chapter 1, as the e-text edition wraps it (two spaces after a full stop).
WRAPPED = """\
Chapter 1


Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who,
for his own amusement, never took up any book but the Baronetage; there
he found occupation for an idle hour, and consolation in a distressed
one; there his faculties were roused into admiration and respect, by
contemplating the limited remnant of the earliest patents.  This
was the page at which the favourite volume always opened:

           "ELLIOT OF KELLYNCH HALL.

"Walter Elliot, born March 1, 1760, married, July 15, 1784, Elizabeth,
daughter of James Stevenson, Esq. of South Park, in the county of
Gloucester, by which lady (who died 1800) he has issue Elizabeth, born
June 1, 1785."

"I must take leave to observe, Sir Walter," said Mr Shepherd one morning
at Kellynch Hall, as he laid down the newspaper, "that the present
juncture is much in our favour.  This peace will be turning all our rich
naval officers ashore.  They will be all wanting a home.  Could not be a
better time, Sir Walter, for having a choice of tenants, very responsible
tenants."

"Yes," said Anne.
"No," said he.

She had _never_ been so happy in her life, and the whole of it was--as
she knew--a matter of no small wonder to her.
"""

POEM = """\
Tyger Tyger, burning bright,
In the forests of the night;
What immortal hand or eye,
Could frame thy fearful symmetry?

In what distant deeps or skies.
Burnt the fire of thine eyes?
On what wings dare he aspire?
What the hand, dare seize the fire?
"""

UNWRAPPED = (
    "It was a bright cold day in April, and the clocks were striking thirteen. Winston hurried "
    "through the doors, though not quickly enough to prevent a swirl of gritty dust from entering.\n"
    "The hallway smelt of boiled cabbage and old rag mats.\n\n"
    "\"Is that you?\" she asked.\n"
    "\"Who else would it be?\"\n"
)


def test_a_hard_wrapped_edition_is_recognised_and_others_are_not():
    report = looks_hard_wrapped(WRAPPED)
    assert report.hard_wrapped and 68 <= report.width <= 74
    assert not looks_hard_wrapped(POEM).hard_wrapped
    assert not looks_hard_wrapped(UNWRAPPED).hard_wrapped
    assert not looks_hard_wrapped("One line.\n").hard_wrapped


def test_paragraphs_are_joined_and_paragraph_breaks_kept():
    out = normalise_prose(WRAPPED)
    paragraphs = out.split("\n\n")
    assert paragraphs[0] == "Chapter 1"
    assert paragraphs[1] == (
        "Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who, for his own amusement, "
        "never took up any book but the Baronetage; there he found occupation for an idle hour, and "
        "consolation in a distressed one; there his faculties were roused into admiration and respect, by "
        "contemplating the limited remnant of the earliest patents. This was the page at which the "
        "favourite volume always opened:"
    )
    # an indented line stands on its own
    assert paragraphs[2] == '"ELLIOT OF KELLYNCH HALL.'
    # dialogue wrapped inside its paragraph is one line, with single spaces after full stops
    assert paragraphs[4].startswith('"I must take leave to observe, Sir Walter," said Mr Shepherd one morning at')
    assert "\n" not in paragraphs[4] and "  " not in paragraphs[4]
    assert paragraphs[4].endswith("for having a choice of tenants, very responsible tenants.\"")


def test_short_dialogue_lines_stay_separate():
    out = normalise_prose(WRAPPED)
    assert '"Yes," said Anne.\n"No," said he.' in out


def test_typesetting_marks_are_removed_and_dashes_joined():
    out = normalise_prose(WRAPPED)
    assert "She had never been so happy in her life, and the whole of it was--as she knew--a matter" in out
    assert "_" not in out


def test_a_poem_keeps_its_lines():
    assert normalise_prose(POEM) == POEM
    # and verse inside a wrapped novel keeps its lines (shorter than the page)
    novel = WRAPPED + "\n" + POEM
    assert normalise_prose(novel).endswith("\n\n" + POEM)


def test_text_that_is_not_wrapped_is_left_as_it_is():
    assert normalise_prose(UNWRAPPED) == UNWRAPPED


@pytest.mark.parametrize("text, expected", [
    ("a _very_ little", "a very little"),
    ("snake_case_name stays", "snake_case_name stays"),
    ("_We_ must begin", "We must begin"),
    ("two  spaces", "two spaces"),
])
def test_strip_typesetting(text, expected):
    assert strip_typesetting(text) == expected


def test_windows_line_endings_and_blank_runs():
    text = WRAPPED.replace("\n", "\r\n").replace("\r\n\r\n", "\r\n\r\n\r\n\r\n")
    assert normalise_prose(text) == normalise_prose(WRAPPED)


def test_the_bundled_corpus_has_no_line_breaks_inside_its_prose_paragraphs():
    """The real thing: every novel of the bundled model's corpus comes out as paragraphs; the
    paragraphs still holding a line break are verse, letters and the like (a handful each)."""
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "austen"
    if not corpus.is_dir():
        pytest.skip(f"no corpus at {corpus}")
    for path in sorted(corpus.glob("*.txt")):
        out = normalise_prose(path.read_text(encoding="utf-8"))
        paragraphs = out.split("\n\n")
        multi = [p for p in paragraphs if "\n" in p.strip()]
        assert len(multi) <= 0.01 * len(paragraphs), (path.name, multi[:3])
        for p in multi:  # what is left is verse or letters: short lines
            assert max(len(line) for line in p.split("\n")) < 70, (path.name, p[:200])
