"""Stop conditions, UTF-8 streaming, token healing, long-document windows, parameter checks."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest

from app.engine import GenerationParams, context
from app.engine.healing import heal, word_continues
from app.engine.stopping import SuggestionText, find_end
from core.tokenizer import decode, encode, token_bytes


@pytest.mark.parametrize(
    "text, length, expected",
    [
        (" mat sat", "word", " mat"),
        ("t the", "word", "t"),  # healing: the rest of the word only
        (" mat.\nNext", "word", " mat."),
        (" the end\nof", "line", " the end"),
        ("\n\nChapter 2\nIt", "line", "\n\nChapter 2"),  # a suggestion may start on the next line
        (" Mr. Darcy came in. He", "sentence", " Mr. Darcy came in."),
        (" it was 3.14 exactly! Then", "sentence", " it was 3.14 exactly!"),
        (' he said." Then', "sentence", ' he said."'),
        (" no end yet", "sentence", None),
        (" a b c", "tokens", None),
    ],
)
def test_length_modes(text, length, expected):
    end = find_end(text, length)
    assert (None if end is None else text[:end]) == expected


def test_stop_string_cuts_before_it():
    assert find_end(" one two STOP three", "tokens", ("STOP",)) == len(" one two ")


def stream(pieces: list[bytes], **kw) -> tuple[list[str], str]:
    out = SuggestionText(kw.pop("length", "tokens"), **kw)
    shown = [out.push(p) for p in pieces] + [out.finish()]
    return shown, out.text


def test_streaming_never_splits_a_character():
    text = "naïve 🦊 emoji 中文"
    tokens = encode(text)
    assert any(token_bytes(t).decode("utf-8", "ignore") != token_bytes(t).decode("utf-8", "replace")
               for t in tokens)  # some token ends inside a character
    shown, final = stream([token_bytes(t) for t in tokens])
    assert "".join(shown) == text == final
    assert all("\ufffd" not in piece for piece in shown)


def test_streaming_holds_back_a_possible_stop_string():
    shown, final = stream([b" one", b" ST", b"OP", b" two"], stop_strings=("STOP",))
    assert shown[:3] == [" one", " ", ""] and final == " one "
    shown, final = stream([b" one", b" ST", b"AR"], stop_strings=("STOP",))
    assert "".join(shown) == final == " one STAR"


def test_streamed_text_is_always_a_prefix_of_the_final_text():
    pieces = [b" Mr", b".", b" Darcy", b" smiled", b".", b" Then"]
    shown, final = stream(pieces, length="sentence")
    assert "".join(shown) == final == " Mr. Darcy smiled."


def test_healing_skips_the_backed_off_bytes():
    shown, final = stream([b" quick", b" brown"], length="word", skip=b" qu")
    assert final == "ick" and "".join(shown) == "ick"


def test_heal_backs_off_the_partial_word_and_constrains_the_first_token():
    tokens = encode("The quick brown fo")
    healed = heal(tokens)
    assert healed.prompt == tokens[:-1] and healed.prefix == b" fo"
    allowed = {decode([int(t)]) for t in healed.allowed}
    # The word may be finished: if it is completed, it is with more letters.
    assert {" fox", " for"} <= allowed and " fo" not in allowed and " fo," not in allowed
    assert all(word.startswith(" fo") and word[3].isalnum() for word in allowed)
    assert healed.word == tokens[-1]
    assert heal(tokens, enabled=False).allowed is None
    assert heal([]).prompt == []


def test_an_unfinished_word_of_several_tokens_is_backed_off_whole():
    tokens = encode("for some time bef")
    assert decode(tokens[-2:]) == " bef"  # " be" + "f": no token begins with "f" and goes on as " before"
    healed = heal(tokens, unfinished=True)
    assert healed.prompt == tokens[:-2] and healed.prefix == b" bef" and healed.word is None
    assert " before" in {decode([int(t)]) for t in healed.allowed}
    assert heal(tokens).prompt == tokens[:-1]  # a stem that may be a word: only its last token
    # No token goes on from the whole stem: the longest back-off that one does (" aston" "ish" "m").
    tokens = encode("with great astonishm")
    healed = heal(tokens, unfinished=True)
    assert "ishment" in {decode([int(t)]) for t in healed.allowed}
    assert decode(healed.prompt) + healed.prefix.decode() == "with great astonishm"


def test_a_space_or_punctuation_at_the_end_always_heals():
    for text, prefix in (("She said ", b" "), ("She said,", b",")):
        healed = heal(encode(text))
        assert healed.prefix == prefix and healed.word is None
        assert all(token_bytes(int(t)).startswith(prefix) for t in healed.allowed)


def _logits(**probabilities):
    """Hand-made logits: the named tokens (by their text) get these probabilities."""
    row = np.full(50257, -30.0, dtype=np.float32)
    for text, p in probabilities.items():
        (token,) = encode(text.replace("_", " "))
        row[token] = np.log(p)
    return row[None]


def test_a_finished_word_stays_finished():
    healed = heal(encode("It was all but she"))
    # " she" as it is: 0.5; the longer words that begin with it: 0.05 between them
    assert not word_continues(_logits(_she=0.5, _shelter=0.03, _sheer=0.02), healed)
    # ... unless the model clearly prefers continuing
    assert word_continues(_logits(_she=0.05, _shelter=0.5), healed)


def test_a_partial_word_is_completed():
    healed = heal(encode("She was a beaut"))
    assert word_continues(_logits(_beaut=0.001, _beautiful=0.6), healed)
    # A partial word that ends inside a token ("a goo" is " go" + "o") heals the same way.
    healed = heal(encode("in possession of a goo"))
    assert healed.prefix == b"o" and "od" in {decode([int(t)]) for t in healed.allowed}


def test_engine_keeps_a_finished_word(tiny_bundle):
    """With the model preferring the word as it is, the suggestion starts after it (a new
    word), and with it preferring a longer word, the suggestion completes the word."""
    from app.engine import Engine, GenerationParams

    engine = Engine.load(tiny_bundle, provider="cpu")
    she, shelter, said = encode(" she")[0], encode(" shelter")[0], encode(" said")[0]
    engine.decoder = _Favour(engine.decoder, {she: 12.0, shelter: 6.0, said: 14.0})
    text = engine.generate("It was all but she", GenerationParams(max_new_tokens=1, temperature=0)).text
    assert text == " said"
    engine.decoder = _Favour(engine.decoder.decoder, {she: 6.0, shelter: 12.0, said: 14.0})
    engine.reset()  # another model: nothing computed by the first one applies
    text = engine.generate("It was all but she", GenerationParams(max_new_tokens=1, temperature=0)).text
    assert text == "lter"


class _Favour:
    """A decoder whose logits favour given tokens by given amounts (drives exact scenarios)."""

    def __init__(self, decoder, boost):
        self.decoder, self.boost = decoder, boost

    def __getattr__(self, name):
        return getattr(self.decoder, name)

    def run(self, ids, positions, cache):
        logits = self.decoder.run(ids, positions, cache).copy()
        for token, amount in self.boost.items():
            logits[:, token] += amount
        return logits


def prose(chars: int = 100_000, seed: int = 0) -> str:
    """English-looking text: sentences of common GPT-2 words, in paragraphs, with some dialogue."""
    rng = random.Random(seed)
    words = [w.strip() for w in (decode([t]) for t in range(256, 20000)) if w.startswith(" ") and w[1:].isalpha()
             and w[1:].islower()]
    out, size = [], 0
    while size < chars:
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(4, 24)))
        sentence = sentence[0].upper() + sentence[1:] + rng.choice([".", ".", ".", "!", "?", ","])
        if rng.random() < 0.1:
            sentence = f'"{sentence}" said {rng.choice(words).title()}.'
        out.append(sentence + ("\n\n" if rng.random() < 0.15 else " "))
        size += len(out[-1])
    return "".join(out)


def test_window_tokens_are_the_tail_of_the_full_tokenization():
    text = prose()[:60000]
    full = encode(text)
    tokens = context.window(text, 500)
    assert 200 <= len(tokens) <= 500
    assert tokens == full[-len(tokens):]


def typing(text: str, begin: int, end: int, budget: int, tail: int | None = None):
    """Windows while typing ``text[begin:end]`` a character at a time; ``tail`` cuts what the
    caller passes to its last characters, as an editor that does not copy the whole document."""
    window = context.ContextWindow()
    seen = []
    for stop in range(begin, end):
        shown = text[:stop] if tail is None else text[max(0, stop - tail) : stop]
        seen.append(window.tokens(shown, budget))
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("tail", [None, 6000])
def test_typing_keeps_the_window_start_until_it_slides_a_large_step(tail):
    text = prose()[:80000]
    windows = typing(text, 60000, 66000, 500, tail)
    starts = [decode(w[:8]) for w in windows]
    slides = sum(a != b for a, b in zip(starts, starts[1:]))
    assert 1 <= slides <= 12  # about one slide per 250 tokens typed
    for before, after in zip(windows, windows[1:]):
        if decode(before[:8]) == decode(after[:8]):  # same start: the old window is a prefix,
            common = next((i for i, (a, b) in enumerate(zip(before, after)) if a != b), len(before))
            text_before = decode(before)
            # all but the word being typed (its tokens change as it grows)
            assert len(decode(before[:common])) >= text_before.rstrip().rfind(" ")
    sizes = [len(w) for w in windows]
    assert min(sizes) >= 240 and max(sizes) <= 500


def test_long_document_is_not_tokenized_in_full(monkeypatch):
    text = prose(1_000_000)
    big = text * (10_000_000 // len(text) + 1)
    seen = []
    real = context.encode
    monkeypatch.setattr(context, "encode", lambda s: (seen.append(len(s)), real(s))[1])
    window = context.ContextWindow()
    tokens = window.tokens(big, 1000)
    tokens = window.tokens(big + "x", 1000)
    assert len(big) > 10_000_000 and len(tokens) >= 500
    assert sum(seen) < 40_000  # characters tokenized for these two requests


def test_typing_tokenizes_only_the_end_and_gives_the_tokens_of_the_whole_window(monkeypatch):
    """Each request re-tokenizes only what follows the previous text's last split, and the
    window's tokens are still those of its whole text, through typing, deleting, spaces, line
    breaks and an edit further back."""
    rng = random.Random(5)
    text = prose()[:3000]
    seen = []
    real = context.encode
    monkeypatch.setattr(context, "encode", lambda s: (seen.append(len(s)), real(s))[1])
    window = context.ContextWindow()
    window.tokens(text, 1000)
    typed = []
    for step in range(400):
        choice = rng.random()
        if choice < 0.6:
            text += rng.choice("abcdefgh  \n.,'\u201c-")
        elif choice < 0.8:
            text = text[:-1]
        elif choice < 0.85:  # an edit further back
            at = rng.randrange(len(text) - 200, len(text))
            text = text[:at] + rng.choice(" xy\n") + text[at:]
        seen.clear()
        tokens = window.tokens(text, 1000)
        assert tokens == real(text[len(text) - window._distance :]), step
        if choice < 0.6:
            typed.append(sum(seen))
    assert sum(typed) / len(typed) < 40  # characters tokenized per typed one, of a ~3,000-character window
    # A letter typed just before the last split joins the word before it ("word" + "s" + " next").
    text = text.rstrip() + " word next"
    window.tokens(text, 1000)
    at = text.rindex(" next")
    for edit in (text[:at] + "s" + text[at:], text[:at] + text[at + 1 :]):
        assert window.tokens(edit, 1000) == real(edit[len(edit) - window._distance :])


def test_dense_text_still_fills_the_window():
    text = "中文字符" * 3000  # no spaces: about a token per character
    tokens = context.window(text, 300)
    assert 140 <= len(tokens) <= 300 and decode(tokens).endswith(text[-20:])


def test_short_text_is_used_whole():
    assert context.window("Hello there", 100) == encode("Hello there")
    assert context.window("", 100) == []


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("temperature", -0.5, "temperature must be at least 0"),
        ("top_p", 1.5, "top_p must be"),
        ("top_p", 0.0, "top_p must be above 0"),
        ("max_new_tokens", 0, "max_new_tokens must be between 1 and"),
        ("max_new_tokens", 2.5, "max_new_tokens must be a whole number"),
        ("top_k", -1, "top_k must be at least 0"),
        ("min_p", 2.0, "min_p must be"),
        ("repetition_penalty", 0.0, "repetition_penalty must be above 0"),
        ("num_alternatives", 0, "num_alternatives must be between"),
        ("length", "paragraph", "length must be one of"),
        ("stop_strings", ("",), "stop_strings must be"),
        ("seed", -3, "seed must be at least 0"),
        ("temperature", float("nan"), "temperature must be a finite number"),
        ("heal", "yes", "heal must be true or false"),
    ],
)
def test_bad_parameters_are_named(field, value, words):
    with pytest.raises(ValueError, match=words):
        dataclasses.replace(GenerationParams(), **{field: value}).validate()


def test_default_parameters_are_valid():
    GenerationParams().validate()
    GenerationParams(temperature=0, top_k=0, top_p=1.0, stop_strings=["\n\n"]).validate()


def test_engine_does_not_import_torch_or_qt():
    import subprocess
    import sys

    code = "import sys, app.engine; print(sorted(m for m in ('torch', 'PySide6') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"


class _Script:
    """A decoder that favours given first tokens after the prompt, then at each decoding step a
    given token in each row."""

    def __init__(self, decoder, first: dict[int, float], rows: list[list[int]]):
        self.decoder, self.first, self.rows, self.step = decoder, first, rows, 0

    def __getattr__(self, name):
        return getattr(self.decoder, name)

    def run(self, ids, positions, cache):
        logits = self.decoder.run(ids, positions, cache).copy()
        if ids.shape[0] == 1:  # the prompt
            for token, amount in self.first.items():
                logits[:, token] += amount
        else:
            for row, script in enumerate(self.rows):
                logits[row, script[min(self.step, len(script) - 1)]] += 40.0
            self.step += 1
        return logits


def _tokens(*texts: str) -> list[int]:
    out = []
    for text in texts:
        (token,) = encode(text)
        out.append(token)
    return out


def test_alternatives_differ_in_their_first_words(tiny_bundle):
    from app.engine import Engine, GenerationParams

    engine = Engine.load(tiny_bundle, provider="cpu")
    a, able, the = _tokens(" a", " able", " the")
    ble, to, go = _tokens("ble", " to", " go")
    engine.decoder = _Script(engine.decoder, {a: 40.0, able: 39.0, the: 38.0},
                             [[ble, to], [to, go], [to, go]])
    params = GenerationParams(max_new_tokens=3, num_alternatives=3, temperature=0, heal=False)
    result = engine.generate("It was all but impossible, and she was", params)
    texts = [alt.text for alt in result.alternatives]
    assert texts == [" able to", " the to go"]  # " able to go" starts with the same word: left out
    assert [alt.row for alt in result.alternatives] == [0, 2]


def test_an_unsure_model_stops_after_a_word_a_sure_one_goes_on(tiny_bundle):
    """The tiny random model is unsure of everything: with a confidence threshold it suggests one
    whole word; made sure of a sequence, it writes all of it."""
    from app.engine import Engine, GenerationParams

    engine = Engine.load(tiny_bundle, provider="cpu")
    for seed in range(4):
        text = engine.generate("It was a cold", GenerationParams(max_new_tokens=12, min_confidence=0.05,
                                                                  seed=seed, heal=False)).text
        assert len(text.split()) == 1 and text[:1] == " " or not text.strip(), text
    free = engine.generate("It was a cold", GenerationParams(max_new_tokens=12, seed=0, heal=False,
                                                             stop_at_eot=False))
    assert len(free.alternatives[0].token_ids) == 12
    sure = Engine.load(tiny_bundle, provider="cpu")
    sure.decoder = _Sequence(sure.decoder, _tokens(" morning", " in", " the", " late", " autumn"))
    text = sure.generate("It was a cold", GenerationParams(max_new_tokens=5, min_confidence=0.05,
                                                           temperature=0, heal=False)).text
    assert text == " morning in the late autumn"


class _Sequence:
    """A decoder all but certain of a token sequence: the n-th run favours its n-th token."""

    def __init__(self, decoder, tokens):
        self.decoder, self.tokens, self.calls = decoder, tokens, 0

    def __getattr__(self, name):
        return getattr(self.decoder, name)

    def run(self, ids, positions, cache):
        logits = self.decoder.run(ids, positions, cache).copy()
        logits[:, self.tokens[min(self.calls, len(self.tokens) - 1)]] += 40.0
        self.calls += 1
        return logits
