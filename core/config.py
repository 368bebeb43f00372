"""GPT-2 hyper-parameters, read from and written to Hugging Face ``config.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from core import fileio
from core.errors import ModelError

# Keys of a Hugging Face GPT-2 config that change the computation and that this implementation
# does not support; a checkpoint using them would load but silently compute something else.
_UNSUPPORTED = {
    "scale_attn_by_inverse_layer_idx": False,
    "reorder_and_upcast_attn": False,
    "add_cross_attention": False,
}
_SUPPORTED_ACTIVATIONS = {"gelu_new", "gelu_pytorch_tanh"}


def read_json(path: Path) -> Any:
    """The parsed contents of a JSON file, or a ModelError naming it. FileNotFoundError passes
    through, so that each caller can say what the missing file means. Only a regular file of
    at most 16 MiB is read; JSON that does not parse for any reason (deep nesting, huge
    integers included) is a ModelError, never another exception (core.fileio.read_json)."""
    try:
        return fileio.read_json(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({fileio.describe_os_error(exc)})") from None
    except fileio.DamagedFile as exc:
        raise ModelError(str(exc)) from None


# What a token costs the ONNX Runtime CPU engine, in block multiply-add equivalents, fitted to the
# keystroke latencies of twelve random-weight shapes of the bundled model's family, int8, 2 threads
# (bench/bench_compress.py, part 4; AMD EPYC, 7 December 2026): 0.083 ms a layer, 0.728 ms per
# million block multiply-adds, 0.082 ms per million LM-head multiply-adds, and 4.6 ms the app's own.
# LAYER_COST: what a layer costs beyond its weights' multiply-adds (~8 graph nodes: dispatch,
# LayerNorms, attention over the cache); earlier fits gave 0.12M and 0.19M.
# HEAD_RATE: what the LM head's multiply-add costs against a block's: the head is one large
# matrix, which the int8 kernel runs near the memory's speed, where a block is many small ones.
# Counted at 1, the head made the bundled model's 50% copy narrower (128 wide) for a speed that its
# layers, not its head, decide; its perplexity after distillation was 1.45x the original's.
LAYER_COST = 115_000
HEAD_RATE = 0.11


@dataclass(frozen=True)
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    bos_token_id: int = 50256
    eos_token_id: int = 50256
    # Dropout only matters for training; the values are kept so a round trip preserves them.
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ModelError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ModelError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if self.n_inner is not None and (not isinstance(self.n_inner, int) or isinstance(self.n_inner, bool)
                                         or self.n_inner <= 0):
            raise ModelError(f"n_inner must be a positive integer or null, got {self.n_inner!r}")
        for name, low, high in (("layer_norm_epsilon", 0.0, 1.0), ("initializer_range", 0.0, 10.0),
                                ("resid_pdrop", 0.0, 1.0), ("embd_pdrop", 0.0, 1.0), ("attn_pdrop", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high \
                    or (name == "layer_norm_epsilon" and value <= 0):
                raise ModelError(f"{name} must be a number from {low:g} to below {high:g}, got {value!r}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def inner_dim(self) -> int:
        return self.n_inner or 4 * self.n_embd

    def num_parameters(self) -> int:
        return self.vocab_size * self.n_embd + self.n_positions * self.n_embd + self.block_parameters() + 2 * self.n_embd

    def block_parameters(self, n_layer: int | None = None, inner: int | None = None) -> int:
        """Parameters of the transformer blocks (what pruning shrinks), for this config or with
        ``n_layer`` layers of MLP width ``inner``."""
        d, f = self.n_embd, self.inner_dim if inner is None else inner
        per_layer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        return (self.n_layer if n_layer is None else n_layer) * per_layer

    def token_cost(self, n_layer: int | None = None, n_embd: int | None = None, inner: int | None = None) -> float:
        """The work of one token, in block multiply-add equivalents, for this config or a smaller
        shape of it: the LM head (n_embd x vocab) at HEAD_RATE plus, per layer, its weights'
        multiply-adds and LAYER_COST for what a layer costs beyond them (pruning plans by this)."""
        d = self.n_embd if n_embd is None else n_embd
        f = self.inner_dim if inner is None else inner
        layers = self.n_layer if n_layer is None else n_layer
        return HEAD_RATE * self.vocab_size * d + layers * (4 * d * d + 2 * d * f + LAYER_COST)

    # --- Hugging Face config.json -------------------------------------------------------------

    @classmethod
    def from_hf_dict(cls, data: dict, source: str = "config.json") -> GPT2Config:
        if not isinstance(data, dict):
            raise ModelError(f"{source}: expected a JSON object")
        model_type = data.get("model_type")
        archs = data.get("architectures") or []
        if model_type is not None and model_type != "gpt2":
            raise ModelError(
                f"{source}: model_type is {model_type!r}; Inkwell only runs GPT-2 (model_type 'gpt2')"
            )
        if model_type is None and not any("GPT2" in str(a) for a in archs):
            raise ModelError(f"{source}: not a GPT-2 config (no model_type 'gpt2')")
        for key, expected in _UNSUPPORTED.items():
            if data.get(key, expected) != expected:
                raise ModelError(f"{source}: {key}={data[key]!r} is not supported")
        act = data.get("activation_function", "gelu_new")
        if act not in _SUPPORTED_ACTIVATIONS:
            raise ModelError(
                f"{source}: activation_function {act!r} is not GPT-2's (expected 'gelu_new')"
            )
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "n_ctx" in data and "n_positions" not in data:
            kwargs["n_positions"] = data["n_ctx"]
        try:
            return cls(**kwargs)
        except TypeError as exc:  # pragma: no cover - dataclass only raises on unknown keys
            raise ModelError(f"{source}: {exc}") from None
        except ModelError as exc:
            raise ModelError(f"{source}: {exc}") from None

    def to_hf_dict(self) -> dict:
        data = asdict(self)
        data.update(
            {
                "model_type": "gpt2",
                "architectures": ["GPT2LMHeadModel"],
                "activation_function": "gelu_new",
                "n_ctx": self.n_positions,
                "summary_type": "cls_index",
                "summary_use_proj": True,
                "summary_activation": None,
                "summary_proj_to_labels": True,
                "summary_first_dropout": 0.1,
                "scale_attn_weights": True,
                "use_cache": True,
                "tie_word_embeddings": True,
            }
        )
        return data

    @classmethod
    def load(cls, path: str | Path) -> GPT2Config:
        path = Path(path)
        try:
            data = read_json(path)
        except FileNotFoundError:
            raise ModelError(f"{path}: file not found") from None
        return cls.from_hf_dict(data, source=str(path))

    def save(self, path: str | Path) -> None:
        fileio.atomic_write_text(path, json.dumps(self.to_hf_dict(), indent=2) + "\n")


# The OpenAI GPT-2 family, by Hugging Face repository name.
PRESETS: dict[str, GPT2Config] = {
    "distilgpt2": GPT2Config(n_layer=6),
    "gpt2": GPT2Config(),
    "gpt2-medium": GPT2Config(n_embd=1024, n_layer=24, n_head=16),
    "gpt2-large": GPT2Config(n_embd=1280, n_layer=36, n_head=20),
    "gpt2-xl": GPT2Config(n_embd=1600, n_layer=48, n_head=25),
}
