"""Hugging Face GPT-2 checkpoints: load into ``model.gpt2.GPT2`` and save back.

A checkpoint is a folder with ``config.json`` and ``model.safetensors`` (or a sharded
``model.safetensors.index.json``) or ``pytorch_model.bin``. ``.bin`` files are read with
``torch.load(weights_only=True)``: no arbitrary pickle is ever executed.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.config import GPT2Config, read_json
from core.errors import ModelError
from core.hf_layout import PREFIX as _PREFIX
from core.hf_layout import gpt2_name, is_conv1d
from core.weights import check_config
from model.gpt2 import GPT2

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def find_weights(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ModelError(
        f"{folder}: no weights found (expected one of {', '.join(WEIGHT_FILES)})"
    )


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a ``.safetensors``, sharded index or ``.bin`` file, on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: file not found")
    try:
        if path.name.endswith(".index.json"):
            index = read_json(path)
            shards = sorted(set(index["weight_map"].values()))
            tensors: dict[str, torch.Tensor] = {}
            for shard in shards:
                tensors.update(read_tensors(path.parent / shard))
            return tensors
        if path.suffix == ".safetensors":
            return load_file(str(path), device="cpu")
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except ModelError:
        raise
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower():
            raise ModelError(
                f"{path}: the file holds Python objects besides tensors; Inkwell does not open such "
                "files because loading them could run code (save the checkpoint as model.safetensors)"
            ) from None
        raise ModelError(f"{path}: cannot read weights, the file is truncated or corrupt") from None
    except MemoryError:
        raise ModelError(f"{path}: not enough memory to load these weights") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail anywhere inside the parsers
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{path}: cannot read weights, the file is truncated or corrupt ({reason})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path}: not a checkpoint of named tensors")
    return state


def state_dict_from_hf(tensors: dict[str, torch.Tensor], cfg: GPT2Config, source: str) -> dict[str, torch.Tensor]:
    """Map Hugging Face names and layouts onto ``GPT2``'s, checking every shape against ``cfg``."""
    check_config(cfg, {k: tuple(v.shape) for k, v in tensors.items()}, source)  # before sizing a model by cfg
    reference = {k: tuple(v.shape) for k, v in _shape_model(cfg).items()}
    out: dict[str, torch.Tensor] = {}
    for key, tensor in tensors.items():
        name = gpt2_name(key)
        if name is None:
            continue
        if name not in reference:
            raise ModelError(f"{source}: unexpected tensor {key!r}; this is not a GPT-2 checkpoint")
        if is_conv1d(name):
            tensor = tensor.t()
        if tuple(tensor.shape) != reference[name]:
            shown = tuple(tensor.t().shape) if is_conv1d(name) else tuple(tensor.shape)
            raise ModelError(
                f"{source}: tensor {key!r} has shape {list(shown)}, but config.json "
                f"(n_layer={cfg.n_layer}, n_embd={cfg.n_embd}, vocab_size={cfg.vocab_size}, "
                f"n_positions={cfg.n_positions}) needs {list(_hf_shape(name, reference[name]))}"
            )
        out[name] = tensor.float().contiguous()
    missing = sorted(set(reference) - set(out))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ModelError(f"{source}: missing tensors {', '.join(missing[:3])}{more}")
    return out


def _hf_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(reversed(shape)) if is_conv1d(name) else shape


def _shape_model(cfg: GPT2Config) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return GPT2(cfg).state_dict()


def load_gpt2(folder: str | Path) -> GPT2:
    """Load a Hugging Face GPT-2 checkpoint folder into an eval-mode ``GPT2``."""
    folder = Path(folder)
    if not folder.exists():
        raise ModelError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ModelError(f"{folder}: expected a folder with config.json and model weights")
    cfg = GPT2Config.load(folder / "config.json")
    weights = find_weights(folder)
    return build_gpt2(cfg, read_tensors(weights), str(weights))


def build_gpt2(cfg: GPT2Config, tensors: dict[str, torch.Tensor], source: str) -> GPT2:
    state = state_dict_from_hf(tensors, cfg, source)
    with torch.device("meta"):
        model = GPT2(cfg)
    model.load_state_dict(state, assign=True)
    return model.eval()


def save_gpt2(model: GPT2, folder: str | Path, dtype: torch.dtype = torch.float32) -> None:
    """Write ``config.json`` and ``model.safetensors`` in Hugging Face's GPT-2 layout."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.save(folder / "config.json")
    tensors = {}
    for name, tensor in model.state_dict().items():
        if is_conv1d(name):
            tensor = tensor.t()
        tensors[_PREFIX + name] = tensor.detach().to(dtype).contiguous().cpu()
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
