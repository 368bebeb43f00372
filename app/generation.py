"""What the editor asks of the engine, built from the settings: the GenerationParams of a
suggestion or of story mode, on the GUI thread, so the worker thread receives typed parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.engine.params import GenerationParams

if TYPE_CHECKING:
    from app.settings import Settings

SAMPLING = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "seed")
# A suggestion never repeats three tokens of its own: a phrase or clause has no reason to, and a
# small model's greedy loops ("able to be able to be able") end there. Story mode is long prose,
# where phrases do recur, so it is left to the repetition penalty.
SUGGESTION_OWN_NGRAM = 3
# "Show suggestions": the least calibrated probability that a suggestion's first word is right
# (app/engine/trust.py) for it to be shown, for a word that begins anew and for one that completes
# the word at the cursor (GenerationParams.min_show, min_show_completion); "often" shows every
# suggestion, as Inkwell did before. Chosen with bench/bench_keystrokes.py and inkwell-fiction (all
# 4500 steps): a right completion hidden costs the rest of the word, a right new word only a letter
# (the writer is asked again after it), so completions are shown more readily. "fairly sure"
# (0.5, 0.1) against Inkwell before suggestions were judged: held-out Austen saves 21.9% of keys
# (was 20.3%), shown right 51% (31%); held-out authors 13.3% (14.5%), right 44% (22%). No pair of
# thresholds doubled the share right and kept the saving on both texts with this model.
SHOW_LEVELS = {"often": (0.0, 0.0), "fairly sure": (0.5, 0.1), "sure": (0.7, 0.3)}
SHOW_LABELS = {"often": "often", "fairly sure": "when fairly sure", "sure": "only when sure"}


def params_for(settings: Settings, kind: str, retries: int = 0, asked: bool = False) -> GenerationParams:
    """The parameters of a ``kind`` ("suggestion" or "story") request; ``retries`` (story mode's
    "try again") moves a fixed seed on, since a retry must be a new sample. ``asked``: the writer
    asked for this suggestion (Ctrl+Space): it is shown however unsure the model is."""
    values = {k: settings[k] for k in SAMPLING}
    if kind == "suggestion":
        values.update(max_new_tokens=settings["suggestion_tokens"], num_alternatives=settings["alternatives"],
                      length=settings["length"], min_confidence=settings["min_confidence"],
                      no_repeat_own_ngram_size=SUGGESTION_OWN_NGRAM,
                      **show_thresholds(settings["show_suggestions"], asked))
    else:
        if settings["seed"] is not None:
            values["seed"] = settings["seed"] + retries
        # A story is written on, not offered: no confidence gate and no word check on its text.
        values.update(max_new_tokens=settings["story_tokens"], num_alternatives=1, length="tokens",
                      stop_at_eot=False, real_words=False)
    return GenerationParams(**values)


def show_thresholds(level: str, asked: bool = False) -> dict[str, float]:
    """GenerationParams' min_show and min_show_completion at the "Show suggestions" ``level``;
    nothing is held back from a suggestion the writer ``asked`` for."""
    new_word, completion = (0.0, 0.0) if asked else SHOW_LEVELS[level]
    return {"min_show": new_word, "min_show_completion": completion}


def lexicon(language: str = "en") -> Callable[[str], bool]:
    """The words the engine may complete a word into (Engine.lexicon): pyspellchecker's list for
    ``language`` and the writer's personal dictionary; with no pyspellchecker, the personal
    dictionary alone (the document's own words count as well, in the engine)."""
    from app import spelling

    words: set[str] = set()
    if spelling.missing_library() is None:
        words.update(spelling._frequencies(language))
    try:
        text = spelling.personal_path().read_text(encoding="utf-8", errors="replace")
        words.update(w.strip().lower() for w in text.splitlines() if w.strip())
    except OSError:
        pass
    return words.__contains__
