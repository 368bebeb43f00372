"""Quotes and dashes: the model's canonical style and the document's (core/typography.py)."""

from __future__ import annotations

import random
import re

import pytest

from app.engine.stopping import SuggestionText
from core import typography
from core.typography import CANONICAL, DETECT_CHARS, Style, Styler, apply_style, canonical, detect_style, for_model

DASH = "\u2014"
CURLY = Style(curly_double=True, curly_single=True)
HYPHENS = Style(dash="--")


def test_canonical_is_the_corpus_style():
    assert canonical("\u201cdon\u2019t\u201d \u2018so\u2019") == "\"don't\" 'so'"
    assert (canonical("word--word and word -- word and word \u2015 word")
            == f"word{DASH}word and word{DASH}word and word{DASH}word")
    assert canonical("pages 10\u201312, yes \u2013 no, Mr. D\u2014\u2014") == f"pages 10\u201312, yes{DASH}no, Mr. D{DASH}"
    assert canonical("well-known a\u00a0b co\u00adoperate\u200b\ufeff") == "well-known a b cooperate"


def test_corpus_prep_uses_the_same_function():
    from model import corpus_prep

    assert corpus_prep.canonical_characters is canonical


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", CANONICAL),
        ("No quotes or dashes at all.", CANONICAL),
        ('"Don\'t," she said. "It\'s late."', CANONICAL),
        ("\u201cDon\u2019t,\u201d she said. \u201cIt\u2019s late.\u201d", CURLY),
        # mixed: the majority wins, for double and single quotes separately
        ('\u201cOne,\u201d \u201cTwo,\u201d "three" and isn\'t it, aren\'t they, \u2018so\u2019',
         Style(curly_double=True, curly_single=False)),
        # curly double quotes and no single ones yet: single quotes follow them (and back)
        ("\u201cHello\u201d", CURLY),
        ("It\u2019s", CURLY),
        ("word--word, and--again", HYPHENS),
        ("word -- word, and -- again, but--once", Style(dash=" -- ")),
        (f"word {DASH} word, and {DASH} again", Style(dash=f" {DASH} ")),
        ("word \u2013 word, and \u2013 again, pages 10\u201312", Style(dash=" \u2013 ")),
        ("word - word, and - again, well-known", Style(dash=" - ")),
        (f"one{DASH}two{DASH}three, and four--five", CANONICAL),
        ("a tie: word--word and word \u2014word", CANONICAL),  # ties go to the em dash
    ],
)
def test_detect_style(text, expected):
    assert detect_style(text) == expected


def test_detect_style_reads_only_the_end_of_a_long_document():
    old = "\u201cCurly,\u201d she said--and went. " * 2000
    new = '"Straight," she said\u2014and went. ' * (DETECT_CHARS // 30)
    assert detect_style(old) == Style(True, True, "--")
    assert detect_style(old + new) == CANONICAL


@pytest.mark.parametrize(
    "before, suggestion, expected",
    [
        # opening after whitespace or the start, closing after a word or punctuation
        ("He said, ", '"Hello," she said.', "\u201cHello,\u201d she said."),
        ("", '"Hello"', "\u201cHello\u201d"),
        ("He said,", ' "Hello."', " \u201cHello.\u201d"),
        ("\u201cHello", '," she said.', ",\u201d she said."),
        ("\u201cWait!", '" He ran.', "\u201d He ran."),
        ("He said (", '"no")', "(\u201cno\u201d)"[1:]),
        ("He said \u201c", "'Hi,' she", "\u2018Hi,\u2019 she"),
        ("He said \u201c", "Hi", "Hi"),
        ("Line one\n", '"Two"', "\u201cTwo\u201d"),
        # after a dash: opening before a word, closing at the end of speech
        (f"He stopped{DASH}", '"Go!"', "\u201cGo!\u201d"),
        ("\u201cI was going to", f'{DASH}" she said', f"{DASH}\u201d she said"),
        ("\u201cI was going to", f'{DASH}"', f"{DASH}\u201d"),
        # apostrophes inside and at the ends of words
        ("I", " don't know o'clock", " don\u2019t know o\u2019clock"),
        ("the", " writers' books", " writers\u2019 books"),
        ("in the", " '90s", " \u201990s"),
        ("", "'Tis the season, 'twas, 'em", "\u2019Tis the season, \u2019twas, \u2019em"),
        ("", "'Emma' and 'nothing'", "\u2018Emma\u2019 and \u2018nothing\u2019"),
        ("rock", " 'n' roll", " \u2019n\u2019 roll"),
    ],
)
def test_apply_style_curly_quotes(before, suggestion, expected):
    assert apply_style(suggestion, CURLY, before) == expected


@pytest.mark.parametrize(
    "style, before, suggestion, expected",
    [
        (HYPHENS, "word", f"{DASH}and then{DASH}", "--and then--"),
        (HYPHENS, "word", f' {DASH} spaced', " -- spaced"),  # the model's spaces stay
        (Style(dash=" -- "), "word", f"{DASH}and then{DASH}", " -- and then --"),
        (Style(dash=" -- "), "word ", f"{DASH}and", "-- and"),  # no second space before it
        (Style(dash=" -- "), "word --", "and", " and"),  # the space the writer's dash is owed
        (Style(dash=" -- "), "word -- ", "and", "and"),
        (HYPHENS, "word --", "and", " and"),  # a spaced dash typed in an unspaced document
        (HYPHENS, f"word  {DASH}{DASH}", "and", " and"),
        (HYPHENS, "word-", "and", "and"),  # a hyphen, or half a dash: nothing owed
        (Style(dash=" - "), "word -", "and", " and"),
        (Style(dash=" -- "), "word --", ", then", ", then"),
        (Style(True, True, " -- "), "word", f'{DASH}"Stop{DASH}" no', ' -- \u201cStop --\u201d no'),
        (Style(dash=" \u2013 "), "pages 10", f"\u201312 or so{DASH}fine", "\u201312 or so \u2013 fine"),
        (Style(dash=" - "), "a", f"{DASH}b well-known", " - b well-known"),
        (CANONICAL, "a", "b--c \u2015 d \u2013 e", f"b{DASH}c {DASH} d {DASH} e"),
        # a straight document gets straight quotes, even where the model wrote curly ones
        (CANONICAL, "He said, ", "\u201cDon\u2019t.\u201d", "\"Don't.\""),
        (CANONICAL, "He said, ", "\"Don't.\"", "\"Don't.\""),
    ],
)
def test_apply_style_dashes_and_straight_quotes(style, before, suggestion, expected):
    assert apply_style(suggestion, style, before) == expected


SAMPLES = [
    '"Hello," she said. "Don\'t go\u2014not yet." He didn\'t. \'Tis the \'90s; pages 10\u201312.',
    f"I was going to{DASH}\" she began, 'and{DASH}'Emma' won't{DASH}well-known {DASH} fine--",
    "'twas 'tw 'n' \"\" '' -\u2014- \u2013 \"'",
]


@pytest.mark.parametrize("style", [CURLY, HYPHENS, Style(True, False, " -- "), Style(False, True, " - "), CANONICAL])
@pytest.mark.parametrize("before", ["", "He said, ", "word --", "\u201c", "x"])
def test_streaming_in_any_pieces_gives_the_whole_texts_style(style, before):
    rng = random.Random(7)
    for text in SAMPLES:
        whole = apply_style(text, style, before)
        for _ in range(50):
            cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 12)))
            styler = Styler(style, before)
            pieces = [styler.push(text[a:b]) for a, b in zip([0, *cuts], [*cuts, len(text)])]
            assert "".join(pieces) + styler.finish() == whole


def test_styled_text_has_no_straight_quotes_in_a_curly_document():
    for text in SAMPLES:
        styled = apply_style(text, CURLY, "x ")
        assert '"' not in styled and "'" not in styled


# The plain forms of canonical, detect_style and for_model (every pattern run over the whole
# text), which the module's versions skip where the characters a pattern needs are absent.
def _plain_canonical(text: str) -> str:
    text = text.translate(typography.INVISIBLE).translate(typography._QUOTES)
    text = re.sub(r"(?<!\d)\u2013|\u2013(?!\d)", typography.EM_DASH, text)
    text = re.sub(r"-{2,}|\u2014+", typography.EM_DASH, text)
    return re.sub(r"(?<=\S) +\u2014 +(?=\S)", typography.EM_DASH, text)


def _plain_detect_dashes(text: str) -> dict[str, int]:
    counts = dict.fromkeys(typography.DASHES, 0)
    for pattern, unspaced, spaced in ((r"(?<!-)(?P<pre>[ \t]?)-{2,3}(?P<post>[ \t]?)(?!-)", "--", " -- "),
                                      (r"(?P<pre>[ \t]?)\u2014+(?P<post>[ \t]?)", typography.EM_DASH, " \u2014 ")):
        for m in re.finditer(pattern, text):
            counts[spaced if m["pre"] and m["post"] else unspaced] += 1
    counts[" \u2013 "] = len(re.findall(r"(?<=\S)[ \t]\u2013[ \t](?=\S)", text))
    counts[" - "] = len(re.findall(r"(?<=\S)[ \t]-[ \t](?=\S)", text))
    return counts


def _plain_for_model(text: str, style: Style) -> str:
    text = _plain_canonical(text)
    if style.dash == " - ":
        text = re.sub(r"(?<=\S)[ \t]-[ \t](?=\S)", typography.EM_DASH, text)
        text = typography._END_HYPHEN_DASH.sub(typography.EM_DASH, text)
    return re.sub(r"(?<=\S)[ \t]+\u2014[ \t]*\Z", typography.EM_DASH, text)


def test_the_quick_forms_give_what_every_pattern_over_the_whole_text_gives():
    """canonical, detect_style and for_model skip a pattern where its characters are absent and
    scan from the first character a match can start with: the same results as the plain forms,
    on texts made of the characters they look at."""
    rng = random.Random(7)
    alphabet = ["a", "Bc", "1", " ", " ", "\t", "\n", "-", "--", "\u2014", "\u2013", "\u2015", '"', "'",
                "\u201c", "\u201d", "\u2018", "\u2019", "\u00ad", "\u00a0", "\u200b", "\u2033", ".", "word ",
                " \u2014 ", "---", "----", " -- "]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 24)))
        if rng.random() < 0.3:
            text = "plain ascii prose, " * rng.randrange(1, 4) + text
        assert canonical(text) == _plain_canonical(text), repr(text)
        style = detect_style(text)
        counts = _plain_detect_dashes(text)
        quick = dict.fromkeys(typography.DASHES, 0)
        typography._count_runs(text, quick)
        assert {d: quick[d] for d in ("--", " -- ", "\u2014", " \u2014 ")} == \
            {d: counts[d] for d in ("--", " -- ", "\u2014", " \u2014 ")}, repr(text)
        dash = max(typography.DASHES, key=lambda d: (counts[d], -typography.DASHES.index(d)))
        assert style.dash == (dash if counts[dash] else typography.EM_DASH), repr(text)
        for s in (style, Style(dash=" - "), CANONICAL):
            assert for_model(text, s) == _plain_for_model(text, s), repr(text)


def test_for_model_makes_the_context_canonical():
    assert for_model("\u201cDon\u2019t\u201d -- she said--") == f"\"Don't\"{DASH}she said{DASH}"
    # a spaced dash just typed at the cursor is the unspaced dash the model knows
    assert for_model("word --") == for_model("word -- ") == for_model(f"word {DASH}") == f"word{DASH}"
    assert for_model("a - b and c -") == "a - b and c -"
    assert for_model("a - b and c -", Style(dash=" - ")) == f"a{DASH}b and c{DASH}"
    assert for_model("half-typed -") == "half-typed -"
    for before in ("word --", f"word  {DASH}{DASH}", "word \u2013", "word ---"):  # what the model sees ...
        assert for_model(before) == f"word{DASH}"
        assert apply_style("and", HYPHENS, before) == " and"  # ... and the space the screen is owed


def test_suggestion_text_styles_before_it_cuts():
    """Length modes and streaming work on the styled text: a spaced dash ends a word."""
    out = SuggestionText("word", style=Style(dash=" -- "), before="It was")
    pieces = [out.push(p.encode()) for p in (" late", DASH, "and", " dark")] + [out.finish()]
    assert out.text == " late" == "".join(pieces)
    out = SuggestionText("tokens", style=CURLY, before="He said, ")
    pieces = [out.push(p.encode()) for p in ('"', "Hello", ',"', " she", " said", '."')] + [out.finish()]
    assert out.text == "\u201cHello,\u201d she said.\u201d" == "".join(pieces)
    plain = SuggestionText("tokens")
    assert plain.push(b'"--') + plain.finish() == '"--'  # no style: the model's text as it is
