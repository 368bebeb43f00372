"""Inkwell's peers, run side by side with it by bench_engine.py (``--peers``).

Each peer is driven the same way, from token ids, greedily, with its own cache:

- llama.cpp (llama-cpp-python, the bench extra) on a Q8_0 GGUF of the same weights
  (bench/gguf_gpt2.py), with and without flash attention;
- the best plain ONNX Runtime int8 graph (bench/ort_peer.py), a new cache returned by every
  step (its contract), with the engine's session options.

"Time to first token" is the same for every engine: from an empty cache, the whole prompt in,
until the first new token is chosen (the argmax of the last position's logits).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.engine.session import Decoder, session_options

INSTALL_LLAMA = 'pip install -e ".[bench]" (llama-cpp-python compiles llama.cpp: a few minutes)'


class Peer:
    """A model that continues a prompt greedily, one token at a time, keeping its own cache."""

    name = ""

    def first_token(self, ids: list[int]) -> int:
        """The prompt from an empty cache; the greedy next token."""
        raise NotImplementedError

    def step(self, token: int) -> int:
        """One token more into the cache; the greedy next token."""
        raise NotImplementedError


def first_token_ms(peer: Peer, ids: list[int]) -> float:
    start = time.perf_counter()
    peer.first_token(ids)
    return (time.perf_counter() - start) * 1e3


def decode_rate(peer: Peer, ids: list[int], tokens: int = 64) -> float:
    """Tokens per second of ``tokens`` greedy steps after the prompt."""
    token = peer.first_token(ids)
    start = time.perf_counter()
    for _ in range(tokens):
        token = peer.step(token)
    return tokens / (time.perf_counter() - start)


def greedy(peer: Peer, ids: list[int], tokens: int) -> list[int]:
    out = [peer.first_token(ids)]
    while len(out) < tokens:
        out.append(peer.step(out[-1]))
    return out


def same_prefix(a: list[int], b: list[int]) -> int:
    """How many tokens two greedy continuations share before they part (after that each is
    conditioned on a different text, so later tokens say nothing about the model)."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


class InkwellGraph(Peer):
    """The engine's decoder alone (no sampling, healing or text): the reference for agreement."""

    def __init__(self, decoder: Decoder, name: str):
        self.decoder, self.name = decoder, name
        self.cache = decoder.new_cache()
        self.pos = 0

    def _run(self, ids: list[int]) -> int:
        positions = np.arange(self.pos, self.pos + len(ids))[None]
        logits = self.decoder.run(np.array([ids], dtype=np.int64), positions, self.cache)
        self.pos += len(ids)
        return int(np.argmax(logits[0]))

    def first_token(self, ids: list[int]) -> int:
        self.pos = 0
        return self._run(ids)

    def step(self, token: int) -> int:
        return self._run([token])


class OrtPeer(Peer):
    """A graph that takes the cache as inputs and returns a new one, past plus the new tokens."""

    def __init__(self, path: Path, threads: int, name: str):
        self.name = name
        self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        self.past_names = [i.name for i in inputs if i.name.startswith("past_key_values.")]
        _, heads, _, head_dim = inputs[2].shape
        self.empty = np.zeros((1, heads, 0, head_dim), np.float32)
        self.past: list[np.ndarray] = []
        self.pos = 0

    def _run(self, ids: list[int]) -> int:
        feeds = {"input_ids": np.array([ids], dtype=np.int64),
                 "position_ids": np.arange(self.pos, self.pos + len(ids), dtype=np.int64)[None],
                 **dict(zip(self.past_names, self.past))}
        logits, *self.past = self.session.run(None, feeds)
        self.pos += len(ids)
        return int(np.argmax(logits[0]))

    def first_token(self, ids: list[int]) -> int:
        self.past, self.pos = [self.empty] * len(self.past_names), 0
        return self._run(ids)

    def step(self, token: int) -> int:
        return self._run([token])


class LlamaPeer(Peer):
    """llama.cpp through llama-cpp-python's Llama, its own batch and KV cache."""

    def __init__(self, gguf: Path, threads: int, flash_attn: bool, context: int = 1024):
        import llama_cpp

        self.name = f"llama.cpp Q8_0, flash attention {'on' if flash_attn else 'off'}"
        threads = threads or os.cpu_count() or 1
        # The whole prompt in one batch (llama.cpp's default n_batch is 512 too), the last
        # position's logits only, as the other engines compute them.
        self.llm = llama_cpp.Llama(str(gguf), n_ctx=context, n_batch=512, n_threads=threads, n_threads_batch=threads,
                                   flash_attn=flash_attn, logits_all=False, verbose=False)
        self._logits = llama_cpp.llama_get_logits_ith
        self.n_vocab = self.llm.n_vocab()

    def _run(self, ids: list[int]) -> int:
        self.llm.eval(ids)
        logits = np.ctypeslib.as_array(self._logits(self.llm.ctx, -1), shape=(self.n_vocab,))
        return int(np.argmax(logits))

    def first_token(self, ids: list[int]) -> int:
        self.llm.reset()  # the next eval removes every cached position
        return self._run(ids)

    def step(self, token: int) -> int:
        return self._run([token])


def llama_peers(gguf: Path, threads: int) -> list[Peer]:
    return [LlamaPeer(gguf, threads, flash_attn=False), LlamaPeer(gguf, threads, flash_attn=True)]


def llama_missing() -> str | None:
    """Why llama.cpp cannot be measured here (None when it can)."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        return f"llama.cpp skipped: llama-cpp-python is not installed ({exc.name or exc}); {INSTALL_LLAMA}"
    return None
