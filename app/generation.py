"""What the editor asks of the engine, built from the settings: the GenerationParams of a
suggestion or of story mode, on the GUI thread, so the worker thread receives typed parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.engine.params import GenerationParams

if TYPE_CHECKING:
    from app.settings import Settings

SAMPLING = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "seed")
# A suggestion never repeats three tokens of its own: a phrase or clause has no reason to, and a
# small model's greedy loops ("able to be able to be able") end there. Story mode is long prose,
# where phrases do recur, so it is left to the repetition penalty.
SUGGESTION_OWN_NGRAM = 3


def params_for(settings: Settings, kind: str, retries: int = 0) -> GenerationParams:
    """The parameters of a ``kind`` ("suggestion" or "story") request; ``retries`` (story mode's
    "try again") moves a fixed seed on, since a retry must be a new sample."""
    values = {k: settings[k] for k in SAMPLING}
    if kind == "suggestion":
        values.update(max_new_tokens=settings["suggestion_tokens"], num_alternatives=settings["alternatives"],
                      length=settings["length"], min_confidence=settings["min_confidence"],
                      no_repeat_own_ngram_size=SUGGESTION_OWN_NGRAM)
    else:
        if settings["seed"] is not None:
            values["seed"] = settings["seed"] + retries
        values.update(max_new_tokens=settings["story_tokens"], num_alternatives=1, length="tokens",
                      stop_at_eot=False)
    return GenerationParams(**values)
