"""Model bundles: manifest schema, loading, sha256 verification, safe writing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from core.bundle import MANIFEST, Bundle, BundleWriter
from core.errors import ModelError


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    dest = tmp_path / "copy"
    shutil.copytree(tiny_bundle, dest)
    return dest


def _edit_manifest(folder, change):
    path = folder / MANIFEST
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_load_reads_the_manifest(tiny_bundle):
    b = Bundle.load(tiny_bundle)
    assert b.name == "tiny-test"
    assert b.manifest["format"] == "inkwell-model" and b.manifest["format_version"] == 2
    assert b.architecture == {"n_layer": 2, "n_head": 4, "n_embd": 64, "n_positions": 256, "vocab_size": 50257}
    assert b.context_length == 256 and b.manifest["tokenizer"] == "gpt2"
    assert set(b.variants) == {"fp32", "int8", "fp16"}
    assert b.variant_path("int8") == tiny_bundle / "model.int8.onnx" and b.variant_path("int8").is_file()
    assert b.variant_info("fp16")["kv_dtype"] == "float16"
    assert b.variant_info("int8")["kv_dtype"] == "int8"  # int8 weights, int8 cache
    assert b.has_hf and (b.hf_path / "config.json").is_file()
    assert b.preferred_variant("cpu") == "int8" and b.preferred_variant("cuda") == "fp16"
    assert b.manifest["parameters"] == 3332928
    b.verify()


def test_verify_detects_a_tampered_file(bundle_copy):
    path = bundle_copy / "model.int8.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the checksum can tell
    path.write_bytes(bytes(data))
    bundle = Bundle.load(bundle_copy)
    with pytest.raises(ModelError, match=r"model\.int8\.onnx: checksum mismatch"):
        bundle.verify()


def test_verify_covers_the_hf_checkpoint(bundle_copy):
    path = bundle_copy / "hf" / "config.json"
    path.write_text(path.read_text().replace("50257", "50258"))
    with pytest.raises(ModelError, match=r"hf/config\.json: checksum mismatch"):
        Bundle.load(bundle_copy).verify()


def test_verify_reports_progress(tiny_bundle):
    seen = []
    Bundle.load(tiny_bundle).verify(lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == sum(
        p.stat().st_size for p in tiny_bundle.rglob("*") if p.is_file() and p.name != MANIFEST
    )


def test_truncated_file_is_reported_on_load(bundle_copy):
    path = bundle_copy / "model.fp32.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match=r"model\.fp32\.onnx: file is 1000 bytes .*truncated"):
        Bundle.load(bundle_copy)


def test_missing_file_is_reported_on_load(bundle_copy):
    (bundle_copy / "model.fp16.onnx").unlink()
    with pytest.raises(ModelError, match=r"model\.fp16\.onnx: file listed in inkwell-model\.json is missing"):
        Bundle.load(bundle_copy)


def test_missing_manifest(tmp_path):
    with pytest.raises(ModelError, match="inkwell-model.json is missing"):
        Bundle.load(tmp_path)
    with pytest.raises(ModelError, match="no such model folder"):
        Bundle.load(tmp_path / "nope")


def test_manifest_not_json(bundle_copy):
    (bundle_copy / MANIFEST).write_text("{not json")
    with pytest.raises(ModelError, match=r"inkwell-model\.json: not valid JSON"):
        Bundle.load(bundle_copy)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(format="something"), "not an Inkwell model manifest"),
        (lambda m: m.update(format_version=3), "format_version 3 is newer"),
        (lambda m: m.update(format_version=1), "format_version 1: exported by an earlier Inkwell"),
        (lambda m: m.pop("name"), "name is missing"),
        (lambda m: m["architecture"].update(n_head=0), "architecture.n_head must be a positive integer"),
        (lambda m: m.update(tokenizer="llama"), "tokenizer 'llama' is not supported"),
        (lambda m: (m.update(variants={}), m.update(files={})), "variants is missing or empty .and there is no hf/"),
        (lambda m: m["variants"].update(int4=m["variants"]["int8"]), "unknown variant 'int4'"),
        (lambda m: m["variants"]["int8"].update(sha256="abc"), "variants.int8.sha256 must be 64"),
        (lambda m: m["variants"]["int8"].update(file="../../etc/passwd"), "must be a path inside the bundle"),
        (lambda m: m["files"].update({"/etc/passwd": m["files"]["hf/config.json"]}), "must be a path inside"),
        (lambda m: m["variants"]["fp16"].update(kv_dtype="bfloat16"), "kv_dtype must be"),
        (lambda m: m["variants"]["int8"].update(kv_dtype=[8]), "kv_dtype must be"),  # once: TypeError, unhashable
        (lambda m: m["variants"]["int8"].update(kv_dtype={"int8": 1}), "kv_dtype must be"),
        # issue 22.8: the tokenizer's ids reach 50256; a smaller table made ONNX Runtime fail
        # ("Gather out of bounds") at the first suggestion
        (lambda m: m["architecture"].update(vocab_size=1000), "vocabulary of 1000 tokens .* tokenizer"),
        (lambda m: m["architecture"].update(vocab_size=10**12), "architecture.vocab_size must be at most"),
        (lambda m: m["architecture"].update(n_layer=10**9), "architecture.n_layer must be at most"),
    ],
)
def test_invalid_manifest(bundle_copy, change, message):
    _edit_manifest(bundle_copy, change)
    with pytest.raises(ModelError, match=message) as info:
        Bundle.load(bundle_copy)
    assert str(bundle_copy / MANIFEST) in str(info.value)


def test_absent_variant(tiny_bundle, bundle_copy):
    _edit_manifest(bundle_copy, lambda m: m["variants"].pop("fp16"))
    b = Bundle.load(bundle_copy)
    with pytest.raises(ModelError, match="has no 'fp16' variant"):
        b.variant_path("fp16")
    assert b.preferred_variant("cuda") == "fp32"


def test_writer_leaves_nothing_behind_on_error(tmp_path):
    dest = tmp_path / "out"
    with pytest.raises(RuntimeError), BundleWriter(dest) as w:
        w.path("model.int8.onnx").write_bytes(b"x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_to_replace_a_folder_that_is_not_a_bundle(tmp_path):
    dest = tmp_path / "documents"
    dest.mkdir()
    (dest / "novel.txt").write_text("precious")
    with pytest.raises(ModelError, match="already exists"):
        BundleWriter(dest)
    with pytest.raises(ModelError, match="is not an Inkwell model; not replacing it"):
        BundleWriter(dest, force=True)
    assert (dest / "novel.txt").read_text() == "precious"


def test_bundle_module_does_not_import_torch():
    code = "import sys, core.bundle; assert 'torch' not in sys.modules and 'onnx' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_hf_only_bundle_whose_checkpoint_disagrees_with_its_manifest_is_refused(bundle_copy, tmp_path):
    """Issue 22.8: the graph is built from hf/config.json; a manifest saying other numbers than
    the checkpoint is refused when the graph is built, not when ONNX Runtime runs it."""
    from app.engine import built_graphs

    _edit_manifest(bundle_copy, lambda m: m.update(variants={}))
    config = json.loads((bundle_copy / "hf" / "config.json").read_text())
    _edit_manifest(bundle_copy, lambda m: m["architecture"].update(n_positions=config["n_positions"] // 2,
                                                                   ))
    _edit_manifest(bundle_copy, lambda m: m.update(context_length=config["n_positions"] // 2))
    with pytest.raises(ModelError, match="n_positions"):
        built_graphs.graph(Bundle.load(bundle_copy), "int8")
