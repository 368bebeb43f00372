"""The fixed scales of an int8 KV cache, measured on a passage of prose.

GroupQueryAttention's int8 cache (core/onnx_graph.py) stores each key and value channel of each
head as int8 times one scale that does not change while the model runs, so the scales are set at
export from what the model writes into its cache over real text: the largest magnitude seen in
each channel, over every position of the context (position embeddings change the magnitudes
along the window), divided by 127. A value beyond that range at run time is clipped to it.

Torch- and onnxruntime-free: the caller runs its own float graph (the exporter its fp32 graph,
the engine the int8 graph with a float cache) through ``run``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.tokenizer import encode

# Public-domain prose (Arthur Conan Doyle, "A Scandal in Bohemia", 1891), not the text the
# exporter measures top-1 agreement on. Repeated to fill the context window.
CALIBRATION_TEXT = (
    "To Sherlock Holmes she is always the woman. I have seldom heard him mention her under any other "
    "name. In his eyes she eclipses and predominates the whole of her sex. It was not that he felt any "
    "emotion akin to love for Irene Adler. All emotions, and that one particularly, were abhorrent to "
    "his cold, precise but admirably balanced mind. He was, I take it, the most perfect reasoning and "
    "observing machine that the world has seen, but as a lover he would have placed himself in a false "
    "position. He never spoke of the softer passions, save with a gibe and a sneer. They were admirable "
    "things for the observer—excellent for drawing the veil from men's motives and actions. But for the "
    "trained reasoner to admit such intrusions into his own delicate and finely adjusted temperament was "
    "to introduce a distracting factor which might throw a doubt upon all his mental results.\n\n"
    "I had seen little of Holmes lately. My marriage had drifted us away from each other. \"Wedlock "
    "suits you,\" he remarked. \"I think, Watson, that you have put on seven and a half pounds since I "
    "saw you.\" \"Seven!\" I answered. \"Indeed, I should have thought a little more. Just a trifle "
    "more, I fancy, Watson. And in practice again, I observe. You did not tell me that you intended to "
    "go into harness.\" \"Then, how do you know?\" \"I see it, I deduce it.\"\n\n"
)
LEVELS = 127  # int8, symmetric
FLOOR = 1e-6  # a channel that stayed at zero still needs a positive scale

Run = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


def calibration_ids(n_positions: int) -> np.ndarray:
    """[1, n_positions] token ids of the passage, repeated."""
    ids = encode(CALIBRATION_TEXT)
    repeats = -(-n_positions // len(ids))
    return np.array([(ids * repeats)[:n_positions]], dtype=np.int64)


def cache_scales(run: Run, n_layer: int, n_head: int, head_dim: int, n_positions: int,
                 kv_dtype: type = np.float32) -> dict[str, np.ndarray]:
    """``h.{i}.attn.k_scale`` / ``v_scale`` [n_head, head_dim] for every layer, from one pass of a
    float-cache graph (``run(feeds)`` returns the graph's outputs: logits, then the presents)."""
    ids = calibration_ids(n_positions)
    feeds = {"input_ids": ids, "position_ids": np.arange(ids.shape[1], dtype=np.int64)[None]}
    for i in range(n_layer):
        for kind in ("key", "value"):
            feeds[f"past_key_values.{i}.{kind}"] = np.zeros((1, n_head, 0, head_dim), kv_dtype)
    presents = run(feeds)[1:]
    if len(presents) != 2 * n_layer:
        raise ValueError(f"expected {2 * n_layer} cache outputs, got {len(presents)}")
    scales = {}
    for i in range(n_layer):
        for j, kind in enumerate(("k", "v")):
            seen = np.abs(np.asarray(presents[2 * i + j], dtype=np.float32)).max(axis=(0, 2))  # [n_head, head_dim]
            scales[f"h.{i}.attn.{kind}_scale"] = np.maximum(seen / LEVELS, FLOOR).astype(np.float32)
    return scales
