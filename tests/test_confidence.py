"""Confidence shading: the engine streams each piece with the probability the model gave it, the
suggestion keeps it per character, and the ghost text fades where the model was unsure."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtWidgets import QCheckBox
from test_ghost_state import Place

from app.engine import Engine, GenerationParams
from app.ghost import FAINTEST, GhostState, opacity
from core.tokenizer import encode


class Shaped:
    """Wraps a decoder so that each step's distribution is a chosen one: the wanted token with
    probability ``p`` and the rest spread over other tokens each less likely than it (so greedy
    decoding still picks the wanted token)."""

    def __init__(self, decoder, tokens, probs):
        self.decoder, self.tokens, self.probs, self.calls = decoder, list(tokens), list(probs), 0

    def __getattr__(self, name):
        return getattr(self.decoder, name)

    def run(self, ids, positions, cache):
        logits = self.decoder.run(ids, positions, cache)
        step = min(self.calls, len(self.tokens) - 1)
        self.calls += 1
        token, p = self.tokens[step], self.probs[step]
        others = [t for t in range(1000, 1200) if t != token]
        share = (1 - p) / len(others)
        assert share < p
        shaped = np.full_like(logits, -1e9)
        shaped[:, others] = math.log(share)
        shaped[:, token] = math.log(p)
        return shaped


def shaped_engine(tiny_bundle, tokens, probs):
    engine = Engine.load(tiny_bundle, provider="cpu")
    engine.decoder = Shaped(engine.decoder, tokens, probs)
    return engine


PLAIN = GenerationParams(temperature=0, top_k=0, top_p=1.0, repetition_penalty=1.0, heal=False,
                         stop_at_eot=False)


def test_each_piece_comes_with_its_tokens_probability(tiny_bundle):
    tokens = encode(" one two three")
    probs = [0.9, 0.3, 0.05]
    engine = shaped_engine(tiny_bundle, tokens, probs)
    pieces = []
    params = GenerationParams(**{**PLAIN.__dict__, "max_new_tokens": len(tokens)})
    result = engine.generate("Count:", params, on_token=lambda row, piece, p: pieces.append((piece, p)))
    assert result.text == " one two three"
    assert [piece for piece, _ in pieces] == [" one", " two", " three"]
    assert [p for _, p in pieces] == pytest.approx(probs, rel=1e-3)
    assert result.alternatives[0].probs == pytest.approx(probs, rel=1e-3)


def test_a_piece_of_several_tokens_gets_their_geometric_mean(tiny_bundle):
    tokens = encode(" 🦊")  # b" \xf0\x9f", b"\xa6", b"\x8a": the fox shows once its last byte came
    assert len(tokens) == 3
    engine = shaped_engine(tiny_bundle, tokens, [0.8, 0.2, 0.5])
    pieces = []
    params = GenerationParams(**{**PLAIN.__dict__, "max_new_tokens": len(tokens)})
    engine.generate("Look:", params, on_token=lambda row, piece, p: pieces.append((piece, p)))
    assert [piece for piece, _ in pieces] == [" ", "🦊"]
    assert [p for _, p in pieces] == pytest.approx([0.8, math.sqrt(0.2 * 0.5)], rel=1e-3)


# -- the suggestion's state: which part of the shown text came with which probability ---------------


def test_opacity_fades_with_the_probability():
    assert opacity(0.9) == opacity(0.5) == 1.0
    assert opacity(0.02) == opacity(0.001) == FAINTEST
    levels = [opacity(p) for p in (0.4, 0.2, 0.1, 0.05)]
    assert levels == sorted(levels, reverse=True) and FAINTEST < levels[-1] < levels[0] < 1.0


def test_shades_follow_typing_through_and_alternatives():
    state = GhostState()
    state.expect(Place(10))
    state.add(0, " the", 0.9)
    state.add(0, " house", 0.05)
    state.add(1, " a", 0.3)
    assert state.text == " the house"
    assert state.shades == [(0, 4, 0.9), (4, 6, 0.05)]
    state.typed(" th")  # typed into the first piece: what is left of it keeps its probability
    assert state.text == "e house" and state.shades == [(0, 1, 0.9), (1, 6, 0.05)]
    state.clear()
    state.expect(Place(0))
    state.add(0, " x", 0.9)
    state.add(1, " y", 0.3)
    state.add(1, "z", 0.01)
    assert state.cycle(1) and state.shades == [(0, 2, 0.3), (2, 1, 0.01)]


# -- the editor: ghost text painted fainter where the model was unsure ------------------------------


@pytest.fixture
def editor(editor, qtbot):
    qtbot.keyClicks(editor, "It was")
    return editor


def painted(editor):
    """(start, length, alpha) of the ghost's colour ranges in the cursor's paragraph."""
    layout = editor.textCursor().block().layout()
    return [(r.start, r.length, round(r.format.foreground().color().alphaF(), 2)) for r in layout.formats()]


def alpha(probability):
    return round(round(opacity(probability) * 255) / 255, 2)


def test_unsure_words_are_fainter(qtbot, editor):
    editor.expect_suggestion()
    for piece, p in ((" a", 0.9), (" dark", 0.6), (" and", 0.1), (" stormy", 0.01), (" night", 0.7)):
        editor.add_piece(0, piece, p)
    at = len("It was")
    assert painted(editor) == [(at, 7, 1.0), (at + 7, 4, alpha(0.1)), (at + 11, 7, alpha(0.01)),
                               (at + 18, 6, 1.0)]
    assert alpha(0.01) < alpha(0.1) < 1.0
    # typing through keeps the shades of what is left
    qtbot.keyClicks(editor, " a da")
    assert editor.ghost_text == "rk and stormy night"
    at += len(" a da")
    assert painted(editor) == [(at, 2, 1.0), (at + 2, 4, alpha(0.1)), (at + 6, 7, alpha(0.01)), (at + 13, 6, 1.0)]


def test_shading_can_be_turned_off(qtbot, editor):
    editor.expect_suggestion()
    editor.add_piece(0, " a", 0.9)
    editor.add_piece(0, " storm", 0.01)
    editor.set_confidence_shading(False)
    assert painted(editor) == [(len("It was"), 8, 1.0)]
    editor.set_confidence_shading(True)
    assert len(painted(editor)) == 2


def test_an_emoji_counts_twice_in_qt_positions(qtbot, editor):
    editor.expect_suggestion()
    editor.add_piece(0, " 🦊", 0.9)
    editor.add_piece(0, " ran", 0.01)
    at = len("It was")
    assert painted(editor) == [(at, 3, 1.0), (at + 3, 4, alpha(0.01))]


def test_the_setting_reaches_the_editor(qtbot):
    from app.settings import Settings
    from app.ui.main_window import MainWindow

    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    assert window.editor.confidence_shading
    box = window.panel.findChild(QCheckBox, "setting_confidence_shading")
    box.setChecked(False)
    assert window.settings["confidence_shading"] is False and not window.editor.confidence_shading
    window.close()
    assert Settings.load()["confidence_shading"] is False


def test_the_window_keeps_every_shade_of_a_suggestion_with_an_emoji(qtbot):
    # (the window's highlighter puts its formats around the suggestion's: in UTF-16 positions too)
    from app.settings import Settings
    from app.ui.main_window import MainWindow

    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    editor = window.editor
    qtbot.keyClicks(editor, "It was")
    editor.expect_suggestion()
    editor.add_piece(0, " 🦊", 0.9)
    editor.add_piece(0, " ran", 0.01)
    at = len("It was")
    assert painted(editor) == [(at, 3, 1.0), (at + 3, 4, alpha(0.01))]
    editor.document().setModified(False)
    window.close()
