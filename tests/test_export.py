"""ONNX export: parity with PyTorch, the graph's I/O contract, the CLI, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from core import onnx_graph
from core.bundle import MANIFEST, Bundle
from core.errors import ModelError
from model import export
from model.hf import load_gpt2

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def torch_model(tiny_hf_dir):
    return load_gpt2(tiny_hf_dir)


@pytest.fixture(scope="module")
def sessions(tiny_bundle):
    b = Bundle.load(tiny_bundle)
    return {v: ort.InferenceSession(str(b.variant_path(v)), providers=["CPUExecutionProvider"]) for v in b.variants}


def _feeds(cfg, ids, start, past=None, dtype=np.float32):
    b, s = ids.shape
    feeds = {"input_ids": ids.astype(np.int64), "position_ids": np.tile(np.arange(start, start + s), (b, 1))}
    for i in range(cfg.n_layer):
        k, v = past[i] if past else (np.zeros((b, cfg.n_head, 0, cfg.head_dim), dtype),) * 2
        feeds[f"past_key_values.{i}.key"] = np.asarray(k, dtype)
        feeds[f"past_key_values.{i}.value"] = np.asarray(v, dtype)
    return feeds


def _reference(model, ids):
    with torch.no_grad():
        logits, presents = model(torch.from_numpy(ids))
    return logits.numpy(), [(k.numpy(), v.numpy()) for k, v in presents]


def test_graph_io_contract(sessions, torch_model):
    cfg = torch_model.config
    for variant, s in sessions.items():
        kv = {"fp16": "tensor(float16)", "int8": "tensor(int8)"}.get(variant, "tensor(float)")
        inputs = {i.name: i for i in s.get_inputs()}
        outputs = {o.name: o for o in s.get_outputs()}
        assert list(inputs)[:2] == ["input_ids", "position_ids"]
        assert inputs["input_ids"].type == "tensor(int64)" and inputs["position_ids"].type == "tensor(int64)"
        assert len(inputs) == 2 + 2 * cfg.n_layer and len(outputs) == 1 + 2 * cfg.n_layer
        assert outputs["logits"].type == "tensor(float)"
        for i in range(cfg.n_layer):
            for kind in ("key", "value"):
                past = inputs[f"past_key_values.{i}.{kind}"]
                assert past.type == kv and past.shape[1:] == [cfg.n_head, "past_sequence", cfg.head_dim]
                assert isinstance(past.shape[0], str)  # dynamic batch
                assert outputs[f"present.{i}.{kind}"].type == kv


@pytest.mark.parametrize("batch", [1, 3])
def test_fp32_parity_empty_past_and_with_past(sessions, torch_model, batch):
    cfg = torch_model.config
    rng = np.random.default_rng(batch)
    ids = rng.integers(0, cfg.vocab_size, size=(batch, 20))
    ref_logits, ref_presents = _reference(torch_model, ids)
    s = sessions["fp32"]

    # First call: empty past, a whole prompt; only the last position's logits come out.
    out = s.run(None, _feeds(cfg, ids[:, :12], 0))
    assert out[0].shape == (batch, cfg.vocab_size)
    assert np.abs(out[0] - ref_logits[:, 11]).max() <= 1e-4
    for i in range(cfg.n_layer):
        assert out[1 + 2 * i].shape == (batch, cfg.n_head, 12, cfg.head_dim)
        assert np.abs(out[1 + 2 * i] - ref_presents[i][0][:, :, :12]).max() <= 1e-5
        assert np.abs(out[2 + 2 * i] - ref_presents[i][1][:, :, :12]).max() <= 1e-5

    # Several new tokens on top of the ONNX cache (queries fewer than keys: causal mask offset),
    # one row at a time: the contract allows batch > 1 there only for a single new token.
    past = [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(cfg.n_layer)]
    rows = [s.run(None, _feeds(cfg, ids[r:r + 1, 12:19], 12, [(k[r:r + 1], v[r:r + 1]) for k, v in past]))
            for r in range(batch)]
    out = [np.concatenate([row[j] for row in rows]) for j in range(len(rows[0]))]
    assert np.abs(out[0] - ref_logits[:, 18]).max() <= 1e-4

    # One decode step.
    past = [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(cfg.n_layer)]
    out = s.run(None, _feeds(cfg, ids[:, 19:], 19, past))
    assert np.abs(out[0] - ref_logits[:, 19]).max() <= 1e-4
    assert out[1].shape[2] == 20


def test_single_token_first_call(sessions, torch_model):
    cfg = torch_model.config
    ids = np.array([[464]])
    ref, _ = _reference(torch_model, ids)
    out = sessions["fp32"].run(None, _feeds(cfg, ids, 0))
    assert np.abs(out[0] - ref[:, 0]).max() <= 1e-4


@pytest.mark.parametrize("variant", ["int8", "fp16"])
def test_reduced_precision_agrees_with_pytorch(sessions, torch_model, tiny_bundle, variant):
    """Greedy continuation of random prompts: the top-1 token agrees almost everywhere."""
    cfg = torch_model.config
    dtype = np.float16 if variant == "fp16" else np.int8  # int8 weights go with an int8 cache
    rng = np.random.default_rng(7)
    ids = rng.integers(0, cfg.vocab_size, size=(4, 40))
    ref_logits, _ = _reference(torch_model, ids)
    s = sessions[variant]
    out = s.run(None, _feeds(cfg, ids[:, :8], 0, dtype=dtype))
    agree = [out[0].argmax(-1) == ref_logits[:, 7].argmax(-1)]
    for pos in range(8, 40):
        past = [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(cfg.n_layer)]
        assert past[0][0].dtype == dtype
        out = s.run(None, _feeds(cfg, ids[:, pos:pos + 1], pos, past, dtype))
        agree.append(out[0].argmax(-1) == ref_logits[:, pos].argmax(-1))
    rate = float(np.mean(agree))
    assert rate >= 0.9, rate
    recorded = Bundle.load(tiny_bundle).variant_info(variant)["top1_agreement"]
    assert 0.9 <= recorded <= 1.0


def test_the_int8_cache_scales_cover_what_the_model_writes_and_are_required(sessions, torch_model):
    from core.cache_calibration import cache_scales, calibration_ids

    cfg = torch_model.config
    scales = cache_scales(lambda feeds: sessions["fp32"].run(None, feeds), cfg.n_layer, cfg.n_head, cfg.head_dim,
                          cfg.n_positions)
    assert len(scales) == 2 * cfg.n_layer
    ids = calibration_ids(cfg.n_positions)
    assert ids.shape == (1, cfg.n_positions)
    _, presents = _reference(torch_model, ids)
    for i, (k, v) in enumerate(presents):
        for kind, x in (("k", k), ("v", v)):
            scale = scales[f"h.{i}.attn.{kind}_scale"]
            assert scale.shape == (cfg.n_head, cfg.head_dim) and (scale > 0).all()
            steps = np.abs(x[0]) / scale[:, None, :]
            assert steps.max() <= 127.01 and steps.max() >= 126  # the whole range used, nothing clipped
    spec = onnx_graph.GraphSpec(cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_positions)
    weights = {k: t.detach().float().numpy() for k, t in torch_model.state_dict().items()}
    with pytest.raises(ValueError, match="needs the calibrated scale 'h.0.attn.k_scale'"):
        onnx_graph.build_graph(spec, weights, "int8", onnx_graph.QuantOptions(block_size=32, kv_cache="int8"))


def test_int8_stores_the_tied_embedding_once(tiny_bundle):
    """The token embedding and the LM head share one 8-bit matrix (plus its scales)."""
    from onnx import numpy_helper

    m = onnx.load(str(tiny_bundle / "model.int8.onnx"))
    vocab_sized = [numpy_helper.to_array(t) for t in m.graph.initializer if 50257 in t.dims]
    eight_bit = [a for a in vocab_sized if a.dtype in (np.uint8, np.int8)]
    assert len(eight_bit) == 1 and eight_bit[0].size == 50257 * 64
    assert sum(a.nbytes for a in vocab_sized) < 50257 * 64 * 1.2
    fp32 = (tiny_bundle / "model.fp32.onnx").stat().st_size
    assert (tiny_bundle / "model.int8.onnx").stat().st_size < fp32 * 0.3


def test_manifest_records_verification(tiny_bundle):
    m = Bundle.load(tiny_bundle).manifest
    assert m["provenance"]["fp32_max_abs_logit_diff"] <= export.PARITY_TOLERANCE
    assert "top1_agreement" in m["variants"]["int8"] and "top1_agreement" in m["variants"]["fp16"]
    assert m["files"].keys() == {"hf/config.json", "hf/model.safetensors"}


def test_bundled_hf_checkpoint_loads_back(tiny_bundle, torch_model):
    again = load_gpt2(tiny_bundle / "hf")
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(again(ids)[0], torch_model(ids)[0])


@pytest.mark.slow
def test_hf_float16_and_variant_choice(tiny_hf_dir, tmp_path):
    out = tmp_path / "small"
    b = export.export_bundle(tiny_hf_dir, out, variants=["int8"], hf_dtype="float16")
    assert b.variants == ["int8"] and not (out / "model.fp32.onnx").exists()
    assert not any(p.name.startswith("check") for p in out.iterdir())
    st = (out / "hf" / "model.safetensors").stat().st_size
    assert st < (tiny_hf_dir / "model.safetensors").stat().st_size * 0.55
    b.verify()


def test_export_fails_when_parity_fails(tiny_hf_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "PARITY_TOLERANCE", 0.0)
    with pytest.raises(ModelError, match="disagrees with PyTorch"):
        export.export_bundle(tiny_hf_dir, tmp_path / "out", variants=["int8"])
    assert list(tmp_path.iterdir()) == []


def test_progress_events(tiny_hf_dir, tmp_path):
    events = []
    export.export_bundle(tiny_hf_dir, tmp_path / "out", variants=["fp32"], hf_dtype="none", progress=events.append)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "verify" in kinds
    stages = [e["stage"] for e in events if e["event"] == "stage"]
    assert stages == ["load", "build fp32", "verify fp32"]
    steps = [e for e in events if e["event"] == "progress"]
    assert [e["step"] for e in steps] == list(range(1, steps[0]["total_steps"] + 1))


@pytest.mark.slow
def test_force_replaces_an_existing_bundle(tiny_hf_dir, tiny_bundle, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(tiny_bundle, out)
    assert export.main([str(tiny_hf_dir), str(out), "--variants", "int8", "--force", "--name", "again"]) == 0
    b = Bundle.load(out)
    assert b.name == "again" and b.variants == ["int8"] and not (out / "model.fp32.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- command line, through real processes ------------------------------------------------------


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run_main(capsys):
    """``model.export.main`` in this process (fast); the subprocess tests cover the real CLI."""

    def run(*args):
        capsys.readouterr()
        code = export.main([str(a) for a in args])
        out = capsys.readouterr()
        return _Result(code, out.out, out.err)

    return run


def _run(*args, module="model.export"):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


@pytest.mark.slow
def test_cli_json_progress(tiny_hf_dir, tmp_path):
    out = tmp_path / "bundle"
    r = _run(tiny_hf_dir, out, "--variants", "int8", "--json", "--name", "CLI model")
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    assert events[-1]["output"] == str(out)
    b = Bundle.load(out)
    b.verify()
    assert b.name == "CLI model"


@pytest.mark.slow
def test_inkwell_export_subcommand(tiny_hf_dir, tmp_path):
    out = tmp_path / "bundle"
    r = _run("export", tiny_hf_dir, out, "--variants", "fp32", "--hf-dtype", "none", module="app.cli")
    assert r.returncode == 0, r.stderr
    assert "done:" in r.stderr and r.stdout == ""
    assert Bundle.load(out).variants == ["fp32"] and not (out / "hf").exists()


def _assert_clean_failure(r, out, *expected):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("inkwell export: error: "), r.stderr
    assert r.stderr.strip().splitlines()[-1] == errors[0]
    for text in expected:
        assert text in errors[0], errors[0]
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def _copy(src, dest):
    shutil.copytree(src, dest)
    return dest


@pytest.mark.slow
def test_bad_input_missing_folder(tmp_path):
    r = _run(tmp_path / "nope", tmp_path / "out")
    _assert_clean_failure(r, tmp_path / "out", str(tmp_path / "nope"), "no such folder")


def test_bad_input_no_weights(run_main, tiny_hf_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(tiny_hf_dir / "config.json", src)
    r = run_main(src, tmp_path / "out")
    _assert_clean_failure(r, tmp_path / "out", str(src), "no weights found")


def test_bad_input_missing_config(run_main, tiny_hf_dir, tmp_path):
    src = _copy(tiny_hf_dir, tmp_path / "src")
    (src / "config.json").unlink()
    r = run_main(src, tmp_path / "out")
    _assert_clean_failure(r, tmp_path / "out", str(src / "config.json"), "file not found")


@pytest.mark.parametrize("config, problem", [
    ({"model_type": "bert", "vocab_size": 30522}, "Inkwell only runs GPT-2"),
    ("{not json", "not valid JSON"),
    ({"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 5}, "must be divisible by n_head"),
    ({"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 1000}, "smaller than the GPT-2"),
])
def test_bad_input_config(run_main, tiny_hf_dir, tmp_path, config, problem):
    src = _copy(tiny_hf_dir, tmp_path / "src")
    (src / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    r = run_main(src, tmp_path / "out")
    _assert_clean_failure(r, tmp_path / "out", str(src / "config.json"), problem)


@pytest.mark.slow
def test_bad_input_truncated_weights(tiny_hf_dir, tmp_path):
    src = _copy(tiny_hf_dir, tmp_path / "src")
    w = src / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    r = _run(src, tmp_path / "out")
    _assert_clean_failure(r, tmp_path / "out", str(w), "truncated or corrupt")


@pytest.mark.parametrize("name, seed", [("model.safetensors", 0), ("pytorch_model.bin", 0), ("pytorch_model.bin", 1),
                                        ("pytorch_model.bin", 2)])
def test_bad_input_corrupt_weights(run_main, tiny_hf_dir, tmp_path, name, seed):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(tiny_hf_dir / "config.json", src)
    (src / name).write_bytes(np.random.default_rng(seed).bytes(4096))
    r = run_main(src, tmp_path / "out")
    _assert_clean_failure(r, tmp_path / "out", str(src / name), "truncated or corrupt")


def test_bad_input_shapes_disagree_with_config(run_main, tiny_hf_dir, tmp_path):
    src = _copy(tiny_hf_dir, tmp_path / "src")
    cfg = json.loads((src / "config.json").read_text())
    cfg.update(n_embd=128, n_head=4)
    (src / "config.json").write_text(json.dumps(cfg))
    r = run_main(src, tmp_path / "out")
    _assert_clean_failure(r, tmp_path / "out", str(src / "model.safetensors"), "has shape", "config.json")


def test_bad_input_output_exists(run_main, tiny_hf_dir, tiny_bundle, tmp_path):
    out = _copy(tiny_bundle, tmp_path / "out")
    before = (out / MANIFEST).read_bytes()
    r = run_main(tiny_hf_dir, out, "--json")
    assert r.returncode == 1 and "already exists (use --force" in r.stderr and "Traceback" not in r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["event"] == "error"
    assert (out / MANIFEST).read_bytes() == before


@pytest.mark.slow
def test_bad_input_output_not_writable(tiny_hf_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    r = _run(tiny_hf_dir, blocker / "out")
    _assert_clean_failure(r, None, str(blocker / "out"), "cannot write the model here")
    # A read-only place (works as root too: /proc refuses everyone).
    r = _run(tiny_hf_dir, "/proc/inkwell-out")
    _assert_clean_failure(r, None, "/proc/inkwell-out", "cannot write the model here")


def test_bad_variant_name(run_main, tiny_hf_dir, tmp_path):
    r = run_main(tiny_hf_dir, tmp_path / "out", "--variants", "int4")
    _assert_clean_failure(r, tmp_path / "out", "--variants", "unknown variant 'int4'")


def test_interrupted_export_leaves_nothing(tiny_hf_dir, tmp_path, monkeypatch):
    import core.onnx_graph as graph

    real = graph.build_graph

    def fail_on_int8(spec, weights, variant="fp32", *a, **k):
        if variant == "int8":
            raise KeyboardInterrupt
        return real(spec, weights, variant, *a, **k)

    monkeypatch.setattr(graph, "build_graph", fail_on_int8)
    assert export.main([str(tiny_hf_dir), str(tmp_path / "out")]) == 130
    assert list(tmp_path.iterdir()) == []


class _Payload:
    """Unpickling this would run code: a checkpoint must never be able to do that."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/inkwell-pwned",))


def test_bad_input_bin_with_code_is_refused(tiny_hf_dir, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(tiny_hf_dir / "config.json", src)
    torch.save({"wte.weight": torch.zeros(2), "evil": _Payload()}, src / "pytorch_model.bin")
    assert export.main([str(src), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert str(src / "pytorch_model.bin") in err and "Traceback" not in err
    assert "could run code" in err
    assert not Path("/tmp/inkwell-pwned").exists() and not (tmp_path / "out").exists()


def test_bad_input_missing_tensor(tiny_hf_dir, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    src = _copy(tiny_hf_dir, tmp_path / "src")
    tensors = load_file(str(src / "model.safetensors"))
    del tensors["transformer.h.1.mlp.c_fc.weight"]
    save_file(tensors, str(src / "model.safetensors"))
    assert export.main([str(src), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "model.safetensors: missing tensors h.1.mlp.c_fc.weight" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("n_embd, n_head", [(40, 5), (72, 3)])
def test_int8_with_any_width(n_embd, n_head):
    """Block quantization for widths that are not a multiple of 128 (padded last block)."""
    from core.config import GPT2Config
    from core.onnx_graph import GraphSpec, QuantOptions, block_size_for, build_graph
    from model.gpt2 import GPT2

    cfg = GPT2Config(n_layer=2, n_embd=n_embd, n_head=n_head, n_positions=64)
    torch.manual_seed(0)
    model = GPT2(cfg).eval()
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    spec = GraphSpec(cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_positions)
    checker = export._Checker(model, cfg, 0)
    for variant in ("fp32", "int8"):
        graph = build_graph(spec, weights, variant, QuantOptions(block_size=block_size_for(n_embd)))
        session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
        if variant == "fp32":
            assert checker.parity(session) <= export.PARITY_TOLERANCE
        else:
            assert checker.agreement(session, np.float32) >= 0.9


@pytest.mark.slow
def test_large_models_keep_weights_beside_the_graph(tiny_hf_dir, tmp_path, monkeypatch):
    """Over protobuf's 2 GB the weights go to <file>.data (simulated with a zero threshold)."""
    monkeypatch.setattr(onnx_graph, "EXTERNAL_DATA_BYTES", 0)
    out = tmp_path / "big"
    b = export.export_bundle(tiny_hf_dir, out, variants=["int8"], hf_dtype="none")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "model.int8.onnx", "model.int8.onnx.data"]
    assert b.manifest["files"].keys() == {"model.int8.onnx.data"}
    assert (out / "model.int8.onnx").stat().st_size < 100_000
    b.verify()
    session = ort.InferenceSession(str(b.variant_path("int8")), providers=["CPUExecutionProvider"])
    model = load_gpt2(tiny_hf_dir)
    assert export._Checker(model, model.config, 0).agreement(session, np.int8) >= 0.9


def test_a_graph_onnxruntime_cannot_run_is_reported(tiny_hf_dir, tmp_path, monkeypatch, run_main):
    """E.g. an onnxruntime too old for an operator: a clear message, nothing written."""
    import core.onnx_graph as graph

    real = graph.build_graph

    def unknown_op_in_int8(spec, weights, variant="fp32", *a, **k):
        model = real(spec, weights, variant, *a, **k)
        if variant == "int8":
            next(n for n in model.graph.node if n.op_type == "MatMulNBits").op_type = "MatMulNoSuchBits"
        return model

    monkeypatch.setattr(graph, "build_graph", unknown_op_in_int8)
    r = run_main(tiny_hf_dir, tmp_path / "out")
    _assert_clean_failure(r, tmp_path / "out", "model.int8.onnx: onnxruntime", "cannot run the exported int8 graph")


@pytest.mark.slow
def test_transformers_checkpoint_end_to_end(tmp_path):
    """A checkpoint saved by transformers' GPT2LMHeadModel, exported: the ONNX graph gives the
    reference implementation's logits, through the cache."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(3)
    ref = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, n_positions=64)).eval()
    ref.save_pretrained(tmp_path / "hf")
    b = export.export_bundle(tmp_path / "hf", tmp_path / "bundle", variants=["fp32"], hf_dtype="none")
    session = ort.InferenceSession(str(b.variant_path("fp32")), providers=["CPUExecutionProvider"])
    ids = np.random.default_rng(3).integers(0, 50257, size=(2, 16))
    with torch.no_grad():
        want = ref(torch.from_numpy(ids)).logits.numpy()
    cfg = load_gpt2(tmp_path / "hf").config
    out = session.run(None, _feeds(cfg, ids[:, :10], 0))
    assert np.abs(out[0] - want[:, 9]).max() <= 1e-4
    for pos in range(10, 16):
        past = [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(cfg.n_layer)]
        out = session.run(None, _feeds(cfg, ids[:, pos:pos + 1], pos, past))
        assert np.abs(out[0] - want[:, pos]).max() <= 1e-4


def test_head_size_that_onnx_runtime_cannot_run_is_named(tmp_path):
    from core.config import GPT2Config
    from model.gpt2 import GPT2
    from model.hf import save_gpt2

    src = tmp_path / "odd"
    save_gpt2(GPT2(GPT2Config(n_layer=1, n_embd=40, n_head=4, n_positions=32)).eval(), src)
    with pytest.raises(ModelError, match=r"config.json: the head size n_embd / n_head = 10 is not a multiple of 8"):
        export.export_bundle(src, tmp_path / "out", variants=["int8"], hf_dtype="none")
    assert not (tmp_path / "out").exists()
