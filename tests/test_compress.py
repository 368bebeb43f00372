"""`inkwell compress`: an installed model pruned to a share of its layers' parameters, distilled
from the original on the writer's texts, installed as a smaller model that generates."""

from __future__ import annotations

import json
from functools import partial

import pytest
from test_finetune_cli import inkwell as _inkwell
from test_finetune_cli import texts  # noqa: F401 - a fixture

from app.compress_cli import DISTILL_ALPHA

inkwell = partial(_inkwell, command="compress")


@pytest.mark.slow
def test_compress_installs_a_smaller_model_that_generates(tiny_bundle, texts, tmp_path, monkeypatch):  # noqa: F811
    home = tmp_path / "home"
    proc = inkwell(home, "--model", str(tiny_bundle), "--keep", "0.4", "--data", str(texts), "--name", "Quick",
                   "--steps", "6", "--seq-len", "32", "--batch-size", "4", "--no-use", "--json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    pruned = next(e for e in events if e["event"] == "pruned")
    assert pruned["parameters_after"] < pruned["parameters"] and pruned["cost_share"] <= 0.4
    assert min(t["loss"] for t in pruned["tried"]) == next(t["loss"] for t in pruned["tried"] if t["plan"] == pruned["plan"])
    bundle = home / "data" / "models" / "Quick"
    original = json.loads((tiny_bundle / "hf" / "config.json").read_text())
    small = json.loads((bundle / "hf" / "config.json").read_text())
    assert (small["n_layer"], small["n_inner"], small["n_head"], small["n_embd"]) == (
        len(pruned["layers"]), pruned["n_inner"], pruned["n_head"], pruned["n_embd"])
    assert small["n_embd"] < original["n_embd"]  # the LM head alone is most of this model's work
    recipe = json.loads((bundle / "inkwell-model.json").read_text())["provenance"]["training"]["recipe"]
    assert recipe["teacher"] == str(tiny_bundle / "hf") and recipe["distill_alpha"] == DISTILL_ALPHA
    measured = next(e for e in events if e["event"] == "measured")
    figures = json.loads((bundle / "inkwell-model.json").read_text())["compression"]
    assert figures == {k: v for k, v in measured.items() if k != "event"}
    assert figures["original"] == "tiny-test" and figures["keep"] == 0.4
    assert figures["parameters_copy"] == pruned["parameters_after"] and figures["parameters_original"] == pruned["parameters"]
    assert figures["keystroke_ms_copy"] > 0 and figures["keystroke_ms_original"] > 0 and figures["speedup"] > 0
    assert figures["perplexity_copy"] > 1 and figures["perplexity_original"] > 1 and figures["perplexity_tokens"] > 0
    from app.engine import Engine, GenerationParams

    monkeypatch.setenv("INKWELL_HOME", str(home))
    engine = Engine.load(bundle, provider="cpu")
    assert engine.generate("The lighthouse", GenerationParams(max_new_tokens=5, temperature=0)).alternatives[0].token_ids
    assert not list(home.rglob("*-pruned"))  # the pruned start is removed once the copy is installed


@pytest.mark.parametrize("args,message", [
    (["--keep", "1.5"], "--keep: a share between 0 and 1"),
    (["--keep", "0"], "--keep: a share between 0 and 1"),
    (["--keep", "0.5", "--data", "/no/such/texts"], "--data /no/such/texts: does not exist"),
    (["--keep", "0.2"], "--keep 0.2: the smallest copy of this model (one layer, one head) does 0.30"),
])
def test_bad_requests_are_one_clear_message(tiny_bundle, texts, tmp_path, args, message):  # noqa: F811
    argv = ["--model", str(tiny_bundle), "--name", "bad", *args]
    if "--data" not in args:
        argv += ["--data", str(texts)]
    proc = inkwell(tmp_path / "home", *argv)
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr


def test_an_unknown_model_is_named_by_the_option_that_gave_it(texts, tmp_path):  # noqa: F811
    proc = inkwell(tmp_path / "home", "--model", "no-such-model", "--keep", "0.5", "--data", str(texts), "--name", "x")
    assert proc.returncode != 0 and "--model 'no-such-model': no such installed model" in proc.stderr
    assert "--base" not in proc.stderr


def test_a_copy_needs_a_name_but_an_estimate_does_not(tiny_bundle, texts, tmp_path):  # noqa: F811
    proc = inkwell(tmp_path / "home", "--model", str(tiny_bundle), "--keep", "0.5", "--data", str(texts))
    assert proc.returncode != 0 and "--name: give the new model a name" in proc.stderr
    proc = inkwell(tmp_path / "home", "--model", str(tiny_bundle), "--keep", "0.5", "--data", str(texts),
                   "--estimate", "--seq-len", "32", "--batch-size", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    estimate = json.loads(proc.stdout.splitlines()[-1])
    assert estimate["event"] == "estimate" and estimate["total_s"] > estimate["prune_s"] > 0
    assert 1.9 < estimate["speedup"] <= 2.2 and "heads" in estimate["plan"]
