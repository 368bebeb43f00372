"""What a checkpoint's weights are, before any of them is loaded. Torch-free.

A ``config.json`` is only a claim: ``n_layer: 100000`` beside a 124M-parameter file would make
the exporter build a hundred thousand layers before it noticed. ``tensor_shapes`` reads the
shapes from a ``.safetensors`` header (or every shard of a sharded index) without reading the
data, and ``check_config`` compares the config with them, so a wrong config fails at once with
a sentence. ``export_memory`` says how much memory an export of that many parameters takes,
for the check against the machine before a big one starts.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

from core.errors import ModelError
from core.fileio import DamagedFile, describe_os_error, open_regular, parse_json, read_json

HEADER_LIMIT = 100_000_000  # bytes of JSON a safetensors header may have (the format's own limit)
_PREFIX = "transformer."
_CORRUPT = "cannot read weights, the file is truncated or corrupt"
_LAYER = re.compile(r"h\.(\d{1,9})\.")  # (int() refuses thousands of digits with a ValueError)
# Peak memory (RSS) of `model.export` with int8 + fp16 variants, measured on random GPT-2 shapes:
# 2.11 GB at 82M parameters (6 layers), 2.80 GB at 124M (12 layers): about 16 bytes per
# parameter (the float32 weights, the PyTorch model that checks the graphs, the graph being
# built and its ONNX Runtime session) plus 0.8 GB for PyTorch, ONNX Runtime and the checks.
EXPORT_BYTES_PER_PARAMETER = 16
EXPORT_BASE_BYTES = 800_000_000


def safetensors_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a ``.safetensors`` file: tensor name -> {dtype, shape, data_offsets}."""
    path = Path(path)
    try:
        with open_regular(path) as f:  # a FIFO would block, /dev/zero never end
            raw = f.read(8)
            if len(raw) != 8:
                raise ModelError(f"{path}: {_CORRUPT} (too short for a safetensors file)")
            (n,) = struct.unpack("<Q", raw)
            if n > HEADER_LIMIT:
                raise ModelError(f"{path}: {_CORRUPT} (a safetensors header of {n} bytes)")
            text = f.read(n)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({describe_os_error(exc)})") from None
    try:
        header = parse_json(text, path)
    except DamagedFile:
        raise ModelError(f"{path}: {_CORRUPT} (its safetensors header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path}: {_CORRUPT} (its safetensors header is not a JSON object)")
    return header


def tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]] | None:
    """Tensor name (without the ``transformer.`` prefix) -> shape, read from the header of a
    ``.safetensors`` file or of every shard named by a ``.safetensors.index.json``; None for a
    format whose shapes cannot be read without PyTorch (``.bin``)."""
    path = Path(path)
    if path.name.endswith(".index.json"):
        try:
            index = read_json(path)
            shards = sorted(set(index["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):  # (DamagedFile is a ValueError)
            raise ModelError(f"{path}: not a valid sharded checkpoint index") from None
        shapes: dict[str, tuple[int, ...]] = {}
        for shard in shards:
            if not isinstance(shard, str) or "/" in shard or "\\" in shard or shard.startswith("."):
                raise ModelError(f"{path}: shard {shard!r} is not a file beside the index")
            shapes.update(tensor_shapes(path.parent / shard) or {})
        return shapes
    if path.suffix != ".safetensors":
        return None
    shapes = {}
    for name, entry in safetensors_header(path).items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                   for d in shape):
            raise ModelError(f"{path}: tensor {name!r} has no valid shape in the file's header")
        shapes[name.removeprefix(_PREFIX)] = tuple(shape)
    return shapes


def check_config(cfg: Any, shapes: dict[str, tuple[int, ...]], source: str) -> None:
    """A ModelError when ``cfg`` (a GPT2Config) disagrees with the weights' shapes on the
    numbers that size everything built from it: layers, width, vocabulary, positions."""
    shapes = {k.removeprefix(_PREFIX): tuple(v) for k, v in shapes.items()}
    layers = {int(m[1]) for k in shapes if (m := _LAYER.match(k))}
    said = (f"config.json (n_layer={cfg.n_layer}, n_embd={cfg.n_embd}, vocab_size={cfg.vocab_size}, "
            f"n_positions={cfg.n_positions})")
    numbered = layers == set(range(len(layers)))  # never range(cfg.n_layer): it may be 1e9
    if not numbered or len(layers) != cfg.n_layer:
        held = f"{len(layers)} layers" if numbered else \
            f"layers numbered {min(layers, default=0)} to {max(layers, default=0)} with gaps"
        raise ModelError(f"{source}: {said} does not match the weights, which hold {held}")
    want = {"wte.weight": (cfg.vocab_size, cfg.n_embd), "wpe.weight": (cfg.n_positions, cfg.n_embd),
            "h.0.mlp.c_fc.weight": (cfg.n_embd, cfg.inner_dim)}
    for name, shape in want.items():
        if name not in shapes:
            raise ModelError(f"{source}: the weights have no {name!r}; this is not a GPT-2 checkpoint")
        if shapes[name] != shape:
            raise ModelError(f"{source}: {said} does not match the weights: {name} has shape "
                             f"{list(shapes[name])}, the config needs {list(shape)}")


def export_memory(parameters: int) -> int:
    """Bytes of memory an export of a checkpoint with ``parameters`` parameters takes at its peak."""
    return EXPORT_BYTES_PER_PARAMETER * parameters + EXPORT_BASE_BYTES


LORA_RANK_MAX = 4096  # above the width of any GPT-2 (1600): the bound when the width is unknown


def lora_rank_limit(init: str | Path | None, model: Any = None) -> int:
    """The largest LoRA rank worth training on a model: its smallest projection dimension, the
    width n_embd (read from ``init``'s config.json, else the new model's settings); an adapter of
    a higher rank adds nothing but memory (a rank of a million asks for tens of GB)."""
    width: Any = None
    if init:
        try:
            width = read_json(Path(init) / "config.json").get("n_embd")
        except (OSError, DamagedFile, AttributeError):
            width = None
    elif isinstance(model, dict):
        width = model.get("n_embd")
    if isinstance(width, int) and not isinstance(width, bool) and 1 <= width <= LORA_RANK_MAX:
        return width
    return LORA_RANK_MAX
