"""The bundled default model: complete, small enough to ship, and it writes English prose."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "resources" / "models" / "inkwell-austen"
RECIPE = ROOT / "model" / "recipes" / "inkwell-austen.json"
MAX_BYTES = 40 * 1000 * 1000
# Not in the training text's hold-out; any fluent model of English prose finds it easy.
PASSAGE = (
    "It was a fine morning, and the ladies of the family walked out together after breakfast. "
    "Her mother was very glad to see her, and said that she had been thinking of her all the day."
)


def test_bundle_is_complete_verified_and_within_size():
    from model.bundle import Bundle

    bundle = Bundle.load(BUNDLE)
    bundle.verify()
    assert set(bundle.variants) >= {"int8"} and bundle.has_hf
    total = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file())
    assert total <= MAX_BYTES, f"bundle is {total / 1e6:.1f} MB"
    m = bundle.manifest
    assert m["tokenizer"] == "gpt2" and m["architecture"]["vocab_size"] == 50257
    assert math.isfinite(m["perplexity"]["value"]) and "persuasion.txt" in m["perplexity"]["dataset"]
    assert "public-domain" in m["licence"] and "MIT" in m["licence"]
    recipe = json.loads(RECIPE.read_text())
    trained = m["provenance"]["training"]["recipe"]
    for key in ("model", "steps", "batch_size", "seq_len", "lr", "seed", "holdout"):
        assert trained[key] == recipe[key], key


def test_hf_checkpoint_loads_and_knows_english():
    import torch

    from model.hf import load_gpt2
    from model.tokenizer import encode

    model = load_gpt2(BUNDLE / "hf")
    ids = torch.tensor([encode(PASSAGE)])
    with torch.no_grad():
        ppl = math.exp(model.loss(ids[:, :-1], ids[:, 1:]).item())
    assert ppl < 150, ppl  # a random model scores about 50,000


def test_engine_generates_words_with_the_bundled_model():
    from app.engine import Engine, GenerationParams

    engine = Engine.load(BUNDLE, provider="cpu")
    assert engine.status.variant == "int8"
    result = engine.generate("It is a truth universally acknowledged", GenerationParams(max_new_tokens=30, temperature=0))
    words = re.findall(r"[A-Za-z]+", result.text)
    assert len(words) >= 10
    assert len(result.alternatives[0].token_ids) == 30 or "<|endoftext|>" not in result.text


def test_app_uses_the_bundled_model_on_first_launch():
    from app import models

    default = models.default_model()  # fresh INKWELL_HOME: no settings, no user models
    assert default is not None and default.bundled and default.problem is None
    assert default.folder.resolve() == BUNDLE.resolve()
    assert models.active_model("") == (default, None)
