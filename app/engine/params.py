"""What a caller asks of a generation: sampling, length and stop settings.

Defaults suit ghost-text suggestions; story mode raises ``max_new_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core import checks

LENGTHS = ("tokens", "word", "line", "sentence")
MAX_ALTERNATIVES = 8
# A long chapter: beyond it a request is a mistake (10**30 tokens would write for ever).
MAX_NEW_TOKENS = 100_000


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
    # Ban a token that would repeat an n-gram of this size within the generated text itself (its
    # first tokens joined to the end of the prompt), 0 = off: greedy decoding of a small model
    # falls into loops ("able to be able to be able") that a writer never wants; unlike
    # ``no_repeat_ngram_size`` it leaves the phrases of the context free to recur.
    no_repeat_own_ngram_size: int = 0
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
    # Show a suggestion only when the calibrated probability that its first word is right
    # (app/engine/trust.py) reaches this (0 = always): the settings' "Show suggestions". The first
    # for a word that begins anew (or a mark), the second for one that completes the word at the
    # cursor: hiding a right new word costs the writer a letter (they are asked again after it),
    # hiding a right completion the rest of the word.
    min_show: float = 0.0
    min_show_completion: float = 0.0
    # A completion of the word at the cursor must make a word the engine's lexicon or the
    # document knows (off: any letters, as before).
    real_words: bool = True
    # Mix the document's n-gram cache into the model's distribution (app/engine/doccache.py).
    document_cache: bool = True

    def validate(self) -> GenerationParams:
        """Raise ValueError naming the first bad parameter; return self so calls can chain."""
        checks.whole("max_new_tokens", self.max_new_tokens, low=1, high=MAX_NEW_TOKENS)
        checks.number("temperature", self.temperature, low=0)
        checks.whole("top_k", self.top_k, low=0)
        checks.number("top_p", self.top_p, low=0, high=1, above=True)
        checks.number("min_p", self.min_p, low=0, high=1)
        checks.number("min_confidence", self.min_confidence, low=0, high=1)
        checks.number("min_show", self.min_show, low=0, high=1)
        checks.number("min_show_completion", self.min_show_completion, low=0, high=1)
        checks.flag("real_words", self.real_words)
        checks.flag("document_cache", self.document_cache)
        checks.number("repetition_penalty", self.repetition_penalty, low=0, above=True)
        checks.whole("repetition_window", self.repetition_window, low=0)
        checks.whole("no_repeat_ngram_size", self.no_repeat_ngram_size, low=0)
        checks.whole("no_repeat_own_ngram_size", self.no_repeat_own_ngram_size, low=0)
        if self.seed is not None:
            checks.whole("seed", self.seed, low=0)
        checks.whole("num_alternatives", self.num_alternatives, low=1, high=MAX_ALTERNATIVES)
        checks.choice("length", self.length, LENGTHS)
        self.stop_strings = tuple(checks.texts("stop_strings", self.stop_strings))
        checks.flag("stop_at_eot", self.stop_at_eot)
        checks.flag("heal", self.heal)
        return self
