"""Issue 21: suggestions shown when likely right, real words only, the document's own words,
the same from the command line, and the keystroke benchmark's accounting."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from app import generate_cli, generation
from app.engine import Engine, GenerationParams, doccache, healing, sampling, trust
from app.settings import Settings
from core.tokenizer import encode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

GREEDY = {"temperature": 0.0, "num_alternatives": 1, "length": "tokens"}


class Forced:
    """A decoder whose next token is always the next of ``tokens`` (far likelier than any other)."""

    def __init__(self, decoder, tokens):
        self.decoder, self.tokens, self.calls = decoder, tokens, 0

    def __getattr__(self, name):
        return getattr(self.decoder, name)

    def run(self, ids, positions, cache):
        logits = self.decoder.run(ids, positions, cache).copy()
        logits[:, self.tokens[min(self.calls, len(self.tokens) - 1)]] += 1000.0
        self.calls += 1
        return logits


def forced(tiny_bundle, text, lexicon=None):
    engine = Engine.load(tiny_bundle, provider="cpu", lexicon=lexicon)
    engine.decoder = Forced(engine.decoder, encode(text))
    return engine


# -- the document's n-gram cache ---------------------------------------------------------------------

def test_the_cache_predicts_what_followed_the_same_tokens_before():
    history = np.array(encode("He came in. Captain Wentworth sat. Then Captain Benwick. Captain"))
    ids, shares, longest = doccache.DocumentCache(history).distribution(history)
    went = encode(" Wentworth")[0]
    assert longest >= 2 and int(ids[np.argmax(shares)]) == went and np.isclose(shares.sum(), 1.0)
    plain = np.array(encode("no repeats here"))
    ids, shares, longest = doccache.DocumentCache(plain).distribution(plain)
    assert len(ids) == len(shares) == longest == 0


def test_the_cache_counts_only_what_followed_in_the_writers_text():
    writer = encode("It rained. Mrs. Smith came.")
    history = np.array(writer + encode(" Mrs. Since sat. Mrs."))  # the model's words after the writer's
    since, smith = encode(" Since")[0], encode(" Smith")[0]
    ids, _, _ = doccache.DocumentCache(writer).distribution(history)
    assert smith in ids.tolist() and since not in ids.tolist()  # the writer's name, not the invention
    ids, _, _ = doccache.DocumentCache(history).distribution(history)
    assert since in ids.tolist()  # all of it taken as the writer's: its own words counted


def _distribution_in_numpy(cache: doccache.DocumentCache, history: np.ndarray):
    """The cache's distribution as one numpy call per order and a bincount over them all."""
    places = cache._places(int(history[-1])) if len(history) >= 2 else None
    if places is None:
        return np.empty(0, dtype=np.int64), np.empty(0), 0
    ids, shares, longest = [], [], 0
    for order in range(1, min(doccache.MAX_ORDER, len(history) - 1) + 1):
        if order > 1:
            places = places[places - (order - 1) >= 0]
            places = places[cache.tokens[places - (order - 1)] == history[-order]]
        if not len(places):
            break
        longest = order
        followers, number = np.unique(cache.tokens[places + 1], return_counts=True)
        ids.append(followers)
        shares.append(number * (doccache.ORDER_WEIGHTS[order] / len(places)))
    if not longest:
        return np.empty(0, dtype=np.int64), np.empty(0), 0
    tokens, where = np.unique(np.concatenate(ids), return_inverse=True)
    weights = np.bincount(where, weights=np.concatenate(shares))
    return tokens, weights / weights.sum(), longest


def test_the_distribution_is_the_same_as_summed_over_numpy_arrays():
    """distribution sums each token's shares in plain Python: the same numbers, bit for bit, as
    the per-order numpy lists and a bincount, on a writer's text and on what a model wrote after it."""
    rng = np.random.default_rng(3)
    writer = encode("It was a dark and stormy night; the rain fell in torrents, except at occasional "
                    "intervals, when it was checked by a violent gust of wind. " * 3
                    + "Captain Wentworth came in. Later Captain Wentworth sat. Then Captain")
    cache = doccache.DocumentCache(writer)
    for _ in range(500):
        end = int(rng.integers(1, len(writer) + 1))
        written = rng.choice(writer, size=int(rng.integers(0, 3))).tolist()
        history = np.array(writer[:end] + written, dtype=np.int64)
        got, expected = cache.distribution(history), _distribution_in_numpy(cache, history)
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]), history[-4:]
        assert got[2] == expected[2]


def test_mixing_raises_the_documents_word_and_keeps_the_rest_in_scale():
    history = np.array(encode("Captain Wentworth came in. Later Captain Wentworth sat. Then Captain"))
    went = encode(" Wentworth")[0]
    logits = np.zeros(50257, dtype=np.float32)
    cache = doccache.DocumentCache(history)
    mixed = cache.mix(logits, [history], 0.2)
    assert mixed[went] > logits[went] + 5  # from 1/50257 to a share of the cache's 0.2
    other = encode(" house")[0]
    assert mixed[other] == logits[other]  # the rest keep their logits
    p = np.exp(mixed - mixed.max())
    p /= p.sum()
    # the mixture (1 - w) p + w c, with the uniform p = 1 / vocab and w by the longest match
    ids, shares, longest = cache.distribution(history)
    w = 0.2 * doccache.LENGTH_SHARE[longest]
    assert np.isclose(p[other], (1 - w) / 50257, rtol=1e-4)
    assert np.isclose(p[went], (1 - w) / 50257 + w * shares[ids.tolist().index(went)], rtol=1e-4)
    assert cache.mix(logits, [history], 0.0) is logits


def test_mixing_with_the_rows_normalizer_gives_the_same_scores_and_the_mixed_normalizer():
    """A step reads each row's log-sum-exp once and hands it to the cache's mix, which keeps it
    true for the mixed row (the tokens' probabilities are read from it)."""
    history = np.array(encode("Captain Wentworth came in. Later Captain Wentworth sat. Then Captain"))
    rows = (np.random.default_rng(0).standard_normal((2, 50257)) * 3).astype(np.float32)
    cache = doccache.DocumentCache(history)
    log_z = sampling.log_sum_exp(rows)
    other = np.array(encode(" a purple elephant"))  # its last token is not in the writer's text
    mixed = cache.mix(rows, [history, other], log_z=log_z)
    assert np.array_equal(mixed, cache.mix(rows, [history, other]))
    assert not np.array_equal(mixed[0], rows[0]) and np.array_equal(mixed[1], rows[1])  # row 1: no match
    np.testing.assert_allclose(log_z, sampling.log_sum_exp(mixed), rtol=0, atol=1e-5)


def test_the_engine_mixes_the_cache_only_when_asked(tiny_bundle):
    engine = Engine.load(tiny_bundle, provider="cpu")
    text = "Wentworth Wentworth Wentworth Wentworth Wentworth Wentworth"
    on = engine.generate(text, GenerationParams(max_new_tokens=1, heal=False, **GREEDY))
    off = engine.generate(text, GenerationParams(max_new_tokens=1, heal=False, document_cache=False, **GREEDY))
    assert on.alternatives[0].token_ids == encode(" Wentworth")[:1]  # a random model, won over by the text
    assert off.alternatives[0].token_ids != on.alternatives[0].token_ids


# -- real words --------------------------------------------------------------------------------------

def test_words_known_by_the_lexicon_or_the_document():
    words = trust.Words({"update", "up"}.__contains__, "Mr Zorblax came. He sent us the upd")
    assert words.extension_known("sent us the upd", "ate, and")
    assert not words.extension_known("sent us the upd", '."')  # "upd" is no word
    assert not words.extension_known("sent us the upd", "es")  # nor "updes"
    assert words.extension_known("sent us the Zorb", "lax")  # the document knows it
    assert words.extension_known("sent us the ", "anything")  # no word at the cursor
    assert trust.Words(None, "").extension_known("the upd", "qq")  # no lexicon: no checks


def test_first_word_end():
    assert trust.first_word_end(" the", final=False) is None
    assert trust.first_word_end(" the house", final=False) == 4
    assert trust.first_word_end(" the", final=True) == 4
    assert trust.first_word_end("ate,", final=False) == 3
    assert trust.first_word_end(", and", final=False) == 1


def test_a_completion_that_makes_a_non_word_is_never_shown(tiny_bundle):
    pieces = []
    params = GenerationParams(max_new_tokens=4, **GREEDY)
    engine = forced(tiny_bundle, " updates of the day", lexicon={"update", "updates", "the"}.__contains__)
    assert engine.generate("He sent us the upd", params).text == "ates of the day"
    # the same model, a lexicon without "updates": neither "updates" nor "upd" as it is is shown
    engine = forced(tiny_bundle, " updates of the day", lexicon={"update", "the"}.__contains__)
    result = engine.generate("He sent us the upd", params, on_token=lambda r, p, q: pieces.append(p))
    assert result.text == "" and pieces == [] and result.non_words >= 1
    # without word checks (today's engine) it was shown
    engine = forced(tiny_bundle, " updates of the day", lexicon={"update", "the"}.__contains__)
    assert engine.generate("He sent us the upd", GenerationParams(max_new_tokens=4, real_words=False, **GREEDY)).text


def test_a_finished_word_is_extended_only_into_a_real_word(tiny_bundle):
    # "In" goes on as "Instead" only with a lexicon that knows it; else the word stays as typed.
    params = GenerationParams(max_new_tokens=2, **GREEDY)
    engine = forced(tiny_bundle, " Instead of", lexicon={"in", "instead"}.__contains__)
    assert engine.generate("It was so. In", params).text == "stead of"
    engine = forced(tiny_bundle, " Instead of", lexicon={"in"}.__contains__)
    text = engine.generate("It was so. In", params).text
    assert not text[:1].isalpha()
    lexicon = {"in"}.__contains__
    assert Engine._ratio(trust.Words(lexicon, ""), "It was so. In") == healing.FINISHED_WORD_RATIO
    assert Engine._ratio(trust.Words(lexicon, ""), "It was so. Inq") is None


# -- shown when likely right ----------------------------------------------------------------------

def test_an_unsure_suggestion_is_not_shown_and_sends_nothing(tiny_bundle):
    pieces = []
    engine = forced(tiny_bundle, " the house was")
    shown = engine.generate("It was", GenerationParams(max_new_tokens=3, heal=False, **GREEDY))
    assert shown.text == " the house was" and 0 < shown.alternatives[0].confidence < 1
    hidden = engine.generate("It was", GenerationParams(max_new_tokens=3, heal=False, min_show=1.0, **GREEDY),
                             on_token=lambda r, p, q: pieces.append(p))
    assert hidden.text == "" and hidden.unsure == 1 and pieces == []


def test_a_completion_and_a_new_word_have_their_own_thresholds(tiny_bundle):
    def shown(text, **show):
        engine = forced(tiny_bundle, text)
        return engine.generate("It was", GenerationParams(max_new_tokens=len(encode(text)), heal=False, real_words=False,
                                                          **show, **GREEDY)).text

    assert shown(" the house was", min_show_completion=1.0) == " the house was"  # a new word
    assert shown(" the house was", min_show=1.0) == ""
    assert shown("ful and", min_show=1.0) == "ful and"  # completes "was" (as far as the test knows)
    assert shown("ful and", min_show_completion=1.0) == ""


def test_calibration_is_monotone_and_a_probability():
    values = [trust.calibrated(p) for p in (1e-6, 0.01, 0.1, 0.5, 1.0)]
    assert values == sorted(values) and all(0 <= v <= 1 for v in values)


def test_the_setting_in_words_and_ctrl_space(tmp_path):
    settings = Settings(tmp_path / "settings.json")
    assert settings["show_suggestions"] == "fairly sure"
    levels = generation.SHOW_LEVELS
    for kind in range(2):  # a new word's threshold, a completion's
        assert levels["often"][kind] == 0 < levels["fairly sure"][kind] < levels["sure"][kind]
    params = generation.params_for(settings, "suggestion")
    assert (params.min_show, params.min_show_completion) == levels["fairly sure"]
    asked = generation.params_for(settings, "suggestion", asked=True)  # Ctrl+Space
    assert asked.min_show == asked.min_show_completion == 0.0
    settings.set("show_suggestions", "sure")
    params = generation.params_for(settings, "suggestion")
    assert (params.min_show, params.min_show_completion) == levels["sure"]
    with pytest.raises(ValueError):
        settings.set("show_suggestions", "always")
    assert set(generation.SHOW_LABELS.values()) == {"often", "when fairly sure", "only when sure"}


def test_the_lexicon_knows_english_and_the_personal_dictionary():
    from app import spelling

    spelling.personal_path().parent.mkdir(parents=True, exist_ok=True)
    spelling.personal_path().write_text("Zorblax\n", encoding="utf-8")
    known = generation.lexicon()
    assert known("update") and known("zorblax") and not known("upd")


# -- the command line ---------------------------------------------------------------------------------

def _settings(**values):
    settings = Settings.load()
    settings.update({"temperature": 0.0, **values})
    settings.flush()
    return settings


def test_generate_suggestion_prints_what_the_editor_shows(tiny_bundle, capsys):
    _settings(show_suggestions="often", model=str(tiny_bundle))
    prompt = "It was a truth universally acknowledged, that"
    assert generate_cli.main(["--suggestion", prompt]) == 0
    printed = capsys.readouterr().out
    settings = Settings.load()
    engine = Engine.load(tiny_bundle, provider="cpu", lexicon=generation.lexicon())
    expected = engine.generate(prompt, generation.params_for(settings, "suggestion")).text
    assert expected and printed == expected + "\n"


def test_generate_suggestion_prints_nothing_when_nothing_would_show(tiny_bundle, capsys, monkeypatch):
    _settings(show_suggestions="sure")
    monkeypatch.setitem(generation.SHOW_LEVELS, "sure", (1.0, 1.0))
    assert generate_cli.main(["--suggestion", "--model", str(tiny_bundle), "It was a truth"]) == 0
    assert capsys.readouterr().out == ""


# -- the benchmark's accounting ------------------------------------------------------------------------

def test_keystroke_accounting():
    from bench_keystrokes import pauses, taken

    assert taken(" the house, and", " the house was") == (10, 2, True)  # Ctrl+Right twice
    assert taken(" the house", " the house was") == (10, 1, True)  # all of it: Tab
    assert taken(" a house", " the house") == (0, 0, False)
    assert taken("ledged, that", "ledged, that a single") == (12, 1, True)
    ends, firsts = pauses("It was a truth.")
    assert ends == {2, 6, 8, 14} and firsts == {1, 4, 10}


def test_the_settings_panel_offers_the_setting_in_words(qtbot):
    from PySide6.QtWidgets import QComboBox

    from app.ui.actions import DEFAULT_KEYS
    from app.ui.settings_panel import SettingsPanel

    settings = Settings.load()
    panel = SettingsPanel(settings, DEFAULT_KEYS)
    qtbot.addWidget(panel)
    box = panel.findChild(QComboBox, "setting_show_suggestions")
    assert [box.itemText(i) for i in range(box.count())] == ["often", "when fairly sure", "only when sure"]
    assert box.currentText() == "when fairly sure"
    box.setCurrentIndex(2)
    assert settings["show_suggestions"] == "sure"


def test_the_window_shows_nothing_unsure_at_a_pause_but_ctrl_space_asks_anyway(qtbot, tiny_bundle, monkeypatch):
    from app.ui.main_window import MainWindow

    monkeypatch.setitem(generation.SHOW_LEVELS, "sure", (1.0, 1.0))  # never sure enough
    settings = Settings.load()
    settings.update({"model": str(tiny_bundle), "delay_ms": 30, "temperature": 0.0, "show_suggestions": "sure"})
    window = MainWindow(settings)
    try:
        window.show()
        qtbot.waitExposed(window)
        with qtbot.waitSignal(window.suggestions.generator.loaded, timeout=30000):
            window.start()
        window.editor.setFocus()
        with qtbot.waitSignal(window.suggestions.generator.finished, timeout=20000):
            qtbot.keyClicks(window.editor, "The sea was calm and")
        assert window.editor.ghost_text == ""  # the pause's suggestion: the engine kept it back
        window.commands["suggest_now"].trigger()  # Ctrl+Space
        qtbot.waitUntil(lambda: window.editor.ghost_text != "", timeout=10000)
    finally:
        window.editor.document().setModified(False)
        window.close()
        window.deleteLater()
