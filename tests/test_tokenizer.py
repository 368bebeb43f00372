"""GPT-2 BPE through tiktoken: exact round trips, GPT-2's token ids, UTF-8-safe streaming."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from core import tokenizer
from core.errors import ModelError
from core.tokenizer import EOT_TEXT, EOT_TOKEN, StreamDecoder, decode, encode, get_encoding, token_bytes

SAMPLES = [
    "Hello, world!",
    "It is a truth universally acknowledged",
    "emoji: 😀👍🏽 family: 👨‍👩‍👧‍👦 flag: 🇫🇷",
    "CJK: 我能吞下玻璃而不伤身体。日本語のテキスト、한국어 텍스트",
    "combining marks: e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937 Z\u0351\u036b\u0343\u036a",
    "runs of spaces:     four, then\n\n\nthree newlines,\t\ttabs \r\n and a trailing space ",
    "   leading spaces and\u00a0non-breaking\u2009thin spaces",
    "math ∑∫√∞ ≠ ≤ — “quotes” ‘single’ …",
    "Ελληνικά, русский, עברית, العربية",
    "",
    "\n",
    "a" * 500,
    "x\x00y\x7f control chars",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip(text):
    assert decode(encode(text)) == text
    assert b"".join(token_bytes(t) for t in encode(text)) == text.encode("utf-8")


def test_known_gpt2_ids():
    """The ids of GPT-2's own vocabulary (checked against the reference tokenizer's output)."""
    assert encode("Hello world") == [15496, 995]
    assert encode(" the") == [262]
    assert encode("\n\n") == [628]
    assert get_encoding().n_vocab == 50257
    assert token_bytes(EOT_TOKEN) == EOT_TEXT.encode()


def test_endoftext_typed_by_a_user_is_text():
    ids = encode("a <|endoftext|> b")
    assert EOT_TOKEN not in ids and decode(ids) == "a <|endoftext|> b"


def test_agrees_with_transformers_tokenizer():
    transformers = pytest.importorskip("transformers")
    import json

    from core.tokenizer import BPE_DIR

    vocab = json.loads((BPE_DIR / "encoder.json").read_text(encoding="utf-8"))
    lines = (BPE_DIR / "vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
    ref = transformers.GPT2Tokenizer(vocab=vocab, merges=[tuple(line.split()) for line in lines if line])
    assert ref.encode("Hello world") == [15496, 995]  # the reference really loaded
    for text in SAMPLES:
        assert encode(text) == ref.encode(text), text


def _stream(pieces):
    d = StreamDecoder()
    out = [d.push_bytes(p) for p in pieces]
    out.append(d.flush())
    return out


@pytest.mark.parametrize("text", [s for s in SAMPLES if s])
def test_streaming_split_at_every_byte(text):
    """Cut the UTF-8 bytes at every position (and byte by byte): the pieces concatenate to the
    text, and no piece ever contains a replacement character."""
    data = text.encode("utf-8")
    for cut in range(len(data) + 1):
        out = _stream([data[:cut], data[cut:]])
        assert "".join(out) == text
        assert all("\ufffd" not in piece for piece in out)
    out = _stream([data[i:i + 1] for i in range(len(data))])
    assert "".join(out) == text and all("\ufffd" not in piece for piece in out)


@pytest.mark.parametrize("text", SAMPLES[2:5])
def test_streaming_tokens(text):
    """Token by token, as generation produces them: tokens ending mid-character are held back."""
    d = StreamDecoder()
    pieces = [d.push(t) for t in encode(text)] + [d.flush()]
    assert "".join(pieces) == text and all("\ufffd" not in p for p in pieces)


def test_stream_holds_back_an_unfinished_character():
    d = StreamDecoder()
    euro = "€".encode()
    assert d.push_bytes(euro[:2]) == "" and d.pending == euro[:2]
    assert d.push_bytes(euro[2:] + b"!") == "€!" and d.pending == b""


def test_flush_of_a_truncated_stream_marks_it():
    d = StreamDecoder()
    assert d.push_bytes("ok 😀".encode()[:-1]) == "ok "
    assert d.flush() == "\ufffd"


def test_tampered_bpe_file_is_refused(tmp_path):
    shutil.copytree(tokenizer.BPE_DIR, tmp_path / "bpe")
    with open(tmp_path / "bpe" / "vocab.bpe", "a") as f:
        f.write("x y\n")
    with pytest.raises(ModelError, match=r"vocab\.bpe: GPT-2 tokenizer file is corrupt"):
        get_encoding(str(tmp_path / "bpe"))


def test_importable_without_torch_or_network():
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "from core.tokenizer import encode, decode\n"
        "assert decode(encode('offline ok')) == 'offline ok'\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PATH": "", "TIKTOKEN_CACHE_DIR": "/nonexistent"})
