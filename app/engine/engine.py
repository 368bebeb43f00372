"""The engine: text before the cursor in, suggestions out, reusing the previous request's cache.

One ``Engine`` serves one thread at a time (the GUI's worker thread). Between requests it keeps
two KV caches of the last request: its prompt (with the logits after it) and its prompt plus
the suggestion. The graph returns a new cache each step and leaves its input alone, so the
prompt's cache survives decoding at no cost. A new request starts from whichever shares the
longer token prefix with its prompt and runs only the tokens after that. Typing at the end of
the text extends the prompt (or, inside a healed word, repeats it: no model run at all), and
accepting a suggestion extends prompt plus suggestion; only edits further back cost a copy of
the cache cut to the common prefix (a rewind).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.engine import context, healing
from app.engine.params import GenerationParams
from app.engine.providers import open_decoder
from app.engine.results import EngineStatus, GenerationResult, Suggestion
from app.engine.sampling import Sampler
from app.engine.session import Decoder, cache_to_numpy
from app.engine.stopping import SuggestionText
from model.tokenizer import EOT_TOKEN, token_bytes

# Prompt tokens per forward pass when filling the cache: bounds the time until a cancel is seen.
PREFILL_CHUNK = 64


OnToken = Callable[[int, str], None]


@dataclass
class _Snapshot:
    """A KV cache and the tokens it holds; it may hold stale positions after ``tokens``."""

    tokens: list[int]
    cache: list
    logits: np.ndarray | None = None  # the logits after ``tokens``, when known


class Engine:
    def __init__(self, decoder: Decoder, status: EngineStatus, context_length: int):
        self.decoder = decoder
        self.status = status
        self.context_length = context_length
        self._snapshots: list[_Snapshot] = []
        self._window = context.ContextWindow()

    @classmethod
    def load(
        cls, bundle_dir: str | Path, provider: str = "auto", threads: int = 0, variant: str | None = None
    ) -> Engine:
        """Open a model bundle; ModelError when it is missing, corrupt or does not fit the contract.

        ``variant`` overrides the default choice (fp16 on CUDA, int8 on CPU).
        """
        decoder, status, context_length = open_decoder(Path(bundle_dir), provider, threads, variant)
        healing.tokens_starting_with(b"")  # build the vocabulary index now, not on the first keystroke
        return cls(decoder, status, context_length)

    def reset(self) -> None:
        """Forget the cache (the next request runs its whole prompt)."""
        self._snapshots = []
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
        budget = self.context_length - params.max_new_tokens
        if budget < 1:
            raise ValueError(
                f"max_new_tokens must be less than the model's context length ({self.context_length})"
            )
        cancel = cancel or threading.Event()
        result = GenerationResult()
        tokens = self._window.tokens(text_before_cursor, budget)
        healed = healing.heal(tokens, params.heal)
        prompt = healed.prompt or [EOT_TOKEN]

        snapshot = self._prefill(prompt, cancel, result)
        result.prefill_ms = (time.perf_counter() - started) * 1e3
        if snapshot is not None:
            self._decode(snapshot, healed, params, on_token, cancel, result)
        result.total_ms = (time.perf_counter() - started) * 1e3
        return result

    # -- the cache -----------------------------------------------------------------------------

    def _prefill(self, prompt: list[int], cancel: threading.Event, result: GenerationResult) -> _Snapshot | None:
        """The cache and logits after ``prompt``, running only what no snapshot has; None when
        cancelled (the tokens run so far stay cached)."""
        best, keep = None, 0
        for snap in self._snapshots:
            common = _common_prefix(snap.tokens, prompt)
            if common == len(prompt) == len(snap.tokens) and snap.logits is not None:
                self._snapshots = [snap]
                return snap  # the same prompt again: nothing to run
            common = min(common, len(prompt) - 1)  # the last prompt token runs, for its logits
            if best is None or common > keep or (common == keep and _cache_len(snap.cache) == keep):
                best, keep = snap, common
        cache = self.decoder.empty_cache() if best is None or keep == 0 else self._cut(best.cache, keep)
        self._snapshots = []
        pos, logits = keep, None
        try:
            while pos < len(prompt):
                if cancel.is_set():
                    result.cancelled = True
                    return None
                chunk = prompt[pos : pos + PREFILL_CHUNK]
                ids = np.array([chunk], dtype=np.int64)
                logits, cache = self.decoder.run(ids, np.arange(pos, pos + len(chunk))[None], cache)
                pos += len(chunk)
                result.prefill_tokens += len(chunk)
        finally:
            self._snapshots = [_Snapshot(prompt[:pos], cache, logits if pos == len(prompt) else None)]
        return self._snapshots[0]

    def _cut(self, cache: list, keep: int) -> list:
        """``cache`` holding only its first ``keep`` positions: itself when it holds exactly those,
        else a copy (the graph wants contiguous tensors)."""
        if _cache_len(cache) == keep:
            return cache
        return [self.decoder.to_device(a[:, :, :keep]) for a in cache_to_numpy(cache)]

    # -- decoding ------------------------------------------------------------------------------

    def _decode(
        self,
        start: _Snapshot,
        healed: healing.Healed,
        params: GenerationParams,
        on_token: OnToken | None,
        cancel: threading.Event,
        result: GenerationResult,
    ) -> None:
        prompt, logits = start.tokens, start.logits
        sampler = Sampler(params, banned=() if params.stop_at_eot else (EOT_TOKEN,))
        n = params.num_alternatives
        history = np.array(prompt, dtype=np.int64)
        scores = sampler.constrained(logits, [history], healed.allowed)
        if n == 1:
            tokens = sampler.sample(sampler.warp(scores))
        else:
            first = sampler.sample_distinct(scores, n)
            tokens = np.resize(first, n)  # too few distinct starts: repeat them, later tokens differ
        texts = [SuggestionText(params.length, params.stop_strings, healed.prefix) for _ in range(n)]
        generated: list[list[int]] = [[] for _ in range(n)]
        probs: list[list[float]] = [[] for _ in range(n)]
        active = [True] * n
        fed0 = 0  # tokens of alternative 0 that went through the model while it was active
        cache = self._cut(start.cache, len(prompt))
        if n > 1:
            cache = [self.decoder.to_device(np.repeat(a, n, axis=0)) for a in cache_to_numpy(cache)]
        pos = len(prompt)
        steps, decode_time = 0, 0.0
        try:
            while True:
                row_probs = _token_probs(logits, tokens)
                for row in range(n):
                    if not active[row]:
                        continue
                    token = int(tokens[row])
                    if token == EOT_TOKEN and params.stop_at_eot:
                        active[row] = False
                        continue
                    generated[row].append(token)
                    probs[row].append(float(row_probs[row]))
                    piece = texts[row].push(token_bytes(token))
                    if piece and on_token:
                        on_token(row, piece)
                    if texts[row].done or len(generated[row]) >= params.max_new_tokens:
                        active[row] = False
                if not any(active) or pos >= self.context_length:
                    break
                if cancel.is_set():
                    result.cancelled = True
                    break
                t0 = time.perf_counter()
                ids = np.asarray(tokens, dtype=np.int64)[:, None]
                logits, cache = self.decoder.run(ids, np.full((n, 1), pos, dtype=np.int64), cache)
                if active[0]:
                    fed0 += 1
                pos += 1
                histories = [np.concatenate([history, np.array(g, dtype=np.int64)]) for g in generated]
                tokens = sampler.sample(sampler.process(logits, histories))
                steps += 1
                decode_time += time.perf_counter() - t0
        finally:
            if n == 1 and fed0:  # (with alternatives, splitting off row 0 would cost a copy)
                self._snapshots.append(_Snapshot(prompt + generated[0][:fed0], cache))
        for row in range(n):
            piece = texts[row].finish()
            if piece and on_token and not result.cancelled:
                on_token(row, piece)
        seen: set[str] = set()
        for row in range(n):
            if texts[row].text in seen and n > 1:
                continue  # alternatives that came out the same are shown once
            seen.add(texts[row].text)
            result.alternatives.append(Suggestion(texts[row].text, generated[row], probs[row]))
        result.decode_tokens_per_s = steps / decode_time if decode_time > 0 else 0.0


def _token_probs(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    rows = logits if len(logits) == len(tokens) else np.broadcast_to(logits, (len(tokens), logits.shape[-1]))
    rows = rows.astype(np.float32, copy=False)
    top = rows.max(axis=-1)
    chosen = rows[np.arange(len(tokens)), tokens]
    return np.exp(chosen - top) / np.exp(rows - top[:, None]).sum(axis=-1)


def _cache_len(cache: list) -> int:
    return int(cache[0].shape()[2]) if cache else 0


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
