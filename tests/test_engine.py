"""The engine on a real exported bundle (the tiny random GPT-2): sessions, cache, decoding."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from app.engine import Engine, GenerationParams, ModelError, providers
from app.engine.engine import PREFILL_CHUNK
from app.engine.session import Decoder
from core.bundle import Bundle
from core.tokenizer import EOT_TOKEN, decode, encode, token_bytes

TEXT = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife. However little known the feelings or views of such a man may be"
)
GREEDY = dict(temperature=0.0, repetition_penalty=1.0, heal=False, document_cache=False)  # the model's own choice


@pytest.fixture(scope="module")
def engine(tiny_bundle):
    return Engine.load(tiny_bundle, provider="cpu")


@pytest.fixture(scope="module")
def fp32(tiny_bundle):
    return Engine.load(tiny_bundle, provider="cpu", variant="fp32")


def test_load_picks_int8_on_cpu(engine):
    assert engine.status.provider == "cpu"
    assert engine.status.variant == "int8"
    assert engine.status.model_name == "tiny-test"
    assert engine.status.message == ""
    assert engine.context_length == 256


def full_logits(decoder, tokens):
    return decoder.run(np.array([tokens]), np.arange(len(tokens))[None], decoder.new_cache())


def prompt_logits(engine):
    """The logits after the last request's prompt, as the engine computed them (with its cache)."""
    return engine._logits_after[max(engine._logits_after)]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_prefix_reuse_gives_the_logits_of_a_full_recompute(tiny_bundle, variant):
    engine = Engine.load(tiny_bundle, provider="cpu", variant=variant)
    engine.generate(TEXT, GenerationParams(max_new_tokens=8, **GREEDY))
    longer = TEXT + " on his first entering a neighbourhood"
    result = engine.generate(longer, GenerationParams(max_new_tokens=4, **GREEDY))
    prompt = encode(longer)
    assert result.prefill_tokens == len(prompt) - len(encode(TEXT))  # only the new tokens ran
    reused = prompt_logits(engine)
    recomputed = full_logits(engine.decoder, prompt)
    # bit for bit: int8 quantizes activations per row (MatMulNBits blocks), so the rows that run
    # together in one pass do not matter
    np.testing.assert_array_equal(reused, recomputed)
    cold = Engine.load(tiny_bundle, provider="cpu", variant=variant)
    assert cold.generate(longer, GenerationParams(max_new_tokens=4, **GREEDY)).alternatives[0].token_ids == \
        result.alternatives[0].token_ids


def test_rewinding_to_a_shorter_prefix(fp32):
    fp32.generate(TEXT + "when he first came", GenerationParams(max_new_tokens=6, **GREEDY))
    edited = TEXT + "and so"  # the user deleted back and typed something else
    result = fp32.generate(edited, GenerationParams(max_new_tokens=4, **GREEDY))
    assert result.prefill_tokens <= 3
    np.testing.assert_array_equal(prompt_logits(fp32), full_logits(fp32.decoder, encode(edited)))


def test_typing_one_character_costs_a_few_tokens_of_prefill(engine):
    text = (TEXT * 4)[:700]
    engine.generate(text, GenerationParams(max_new_tokens=8))
    for char in "hello":
        text += char
        result = engine.generate(text, GenerationParams(max_new_tokens=8))
        assert result.prefill_tokens <= 2


def test_typing_inside_a_word_runs_one_token(fp32):
    """Healing asks for the text without its last word, then (the word being finished) with it:
    the next keystroke changes only that word, so only its token runs, and the logits are exact."""
    text = TEXT + " and the"
    fp32.generate(text, GenerationParams(max_new_tokens=4, **GREEDY))
    for char in "ory":
        text += char
        result = fp32.generate(text, GenerationParams(max_new_tokens=4, **GREEDY))
        assert result.prefill_tokens == 1, text
        np.testing.assert_allclose(prompt_logits(fp32), full_logits(fp32.decoder, encode(text)), atol=1e-5)


@pytest.mark.slow
def test_typing_when_the_editor_passes_only_a_tail_of_the_document(engine):
    """Editors may pass the last few thousand characters, not the whole document: the window
    start must not move with the caller's cut, or every keystroke would re-run the context."""
    document = (TEXT + " ") * 40
    prefills = []
    params = GenerationParams(max_new_tokens=64)  # a budget of 192 tokens: a slide every ~96
    for end in range(4000, 4600, 2):  # two characters a keystroke, to reach a slide quickly
        stop = threading.Event()  # only the prefill matters here: stop after the first token
        result = engine.generate(document[max(0, end - 1500) : end], params,
                                 on_token=lambda i, p, q, stop=stop: stop.set(), cancel=stop)
        prefills.append(result.prefill_tokens)
    slides = [p for p in prefills[1:] if p > 8]
    assert 1 <= len(slides) <= 3  # the window slid by a large step ...
    assert sorted(prefills[1:])[len(prefills) // 2] <= 2  # ... and typing cost a token or two


def test_same_seed_same_text_other_seed_differs(tiny_bundle):
    params = GenerationParams(max_new_tokens=12, temperature=1.0, seed=42)
    first = Engine.load(tiny_bundle, provider="cpu").generate(TEXT, params)
    again = Engine.load(tiny_bundle, provider="cpu").generate(TEXT, params)
    assert first.alternatives[0].token_ids == again.alternatives[0].token_ids
    other = Engine.load(tiny_bundle, provider="cpu").generate(TEXT, GenerationParams(
        max_new_tokens=12, temperature=1.0, seed=43))
    assert other.alternatives[0].token_ids != first.alternatives[0].token_ids


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_seeded_output_does_not_depend_on_the_cache(tiny_bundle, variant):
    """The reused cache is exact, so a warm engine samples what a cold one does."""
    params = GenerationParams(max_new_tokens=12, temperature=1.0, seed=42)
    warm = Engine.load(tiny_bundle, provider="cpu", variant=variant)
    warm.generate(TEXT[:60], GenerationParams(max_new_tokens=5))
    warm_result = warm.generate(TEXT, params)
    cold = Engine.load(tiny_bundle, provider="cpu", variant=variant).generate(TEXT, params)
    assert warm_result.prefill_tokens < cold.prefill_tokens
    assert warm_result.alternatives[0].token_ids == cold.alternatives[0].token_ids


def greedy_continuation(decoder, prompt, first, count):
    """Plain one-sequence greedy decoding after ``prompt + [first]``."""
    tokens = list(prompt) + [first]
    for _ in range(count - 1):
        tokens.append(int(np.argmax(full_logits(decoder, tokens)[0])))
    return tokens[len(prompt):]


def test_alternatives_differ_and_each_is_a_valid_continuation(fp32):
    result = fp32.generate(TEXT, GenerationParams(max_new_tokens=6, num_alternatives=3, **GREEDY))
    assert len(result.alternatives) == 3
    assert len({alt.text for alt in result.alternatives}) == 3
    prompt = encode(TEXT)
    best_first = np.argsort(-full_logits(fp32.decoder, prompt)[0])[:3].tolist()
    for alt, first in zip(result.alternatives, best_first):
        # decoded as one batch from one prefill, yet the same as decoding each on its own
        assert alt.token_ids == greedy_continuation(fp32.decoder, prompt, first, 6)
        assert alt.text == decode(alt.token_ids)
        assert all(0 < p <= 1 for p in alt.probs)
    assert result.text == result.alternatives[0].text


def test_a_suggestion_never_repeats_three_tokens_of_its_own(fp32):
    # The tiny random model loops when greedy; the ban must break every loop, and change nothing
    # before the point where a loop would begin.
    params = dict(max_new_tokens=40, num_alternatives=2, **GREEDY)
    free = fp32.generate(TEXT, GenerationParams(**params))
    banned = fp32.generate(TEXT, GenerationParams(no_repeat_own_ngram_size=3, **params))
    prompt_tail = encode(TEXT)[-2:]

    def repeats(ids):
        grams = [tuple(ids[i:i + 3]) for i in range(len(ids) - 2)]
        return len(grams) - len(set(grams))

    assert any(repeats(prompt_tail + alt.token_ids) for alt in free.alternatives)  # it does loop
    for loose, strict in zip(free.alternatives, banned.alternatives):
        loose_ids, strict_ids = prompt_tail + loose.token_ids, prompt_tail + strict.token_ids
        assert repeats(strict_ids) == 0
        looped = [i for i in range(3, len(loose_ids) + 1) if repeats(loose_ids[:i])]
        same = looped[0] - 1 if looped else len(loose_ids)  # up to the token that repeats
        assert strict_ids[:same] == loose_ids[:same]


def test_the_own_ngram_ban_leaves_the_prompts_repeats_free(fp32):
    loop = fp32.generate(TEXT, GenerationParams(max_new_tokens=40, **GREEDY)).alternatives[0].token_ids
    prompt = TEXT + decode(loop)  # ends inside the tiny model's greedy loop
    free = fp32.generate(prompt, GenerationParams(max_new_tokens=1, **GREEDY)).alternatives[0].token_ids
    ids = encode(prompt)
    assert tuple(ids[-2:] + free) in {tuple(ids[i:i + 3]) for i in range(len(ids) - 2)}  # a repeat of the prompt's
    banned = fp32.generate(prompt, GenerationParams(max_new_tokens=1, no_repeat_own_ngram_size=3, **GREEDY))
    assert banned.alternatives[0].token_ids == free


def test_sampled_alternatives_differ(engine):
    result = engine.generate(TEXT, GenerationParams(max_new_tokens=8, num_alternatives=4, seed=5))
    assert len({alt.text for alt in result.alternatives}) == len(result.alternatives) == 4


def test_token_healing_completes_the_partial_word(fp32):
    text = TEXT + "and then he be"
    result = fp32.generate(text, GenerationParams(max_new_tokens=5, temperature=0.0, document_cache=False))
    first = token_bytes(result.alternatives[0].token_ids[0])
    assert first.startswith(b" be")  # the backed-off token's text comes first ...
    assert result.text == decode(result.alternatives[0].token_ids)[3:]  # ... and is not inserted again
    prompt = encode(text)[:-1]
    scores = full_logits(fp32.decoder, prompt)[0]
    best = max((t for t in np.argsort(-scores)[:2000] if token_bytes(int(t)).startswith(b" be")), key=lambda t: scores[t])
    assert result.alternatives[0].token_ids[0] == best  # the most likely token that begins with " be"
    plain = fp32.generate(text, GenerationParams(max_new_tokens=5, temperature=0.0, heal=False, document_cache=False))
    assert plain.alternatives[0].token_ids[0] == int(np.argmax(full_logits(fp32.decoder, encode(text))[0]))


def test_word_and_line_lengths(engine):
    for seed in range(5):
        word = engine.generate(TEXT, GenerationParams(max_new_tokens=20, length="word", seed=seed)).text
        assert not any(c.isspace() for c in word.lstrip())
        line = engine.generate(TEXT, GenerationParams(max_new_tokens=20, length="line", seed=seed)).text
        assert "\n" not in line.lstrip("\n")


class Forced:
    """Wraps a decoder so that it favours a given token sequence (to drive exact scenarios)."""

    def __init__(self, decoder, tokens):
        self.decoder, self.tokens, self.calls = decoder, list(tokens), 0

    def __getattr__(self, name):
        return getattr(self.decoder, name)

    def run(self, ids, positions, cache):
        logits = self.decoder.run(ids, positions, cache).copy()
        token = self.tokens[min(self.calls, len(self.tokens) - 1)]
        logits[:, token] += 1000.0
        self.calls += 1
        return logits


def forced_engine(tiny_bundle, tokens):
    engine = Engine.load(tiny_bundle, provider="cpu")
    engine.decoder = Forced(engine.decoder, tokens)
    return engine


def test_accepting_a_suggestion_reuses_its_cache(tiny_bundle):
    suggestion = encode(" on his first entering a neighbourhood")
    engine = forced_engine(tiny_bundle, suggestion)
    first = engine.generate(TEXT, GenerationParams(max_new_tokens=len(suggestion), heal=False))
    assert first.text == " on his first entering a neighbourhood"
    accepted = engine.generate(TEXT + first.text, GenerationParams(max_new_tokens=4, heal=False))
    assert accepted.prefill_tokens == 1  # the suggestion's last token: it was sampled, never run


def test_utf8_streaming_never_shows_half_a_character(tiny_bundle):
    text = " 🦊 naïve 中文 🎉"
    tokens = encode(text)
    assert any(len(token_bytes(t)) == 1 and token_bytes(t)[0] >= 0x80 for t in tokens)
    engine = forced_engine(tiny_bundle, tokens)
    pieces = []
    result = engine.generate("Hello", GenerationParams(max_new_tokens=len(tokens), heal=False),
                             on_token=lambda i, p, q: pieces.append(p))
    assert result.text == text == "".join(pieces)
    assert all("\ufffd" not in p for p in pieces)


def test_end_of_text_stops_or_is_never_generated(tiny_bundle):
    engine = forced_engine(tiny_bundle, encode(" one two") + [EOT_TOKEN] + encode(" three"))
    result = engine.generate("Count:", GenerationParams(max_new_tokens=10, heal=False))
    assert result.text == " one two"
    engine = forced_engine(tiny_bundle, [EOT_TOKEN])
    result = engine.generate("Count:", GenerationParams(max_new_tokens=6, heal=False, stop_at_eot=False))
    assert len(result.alternatives[0].token_ids) == 6 and EOT_TOKEN not in result.alternatives[0].token_ids


def test_stop_strings_and_sentence_end(tiny_bundle):
    engine = forced_engine(tiny_bundle, encode(" Mr. Darcy bowed. Then THE END came"))
    params = GenerationParams(max_new_tokens=20, heal=False, stop_strings=("THE END",))
    assert engine.generate("So", params).text == " Mr. Darcy bowed. Then "
    engine = forced_engine(tiny_bundle, encode(" Mr. Darcy bowed. Then THE END came"))
    assert engine.generate("So", GenerationParams(max_new_tokens=20, heal=False, length="sentence")).text == \
        " Mr. Darcy bowed."


def test_cancel_takes_effect_within_one_decode_step(fp32, tiny_bundle):
    engine = fp32  # exact cache reuse, so the follow-up can be compared with a fresh engine
    cancel = threading.Event()
    seen = []

    def on_token(index, piece, probability):
        seen.append(piece)
        if len(seen) == 3:
            cancel.set()

    params = GenerationParams(max_new_tokens=100, temperature=1.0, seed=1, heal=False, stop_at_eot=False)
    result = engine.generate(TEXT, params, on_token=on_token, cancel=cancel)
    assert result.cancelled
    assert len(result.alternatives[0].token_ids) == 3  # no step ran after the cancel
    # the cache stays consistent: the next request equals one on a fresh engine
    follow = GenerationParams(max_new_tokens=6, **GREEDY)
    again = engine.generate(TEXT + " and", follow)
    fresh = Engine.load(tiny_bundle, provider="cpu", variant="fp32").generate(TEXT + " and", follow)
    assert again.alternatives[0].token_ids == fresh.alternatives[0].token_ids


def test_cancel_during_prefill_keeps_the_work_done(tiny_bundle):
    engine = Engine.load(tiny_bundle, provider="cpu")
    cancel = threading.Event()
    run = engine.decoder.run

    def run_then_cancel(*args):  # the user types while the prompt is being read
        cancel.set()
        return run(*args)

    engine.decoder.run = run_then_cancel
    text = (TEXT + " ") * 3
    result = engine.generate(text, GenerationParams(max_new_tokens=4, heal=False), cancel=cancel)
    assert result.cancelled and result.prefill_tokens == PREFILL_CHUNK and result.alternatives == []
    engine.decoder.run = run
    again = engine.generate(text, GenerationParams(max_new_tokens=4, heal=False))
    assert again.prefill_tokens == len(encode(text)) - PREFILL_CHUNK


def test_cancelled_before_start_returns_at_once(engine):
    cancel = threading.Event()
    cancel.set()
    result = engine.generate(TEXT + " quite new text here", GenerationParams(), cancel=cancel)
    assert result.cancelled and result.text == ""


def test_newer_request_preempts_an_older_one_on_a_worker_thread(engine):
    """The GUI's pattern: one worker thread; a newer request cancels the running one."""
    requests = [(TEXT, threading.Event()), (TEXT + " in the", threading.Event())]
    results = []
    started = threading.Event()

    def worker():
        for text, cancel in requests:
            params = GenerationParams(max_new_tokens=200 if not results else 8, stop_at_eot=False, seed=3)
            results.append(engine.generate(text, params, on_token=lambda i, p, q: started.set(), cancel=cancel))

    thread = threading.Thread(target=worker)
    thread.start()
    assert started.wait(10)
    requests[0][1].set()  # the newer request supersedes the first
    thread.join(10)
    assert not thread.is_alive()
    assert results[0].cancelled and len(results[0].alternatives[0].token_ids) < 200
    assert not results[1].cancelled and len(results[1].alternatives[0].token_ids) == 8


def test_long_document(engine):
    text = TEXT * (2_000_000 // len(TEXT))
    result = engine.generate(text, GenerationParams(max_new_tokens=8))
    assert len(result.alternatives[0].token_ids) == 8 and result.prefill_tokens <= engine.context_length
    again = engine.generate(text + "x", GenerationParams(max_new_tokens=8))
    assert again.prefill_tokens <= 2


def test_bad_parameters(engine):
    with pytest.raises(ValueError, match="temperature"):
        engine.generate("Hi", GenerationParams(temperature=-1))
    with pytest.raises(ValueError, match="min_confidence"):
        engine.generate("Hi", GenerationParams(min_confidence=1.5))


def test_a_passage_longer_than_the_context_slides_the_window(fp32):
    """Story mode is not capped at the context: when it is full, the last half of it runs again
    from position 0 and the passage goes on, each token predicted from the window it sees."""
    prompt = encode(TEXT)
    params = GenerationParams(max_new_tokens=300, stop_at_eot=False, **GREEDY)
    result = fp32.generate(TEXT, params)
    generated = result.alternatives[0].token_ids
    assert len(generated) == 300 > fp32.context_length
    everything = prompt + generated
    full, half = fp32.context_length, fp32.context_length // 2
    # The token at position ``full`` is the last one the whole context predicts ...
    assert everything[full] == int(np.argmax(full_logits(fp32.decoder, everything[:full])[0]))
    # ... then the window restarts with the last half-context, ending with that token.
    start = full - half + 1
    for at in (full + 1, full + 2, full + 40):
        assert everything[at] == int(np.argmax(full_logits(fp32.decoder, everything[start:at])[0]))


def test_bad_engine_options(tiny_bundle):
    with pytest.raises(ValueError, match="provider"):
        Engine.load(tiny_bundle, provider="gpu")
    with pytest.raises(ValueError, match="threads"):
        Engine.load(tiny_bundle, threads=-2)
    with pytest.raises(ModelError, match="int4"):
        Engine.load(tiny_bundle, variant="int4")


def test_thread_count(tiny_bundle):
    engine = Engine.load(tiny_bundle, provider="cpu", threads=1)
    assert engine.decoder.session.get_session_options().intra_op_num_threads == 1
    assert len(engine.generate(TEXT, GenerationParams(max_new_tokens=3)).alternatives[0].token_ids) == 3


def test_missing_cuda_falls_back_to_cpu_and_says_why(tiny_bundle, monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    engine = Engine.load(tiny_bundle, provider="cuda")
    assert engine.status.provider == "cpu" and engine.status.variant == "int8"
    assert "CUDA" in engine.status.message and "onnxruntime-gpu" in engine.status.message
    assert Engine.load(tiny_bundle, provider="auto").status.message == ""  # nothing was asked for
    assert engine.generate("Hello", GenerationParams(max_new_tokens=3)).alternatives


def test_cuda_that_fails_to_start_falls_back_to_cpu(tiny_bundle, monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    engine = Engine.load(tiny_bundle, provider="auto")
    assert engine.status.provider == "cpu" and engine.status.variant == "int8"
    assert engine.status.message.startswith("CUDA could not be used")


class FakeCuda(Decoder):
    """Pretends that the CUDA provider started (it runs on the CPU); ``fail`` makes it fail."""

    attempts: list = []
    fail: str | None = None

    def __init__(self, path, providers, threads, **shape):
        FakeCuda.attempts.append((path.name, providers[0]))
        super().__init__(path, ["CPUExecutionProvider"], threads, **shape)
        if providers[0] == "CUDAExecutionProvider":
            self.provider = "CUDAExecutionProvider"

    def run(self, *args):
        if self.provider == "CUDAExecutionProvider" and FakeCuda.fail:
            raise RuntimeError(FakeCuda.fail)
        return super().run(*args)


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(providers, "Decoder", FakeCuda)
    FakeCuda.attempts, FakeCuda.fail = [], None
    return FakeCuda


def test_cuda_runs_the_fp16_variant(tiny_bundle, fake_cuda):
    engine = Engine.load(tiny_bundle, provider="auto")
    assert (engine.status.provider, engine.status.variant, engine.status.message) == ("cuda", "fp16", "")
    assert fake_cuda.attempts == [("model.fp16.onnx", "CUDAExecutionProvider")]
    assert engine.decoder.kv_dtype == np.float16  # the fp16 cache goes through prefill, reuse, alternatives
    engine.generate(TEXT, GenerationParams(max_new_tokens=4))
    result = engine.generate(TEXT + " in", GenerationParams(max_new_tokens=4, num_alternatives=2))
    assert result.prefill_tokens <= 2 and len(result.alternatives) == 2


def test_cuda_failing_its_first_run_falls_back_to_cpu(tiny_bundle, fake_cuda):
    fake_cuda.fail = "CUDA failure 2: out of memory"
    engine = Engine.load(tiny_bundle, provider="cuda")
    assert (engine.status.provider, engine.status.variant) == ("cpu", "int8")
    assert engine.status.message == "CUDA could not be used (CUDA failure 2: out of memory); running on the CPU"
    assert [name for name, _ in fake_cuda.attempts] == ["model.fp16.onnx", "model.int8.onnx"]


def copy_bundle(tiny_bundle, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, folder)
    return folder


def test_bundle_failing_its_checksum_is_refused(tiny_bundle, tmp_path):
    folder = copy_bundle(tiny_bundle, tmp_path)
    data = bytearray((folder / "model.int8.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.int8.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"model\.int8\.onnx: checksum mismatch"):
        Engine.load(folder, provider="cpu")


def test_onnx_with_wrong_inputs_is_refused(tiny_bundle, tmp_path):
    from core.bundle import sha256_file

    folder = copy_bundle(tiny_bundle, tmp_path)
    path = folder / "model.int8.onnx"
    graph = onnx.load(str(path))
    for node in graph.graph.node:
        node.input[:] = ["positions" if name == "position_ids" else name for name in node.input]
    for value in graph.graph.input:
        if value.name == "position_ids":
            value.name = "positions"
    onnx.save(graph, str(path))
    manifest_path = folder / "inkwell-model.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["variants"]["int8"].update(sha256=sha256_file(path), bytes=path.stat().st_size)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"model\.int8\.onnx: .*decoder contract.*position_ids"):
        Engine.load(folder, provider="cpu")


def test_manifest_cache_type_must_match_the_graph(tiny_bundle, tmp_path):
    folder = copy_bundle(tiny_bundle, tmp_path)
    manifest_path = folder / "inkwell-model.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["variants"]["int8"]["kv_dtype"] = "float16"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"model\.int8\.onnx: the graph's cache is int8, the manifest says float16"):
        Engine.load(folder, provider="cpu")


def test_missing_bundle(tmp_path):
    with pytest.raises(ModelError):
        Engine.load(tmp_path / "nothing-here")


def test_cache_copies_for_alternatives_agree_on_host_and_device_paths(fp32):
    """Alternatives start from copies of the prompt's cache rows: the device path (whole buffers
    through the host) and the CPU path (only the filled prefix, in place) give the same rows."""
    from app.engine.session import KVCache

    decoder = fp32.decoder
    prompt = encode(TEXT)
    cache = decoder.new_cache()
    decoder.run(np.array([prompt]), np.arange(len(prompt))[None], cache)
    on_host = decoder.repeat(cache, len(prompt), 3)
    as_device = decoder.repeat(KVCache(cache.values, None), len(prompt), 3, KVCache(decoder.new_cache(3).values, None))
    assert on_host.rows == as_device.rows == 3
    n = len(prompt)
    for src, a, b in zip(cache.values, on_host.values, as_device.values):
        want = np.repeat(src.numpy()[:1, :, :n], 3, axis=0)
        np.testing.assert_array_equal(a.numpy()[:, :, :n], want)
        np.testing.assert_array_equal(b.numpy()[:, :, :n], want)
    again = decoder.repeat(cache, len(prompt), 3, on_host)
    assert again is on_host  # the next request with alternatives reuses the allocation


def test_decoding_writes_into_one_cache_in_place(fp32):
    fp32.generate(TEXT, GenerationParams(max_new_tokens=6, **GREEDY))
    cache = fp32._cache
    pointers = [v.data_ptr() for v in cache.values]
    fp32.generate(TEXT + " and", GenerationParams(max_new_tokens=6, **GREEDY))
    assert fp32._cache is cache and [v.data_ptr() for v in cache.values] == pointers
    assert cache.values[0].shape()[2] == fp32.context_length


@pytest.fixture(scope="module")
def int8_only_bundle(tiny_hf_dir, tmp_path_factory):
    """Shaped like the bundled model: the int8 graph and an fp16 Hugging Face checkpoint only."""
    from model.export import export_bundle

    folder = tmp_path_factory.mktemp("int8-only") / "shipped"
    export_bundle(tiny_hf_dir, folder, variants=["int8"], hf_dtype="float16", name="shipped")
    return folder


def test_cuda_builds_the_fp16_graph_of_a_bundle_without_one(int8_only_bundle, tiny_bundle, fake_cuda):
    from app.engine import built_graphs
    from core import paths

    engine = Engine.load(int8_only_bundle, provider="auto")
    assert (engine.status.provider, engine.status.variant, engine.status.message) == ("cuda", "fp16", "")
    built = fake_cuda.attempts[-1][0]
    assert built == "model.fp16.onnx" and engine.decoder.kv_dtype == np.float16
    graph = next((paths.cache_dir() / "graphs").glob("*/fp16/model.fp16.onnx"))
    # the same graph the exporter writes from the same (fp16) weights: the same logits
    reference = Engine.load(tiny_bundle, provider="cpu", variant="fp16")
    tokens = encode(TEXT)
    assert np.allclose(full_logits(engine.decoder, tokens), full_logits(reference.decoder, tokens), atol=0.05)
    result = engine.generate(TEXT, GenerationParams(max_new_tokens=4, num_alternatives=2))
    assert result.alternatives

    # built once: the next start uses it as it is; a damaged one is built again
    stamp = graph.stat().st_mtime_ns
    Engine.load(int8_only_bundle, provider="auto")
    assert graph.stat().st_mtime_ns == stamp
    graph.write_bytes(graph.read_bytes()[:1000])
    again = Engine.load(int8_only_bundle, provider="auto")
    assert again.status.variant == "fp16" and graph.stat().st_size > 1000
    assert built_graphs.can_build(Bundle.load(int8_only_bundle))


def test_a_bundle_without_a_gpu_graph_runs_int8_on_the_cpu(int8_only_bundle):
    engine = Engine.load(int8_only_bundle, provider="cpu")
    assert (engine.status.provider, engine.status.variant) == ("cpu", "int8")


@pytest.fixture(scope="module")
def weights_only_bundle(tiny_hf_dir, tmp_path_factory):
    """Shaped like the bundled model: the fp16 Hugging Face checkpoint only, no graph."""
    from model.export import export_bundle

    folder = tmp_path_factory.mktemp("weights-only") / "shipped"
    export_bundle(tiny_hf_dir, folder, variants=[], hf_dtype="float16", name="shipped")
    return folder


@pytest.mark.slow
def test_a_bundle_of_weights_only_builds_its_int8_graph_once(weights_only_bundle, tmp_path):
    from core import paths
    from model.export import export_bundle

    bundle = Bundle.load(weights_only_bundle)
    assert bundle.variants == [] and not list(weights_only_bundle.glob("*.onnx"))
    engine = Engine.load(weights_only_bundle, provider="cpu")
    assert (engine.status.provider, engine.status.variant) == ("cpu", "int8")
    graph = next((paths.cache_dir() / "graphs").glob("*/int8/model.int8.onnx"))
    # The same quantization as the exporter's int8 graph of the same (fp16) weights: the same logits.
    exported = export_bundle(weights_only_bundle / "hf", tmp_path / "exported", variants=["int8"], hf_dtype="none")
    shipped = Engine.load(exported.folder, provider="cpu")
    tokens = encode(TEXT)
    np.testing.assert_allclose(full_logits(engine.decoder, tokens), full_logits(shipped.decoder, tokens), atol=1e-5)
    stamp = graph.stat().st_mtime_ns
    Engine.load(weights_only_bundle, provider="cpu")
    assert graph.stat().st_mtime_ns == stamp
    # A damaged graph in the cache is built again, not run.
    graph.write_bytes(b"not a graph")
    again = Engine.load(weights_only_bundle, provider="cpu")
    assert again.status.variant == "int8" and graph.stat().st_size > 1000
    # Asked for a graph it does not ship, it builds that one too.
    assert Engine.load(weights_only_bundle, provider="cpu", variant="fp32").status.variant == "fp32"


def test_weights_only_needs_its_weights(tiny_hf_dir, tmp_path):
    from model.export import export_bundle

    with pytest.raises(ModelError, match="a bundle without graphs needs its Hugging Face checkpoint"):
        export_bundle(tiny_hf_dir, tmp_path / "b", variants=[], hf_dtype="none")
    assert not (tmp_path / "b").exists()


def test_no_graph_is_built_from_a_damaged_checkpoint(weights_only_bundle, tmp_path):
    from core import paths
    damaged = tmp_path / "damaged"
    shutil.copytree(weights_only_bundle, damaged)
    weights = damaged / "hf" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # same size: only the checksum can tell
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="model.safetensors: checksum mismatch"):
        Engine.load(damaged, provider="cpu")
    assert not list((paths.cache_dir() / "graphs").glob("*/int8/*.onnx"))


CURLY_DOC = "\u201cWell,\u201d he said, \u201cit\u2019s late.\u201d She nodded.\n\nHe turned and said, "
HYPHEN_DOC = 'It was late--very late--and he said "no" to it. She went'
STYLED = ' "Hello," she said\u2014"don\'t go." Then\u2014'  # the model's canonical style


@pytest.mark.parametrize("doc", [CURLY_DOC, HYPHEN_DOC])
def test_suggestions_come_in_the_documents_quote_and_dash_style(tiny_bundle, doc):
    """The model sees the document in its canonical style and writes in it; the suggestion, as
    streamed and as returned, is that text in the document's style."""
    from core.typography import apply_style, detect_style, for_model

    tokens = encode(STYLED)
    engine = forced_engine(tiny_bundle, tokens)
    pieces = []
    result = engine.generate(doc, GenerationParams(max_new_tokens=len(tokens), heal=False, stop_at_eot=False),
                             on_token=lambda i, p, q: pieces.append(p))
    raw = decode(result.alternatives[0].token_ids)
    assert raw == STYLED  # what the model wrote
    assert result.text == "".join(pieces) == apply_style(raw, detect_style(doc), doc) != raw
    assert decode(engine._tokens).startswith(for_model(doc))  # the context it saw: canonical
    if doc == CURLY_DOC:
        assert result.text == " \u201cHello,\u201d she said\u2014\u201cdon\u2019t go.\u201d Then\u2014"
        assert "\u201c" not in decode(engine._tokens) and "\u2019" not in decode(engine._tokens)
    else:
        assert result.text == ' "Hello," she said--"don\'t go." Then--'
        assert "--" not in decode(engine._tokens)[: len(doc)]


def test_every_alternative_is_in_the_documents_style(tiny_bundle):
    engine = forced_engine(tiny_bundle, encode(STYLED))
    rows: dict[int, str] = {}
    result = engine.generate(CURLY_DOC, GenerationParams(max_new_tokens=8, num_alternatives=3, heal=False),
                             on_token=lambda i, p, q: rows.__setitem__(i, rows.get(i, "") + p))
    assert len(result.alternatives) > 1
    for alt in result.alternatives:
        assert alt.text == rows[alt.row]
        assert '"' not in alt.text and "'" not in alt.text
    assert result.text.startswith(" \u201cHello,\u201d")


def test_a_dash_typed_at_the_cursor_lines_up_with_the_suggestion(tiny_bundle):
    """ "word --" reaches the model as "word—" (as it was trained); the suggestion that follows
    it on screen gets the space the writer's spaced dash is owed."""
    engine = forced_engine(tiny_bundle, encode("and then"))
    doc = "It was late -- very late -- and he left. She waited --"
    result = engine.generate(doc, GenerationParams(max_new_tokens=2, heal=False))
    assert result.text == " and then"
    assert decode(engine._tokens).startswith("It was late\u2014very late\u2014and he left. She waited\u2014")


def test_a_healed_suggestion_opens_its_quote_after_the_text_on_screen(tiny_bundle):
    """Healing backs off the context's last token (the space after "said,"); the first token
    starts with it, and the quote after it opens: the writer sees “Hello, not "Hello."""
    tokens = encode(' "Hello," she')
    assert decode(tokens[:1]) == ' "' and CURLY_DOC.endswith(", ")
    engine = forced_engine(tiny_bundle, tokens)
    result = engine.generate(CURLY_DOC, GenerationParams(max_new_tokens=len(tokens)))
    assert result.alternatives[0].token_ids == tokens
    assert result.text == "\u201cHello,\u201d she"


def test_a_cache_binds_its_buffers_once_and_each_run_gets_its_own_logits(fp32):
    """The cache's buffers are bound to the session once (app/engine/session.KVCache.binding); the
    logits a run returns stay as they were after the next run, and stepping through one bound
    cache gives the logits of a whole-prompt run."""
    decoder = fp32.decoder
    tokens = encode(TEXT)[:6]
    cache = decoder.new_cache()
    stepped = [decoder.run(np.array([[t]]), np.array([[i]]), cache) for i, t in enumerate(tokens)]
    kept = [s.copy() for s in stepped]
    names = (decoder.session, decoder.past_names, decoder.present_names, decoder.vocab_size)
    assert cache.binding(*names)[0] is cache.binding(*names)[0]
    for before, after in zip(kept, stepped):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(stepped[0], stepped[-1])
    np.testing.assert_allclose(stepped[-1], full_logits(decoder, tokens), atol=1e-4)
