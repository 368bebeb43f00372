"""The engine: text before the cursor in, suggestions out, reusing the previous request's cache.

One ``Engine`` serves one thread at a time (the GUI's worker thread). It keeps one KV cache, a
buffer as long as the model's context that the graph updates in place, and the tokens it holds:
the last prompt followed by what was decoded after it, plus the logits after the prompt. A new
request keeps the longest common token prefix and runs only the tokens after it; the rest of the
buffer is simply overwritten. Typing at the end of the text extends the prompt (or, inside a
healed word, repeats it: no model run at all), accepting a suggestion extends prompt plus
suggestion, and an edit further back rewinds to the edit at no cost.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.engine import context, doccache, healing, sampling, trust
from app.engine.params import GenerationParams
from app.engine.providers import open_decoder
from app.engine.results import EngineStatus, GenerationResult, Suggestion
from app.engine.sampling import Sampler
from app.engine.session import Decoder, KVCache
from app.engine.stopping import SuggestionText
from core import typography
from core.tokenizer import EOT_TOKEN, token_bytes

# Prompt tokens per forward pass when filling the cache: bounds the time until a cancel is seen.
PREFILL_CHUNK = 64
MEMO_PROMPTS = 4  # prompt lengths whose logits are kept (see Engine._logits_after)
# Of a long text only the last this-many characters per context token are made canonical for the
# model: context.py's window looks back about 8 per token (further only in very sparse text).
MODEL_CHARS_PER_TOKEN = 32


# on_token(row, piece, probability): ``piece`` of the text of alternative ``row``, and the
# probability the model gave the tokens it came from (their geometric mean, when a piece
# holds more than one: text is held back until it is safe to show, e.g. a whole UTF-8 character).
OnToken = Callable[[int, str, float], None]


class Engine:
    def __init__(self, decoder: Decoder, status: EngineStatus, context_length: int,
                 lexicon: trust.Lexicon | None = None):
        self.decoder = decoder
        # The words a completion may make (with the document's own): app.generation.lexicon();
        # None checks no words (app/engine knows no dictionary of its own).
        self.lexicon = lexicon
        self.status = status
        self.context_length = context_length
        self._cache: KVCache | None = None  # allocated on the first request
        self._alternatives: KVCache | None = None  # rows for batched alternatives, kept for reuse
        self._tokens: list[int] = []  # what the cache holds, from position 0
        # The logits after self._tokens[:n] for the last few prompt lengths n. A keystroke inside
        # a word asks for the text without its last word (healing) and then, mostly, with it: the
        # next keystroke changes only that word, so the first of the two is already here.
        self._logits_after: dict[int, np.ndarray] = {}
        self._window = context.ContextWindow()

    @classmethod
    def load(
        cls, bundle_dir: str | Path, provider: str = "auto", threads: int = 0, variant: str | None = None,
        lexicon: trust.Lexicon | None = None,
    ) -> Engine:
        """Open a model bundle; ModelError when it is missing, corrupt or does not fit the contract.

        ``variant`` overrides the default choice (fp16 on CUDA, int8 on CPU).
        """
        decoder, status, context_length = open_decoder(Path(bundle_dir), provider, threads, variant)
        healing.tokens_starting_with(b"")  # build the vocabulary index now, not on the first keystroke
        return cls(decoder, status, context_length, lexicon)

    def reset(self) -> None:
        """Forget the cache (the next request runs its whole prompt)."""
        self._tokens, self._logits_after = [], {}
        self._window.reset()

    def generate(
        self,
        text_before_cursor: str,
        params: GenerationParams | None = None,
        on_token: OnToken | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        started = time.perf_counter()
        params = (params or GenerationParams()).validate()
        self.decoder.fit_to_load()
        # Room for what is generated, up to half the context: a longer passage slides the
        # window as it goes (see _slide), so the prompt keeps at least half the context.
        budget = self.context_length - min(params.max_new_tokens, self.context_length // 2)
        cancel = cancel or threading.Event()
        result = GenerationResult()
        # The model sees the text in its one canonical style and writes in it; the suggestion is
        # shown in the document's (see core.typography and SuggestionText).
        style = typography.detect_style(text_before_cursor)
        reach = text_before_cursor[-self.context_length * MODEL_CHARS_PER_TOKEN :]  # all the window can use
        tokens = self._window.tokens(typography.for_model(reach, style), budget)
        words = trust.Words(self.lexicon if params.real_words else None, text_before_cursor)
        stem = trust.trailing_word(text_before_cursor)
        # A stem that is no word yet can only go on: back off all its tokens ("bef": " be" + "f").
        healed = healing.heal(tokens, params.heal, unfinished=words.checks and bool(stem) and not words.known(stem))
        prompt = healed.prompt or [EOT_TOKEN]
        logits, document = self._prompt_logits(prompt, params, cancel, result)
        if logits is not None and not healing.word_continues(logits, healed, self._ratio(words, text_before_cursor)):
            # The last word is finished: the suggestion starts after it, with the whole prompt.
            healed, prompt = healing.heal(tokens, enabled=False), tokens
            logits, document = self._prompt_logits(prompt, params, cancel, result)
        result.prefill_ms = (time.perf_counter() - started) * 1e3
        if logits is not None:
            self._decode(prompt, logits, document, healed, params, on_token, cancel, result, style,
                         text_before_cursor, words)
            if not result.alternatives and result.non_words and healed.word is not None and not result.cancelled:
                # Every way of going on with the word made a non-word: the word is finished after all.
                healed, prompt = healing.heal(tokens, enabled=False), tokens
                logits, document = self._prompt_logits(prompt, params, cancel, result)
                if logits is not None:
                    self._decode(prompt, logits, document, healed, params, on_token, cancel, result, style,
                                 text_before_cursor, words)
        result.total_ms = (time.perf_counter() - started) * 1e3
        return result

    def _prompt_logits(self, prompt: list[int], params: GenerationParams, cancel: threading.Event,
                       result: GenerationResult) -> tuple[np.ndarray | None, doccache.DocumentCache | None]:
        """The logits after ``prompt`` with the document's n-gram cache (app/engine/doccache.py)
        mixed in, and that cache, indexed once for the prompt's decoding too (None when off)."""
        document = doccache.DocumentCache(prompt) if params.document_cache else None
        logits = self._prefill(prompt, cancel, result)
        if logits is None or document is None:
            return logits, document
        return document.mix(logits, [np.asarray(prompt, dtype=np.int64)]), document

    @staticmethod
    def _ratio(words: trust.Words, before: str) -> float | None:
        """How much more likely going on with the last word must be than ending it: more where
        what the writer typed is already a real word of two letters or more ("In", "dear")."""
        stem = trust.trailing_word(before)
        if words.checks and len(stem) >= 2 and words.known(stem):
            return healing.FINISHED_WORD_RATIO
        return None

    # -- the cache -----------------------------------------------------------------------------

    def _prefill(self, prompt: list[int], cancel: threading.Event, result: GenerationResult) -> np.ndarray | None:
        """The logits after ``prompt``, running only the tokens the cache does not hold; None when
        cancelled (the tokens run so far stay cached)."""
        common = _common_prefix(self._tokens, prompt)
        if common == len(prompt) and common in self._logits_after:
            return self._logits_after[common]  # a prompt run before: nothing to run
        if self._cache is None:
            self._cache = self.decoder.new_cache()
        cache = self._cache
        pos = min(common, len(prompt) - 1)  # the last prompt token runs, for its logits
        self._tokens = self._tokens[:pos]
        self._logits_after = {n: v for n, v in self._logits_after.items() if n <= pos}
        logits: np.ndarray | None = None
        while pos < len(prompt):
            if cancel.is_set():
                result.cancelled = True
                return None
            chunk = prompt[pos : pos + PREFILL_CHUNK]
            logits = self.decoder.run(np.array([chunk], dtype=np.int64), np.arange(pos, pos + len(chunk))[None],
                                      cache)
            self._tokens += chunk
            pos += len(chunk)
            result.prefill_tokens += len(chunk)
        assert logits is not None  # the last prompt token always runs
        self._logits_after[len(prompt)] = logits
        for n in sorted(self._logits_after)[:-MEMO_PROMPTS]:
            del self._logits_after[n]
        return logits

    # -- decoding ------------------------------------------------------------------------------

    def _decode(
        self,
        prompt: list[int],
        logits: np.ndarray,
        document: doccache.DocumentCache | None,
        healed: healing.Healed,
        params: GenerationParams,
        on_token: OnToken | None,
        cancel: threading.Event,
        result: GenerationResult,
        style: typography.Style | None = None,
        before: str = "",
        words: trust.Words | None = None,
    ) -> None:
        decoding = _Decoding(self, prompt, logits, document, healed, params, style, before, words)
        steps, decode_time = 0, 0.0
        while decoding.take(on_token):
            if cancel.is_set():
                result.cancelled = True
                break
            t0 = time.perf_counter()
            if not decoding.step(cancel, result):
                break
            steps += 1
            decode_time += time.perf_counter() - t0
        decoding.finish(on_token, result)
        result.decode_tokens_per_s = steps / decode_time if decode_time > 0 else 0.0

    def _slide(self, token: int, cancel: threading.Event, result: GenerationResult) -> tuple[np.ndarray | None, int]:
        """The context is full: keep its last half (ending with ``token``) and go on from there.

        The kept tokens run again from position 0; a passage can so grow to any length, the
        model always seeing the last half-context or more of it.
        """
        keep = (self._tokens + [token])[-(self.context_length // 2):]
        self._tokens, self._logits_after = [], {}
        self._window.reset()
        logits = self._prefill(keep, cancel, result)
        self._logits_after = {}  # not a prompt a later request can reuse
        return logits, len(keep)


class _Decoding:
    """One request's decoding after its prompt, as onnxruntime-genai's Generator: each row's
    tokens, text and gate, the cache and the sampler. The engine drives it: ``take`` the sampled
    tokens into the rows' texts, ``step`` the model once for the rows still going, ``finish``."""

    def __init__(self, engine: Engine, prompt: list[int], logits: np.ndarray,
                 document: doccache.DocumentCache | None, healed: healing.Healed,
                 params: GenerationParams, style: typography.Style | None, before: str,
                 words: trust.Words | None):
        self.engine, self.params = engine, params
        self.sampler = sampler = Sampler(params, banned=() if params.stop_at_eot else (EOT_TOKEN,),
                                         prompt_length=len(prompt))
        self.n = n = params.num_alternatives
        self.prompt_length = len(prompt)
        history = np.array(prompt, dtype=np.int64)
        self.document = document  # the prompt's, mixed into every step (None: off)
        scores = sampler.constrained(logits, [history], healed.allowed)
        if n == 1:
            self.tokens = sampler.draw(scores)
        else:
            first = sampler.sample_distinct(scores, n)
            self.tokens = np.resize(first, n)  # too few distinct starts: repeat them, later tokens differ
        # Each row's text in the document's style (``before``: the text before the cursor).
        self.texts = [SuggestionText(params.length, params.stop_strings, healed.prefix, style, before)
                      for _ in range(n)]
        # Each row's pieces wait until its first word is whole: shown only when it is a real word
        # and the model is sure enough of it (trust.py).
        self.gates = [_Gate(before, words or trust.Words(None, before), params.min_show, params.min_show_completion)
                      for _ in range(n)]
        self.generated: list[list[int]] = [[] for _ in range(n)]
        # Each row's prompt and tokens, written in place: the processors see views of it, not a
        # history concatenated afresh at every step.
        self.written = np.empty((n, len(prompt) + params.max_new_tokens), dtype=np.int64)
        self.written[:, : len(prompt)] = history
        self.probs: list[list[float]] = [[] for _ in range(n)]
        self.log_prob = [0.0] * n  # the model's log-probability of each row's text so far
        self.unsent = [[0.0, 0] for _ in range(n)]  # log-probability and count of tokens not yet in a piece
        self.active = [True] * n
        prompt_cache = engine._cache
        assert prompt_cache is not None  # the prompt ran first
        if n == 1:
            self.cache = prompt_cache
        else:  # the prompt's cache stays as it is, for the next request
            self.cache = engine._alternatives = engine.decoder.repeat(prompt_cache, len(prompt), n,
                                                                      engine._alternatives)
        self.pos = len(prompt)
        # The first token's probability among those healing allows (the word's possible endings).
        self.row_probs = _token_probs(scores, self.tokens)

    def take(self, on_token: OnToken | None) -> bool:
        """Each going row takes its sampled token (or ends before it); the pieces that are safe
        to show go to ``on_token``. Whether any row goes on."""
        params, texts, gates, generated, probs = self.params, self.texts, self.gates, self.generated, self.probs
        for row in range(self.n):
            if not self.active[row]:
                continue
            token = int(self.tokens[row])
            if token == EOT_TOKEN and params.stop_at_eot:
                self.active[row] = False
                continue
            p = float(self.row_probs[row])
            row_log_prob = self.log_prob[row] + math.log(max(p, 1e-30))
            confidence = math.exp(row_log_prob / (len(generated[row]) + 1))
            if _unsure(confidence, params.min_confidence, texts[row].text, token):
                self.active[row] = False  # the model is no longer sure: end before this word
                continue
            self.log_prob[row] = row_log_prob
            generated[row].append(token)
            self.written[row, self.prompt_length + len(generated[row]) - 1] = token
            probs[row].append(p)
            self.unsent[row][0] += math.log(max(p, 1e-30))
            self.unsent[row][1] += 1
            shown_before = texts[row].text
            piece = texts[row].push(token_bytes(token))
            ready = gates[row].push(shown_before, texts[row].text, p, texts[row].done)
            if ready is False:
                self.active[row] = False  # a non-word, or too unsure: this row is not shown
                continue
            if piece and on_token:
                gates[row].send(on_token, row, piece, _piece_probability(self.unsent[row], probs[row]))
            if texts[row].done or len(generated[row]) >= params.max_new_tokens:
                self.active[row] = False
        return any(self.active)

    def step(self, cancel: threading.Event, result: GenerationResult) -> bool:
        """Run the model on each row's last token and sample the next; False when the passage
        cannot go on (alternatives at the end of the context, or cancelled while sliding)."""
        engine, n = self.engine, self.n
        if self.pos >= engine.context_length:
            if n > 1:
                return False  # alternatives are short; only a single passage slides the window
            slid, self.pos = engine._slide(int(self.tokens[0]), cancel, result)
            if slid is None:
                return False
            logits = slid
        else:
            ids = np.asarray(self.tokens, dtype=np.int64)[:, None]
            logits = engine.decoder.run(ids, np.full((n, 1), self.pos, dtype=np.int64), self.cache)
            if n == 1:
                engine._tokens.append(int(self.tokens[0]))
            self.pos += 1
        histories = [self.written[row, : self.prompt_length + len(self.generated[row])] for row in range(n)]
        log_z = sampling.log_sum_exp(logits)  # read once, for the cache's mix and the tokens' probabilities
        if self.document is not None:
            logits = self.document.mix(logits, histories, log_z=log_z)
        self.tokens = self.sampler.draw(self.sampler.constrained(logits, histories))
        self.row_probs = _token_probs(logits, self.tokens, log_z)
        return True

    def finish(self, on_token: OnToken | None, result: GenerationResult) -> None:
        """Send what each shown row still holds back, and add the rows worth showing to
        ``result``'s alternatives."""
        texts, gates, probs = self.texts, self.gates, self.probs
        for row in range(self.n):
            if gates[row].shown is False:
                continue
            piece = texts[row].finish()
            if gates[row].push(texts[row].text, texts[row].text, 1.0, final=True) is False:
                continue
            if on_token and not result.cancelled:
                gates[row].send(on_token, row, piece,
                                _piece_probability(self.unsent[row], probs[row]) if piece else 1.0)
        result.non_words += sum(g.reason == "non-word" for g in gates)
        result.unsure += sum(g.reason == "unsure" for g in gates)
        seen: set[str] = set()
        for row in range(self.n):
            if not gates[row].shown:
                continue
            key = _first_word(texts[row].text) if self.n > 1 else texts[row].text
            if key in seen:
                continue  # alternatives differ in their first words: a repeat is shown once
            seen.add(key)
            whole = math.exp(sum(math.log(max(p, 1e-30)) for p in probs[row]))
            result.alternatives.append(Suggestion(texts[row].text, self.generated[row], probs[row], row,
                                                  gates[row].confidence, math.exp(gates[row].log_p),
                                                  trust.calibrated(whole, trust.WHOLE_FIT)))


class _Gate:
    """One row's first word, held back until it is whole: then shown (with what came before it)
    when it leaves the word at the cursor a real word and its calibrated confidence reaches
    ``min_show`` (``min_show_completion`` where it completes that word), else the row is dropped
    (``reason``: "non-word" or "unsure")."""

    def __init__(self, before: str, words: trust.Words, min_show: float, min_show_completion: float):
        self.before, self.words = before, words
        self.min_show, self.min_show_completion = min_show, min_show_completion
        self.shown: bool | None = None  # None while the first word is not yet whole
        self.reason = ""
        self.log_p = 0.0  # the first word's tokens' log-probability
        self.confidence = 1.0  # calibrated, once decided
        self._held: list[tuple[str, float]] = []

    def push(self, text_before: str, text: str, probability: float, final: bool) -> bool | None:
        """A token made the row's text ``text`` (from ``text_before``); the verdict so far."""
        if self.shown is not None:
            return self.shown
        end = trust.first_word_end(text, final)
        if end is None or end > len(text_before):  # the token is part of the first word
            self.log_p += math.log(max(probability, 1e-30))
        if end is None:
            return None
        self.confidence = trust.calibrated(math.exp(self.log_p))
        if not text.strip():
            self.shown = True  # nothing to show: nothing to judge
        elif not self.words.extension_known(self.before, text[:end]):
            self.shown, self.reason = False, "non-word"
        elif self.confidence < (self.min_show_completion if trust.completes(self.before, text) else self.min_show):
            self.shown, self.reason = False, "unsure"
        else:
            self.shown = True
        return self.shown

    def send(self, on_token: OnToken, row: int, piece: str, probability: float) -> None:
        if piece:
            self._held.append((piece, probability))
        if self.shown:
            for held, p in self._held:
                on_token(row, held, p)
            self._held = []


def _unsure(confidence: float, threshold: float, text: str, token: int) -> bool:
    """Whether to end a suggestion before ``token``: the model's confidence in it (the geometric
    mean of its tokens' probabilities, with this one) would fall below ``threshold``, the
    suggestion already holds a word, and the token starts a new word or punctuation (a word is
    never cut in half). The mean, not the product: the product of a small model's probabilities
    falls below any useful threshold within two or three words even where it is right."""
    if threshold <= 0 or confidence >= threshold or not text.strip():
        return False
    first = token_bytes(token)[:1]
    return not first or not healing.is_letter(first[0])


def _piece_probability(unsent: list, probs: list[float]) -> float:
    """The geometric mean probability of the tokens a piece came from (``unsent``: their summed
    log-probability and count, reset here); a piece made only of held-back text gets the last
    token's."""
    total, count = unsent
    unsent[0], unsent[1] = 0.0, 0
    if count:
        return math.exp(total / count)
    return probs[-1] if probs else 1.0


def _first_word(text: str) -> str:
    words = text.split()
    return words[0] if words else text


def _token_probs(logits: np.ndarray, tokens: np.ndarray, log_z: np.ndarray | None = None) -> np.ndarray:
    """Each row's probability of its token under softmax(``logits``) (one row: shared by all);
    ``log_z``: the rows' log-sum-exp where the caller has it."""
    rows = logits if len(logits) == len(tokens) else np.broadcast_to(logits, (len(tokens), logits.shape[-1]))
    rows = rows.astype(np.float32, copy=False)
    if log_z is None:
        log_z = sampling.log_sum_exp(rows)
    return np.exp(rows[np.arange(len(tokens)), tokens].astype(np.float64) - log_z)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo
