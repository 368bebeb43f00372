"""What a caller asks of a generation: sampling, length and stop settings.

Defaults suit ghost-text suggestions; story mode raises ``max_new_tokens``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

LENGTHS = ("tokens", "word", "line", "sentence")
MAX_ALTERNATIVES = 8


@dataclass
class GenerationParams:
    """Settings of one request. ``validate`` rejects out-of-range values, naming the parameter.

    temperature 0 means greedy; top_k 0, top_p 1 and min_p 0 switch those filters off;
    repetition_penalty 1 switches it off and ``repetition_window`` 0 applies it to the whole
    context. ``length`` ends a suggestion at the end of a word, line or sentence as well as at
    ``max_new_tokens``. ``stop_strings`` end it before the string. ``min_confidence`` ends it
    before a new word once the mean probability of its tokens would drop below it. Without ``stop_at_eot`` the
    end-of-text token is never generated (story mode keeps going).
    """

    max_new_tokens: int = 16
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.0
    repetition_penalty: float = 1.1
    repetition_window: int = 64
    no_repeat_ngram_size: int = 0
    seed: int | None = None
    num_alternatives: int = 1
    length: str = "tokens"
    stop_strings: tuple[str, ...] = field(default_factory=tuple)
    stop_at_eot: bool = True
    heal: bool = True
    # End a suggestion before a new word once the model's confidence in it (the geometric mean of
    # its tokens' probabilities) would fall below this (0 = off): a confident model writes a
    # clause, an unsure one a word.
    min_confidence: float = 0.0

    def validate(self) -> GenerationParams:
        """Raise ValueError naming the first bad parameter; return self so calls can chain."""
        _int("max_new_tokens", self.max_new_tokens, 1)
        _float("temperature", self.temperature, low=0.0)
        _int("top_k", self.top_k, 0)
        _float("top_p", self.top_p, low=0.0, high=1.0, low_open=True)
        _float("min_p", self.min_p, low=0.0, high=1.0)
        _float("min_confidence", self.min_confidence, low=0.0, high=1.0)
        _float("repetition_penalty", self.repetition_penalty, low=0.0, low_open=True)
        _int("repetition_window", self.repetition_window, 0)
        _int("no_repeat_ngram_size", self.no_repeat_ngram_size, 0)
        if self.seed is not None:
            _int("seed", self.seed, 0)
        _int("num_alternatives", self.num_alternatives, 1, MAX_ALTERNATIVES)
        if self.length not in LENGTHS:
            raise ValueError(f"length must be one of {', '.join(LENGTHS)} (got {self.length!r})")
        if isinstance(self.stop_strings, str) or not all(
            isinstance(s, str) and s for s in self.stop_strings
        ):
            raise ValueError("stop_strings must be a list of non-empty strings")
        self.stop_strings = tuple(self.stop_strings)
        for name in ("stop_at_eot", "heal"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false (got {getattr(self, name)!r})")
        return self


def _int(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number (got {value!r})")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound} (got {value})")


def _float(
    name: str, value: object, low: float, high: float | None = None, low_open: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (got {value!r})")
    if (value <= low if low_open else value < low) or (high is not None and value > high):
        lo = f"above {low:g}" if low_open else f"at least {low:g}"
        bound = f"{lo} and at most {high:g}" if high is not None else lo
        raise ValueError(f"{name} must be {bound} (got {value:g})")
