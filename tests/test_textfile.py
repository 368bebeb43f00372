"""The one encoding detector behind the editor, training and the fine-tune wizard."""

from __future__ import annotations

import subprocess
import sys

import pytest

from model.textfile import TextFileError, decode_bytes, read_file


@pytest.mark.parametrize("encoding, expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"), ("utf-32", "utf-32"),
    ("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be"), ("cp1252", "cp1252"),
])
def test_encodings_are_recognised(encoding, expected):
    text = "Émile said: “café”, naïve — £5.\n" * 20
    decoded = decode_bytes(text.encode(encoding), "t.txt")
    assert decoded.text == text and decoded.encoding == expected


@pytest.mark.parametrize("data, kind", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (bytes(range(1, 32)) * 50 + b"\xff", "binary"),
    (b"abc \x81\x8d\x8f\x90\x9d", "encoding"),
    (b"\xef\xbb\xbfok \xff\xfe", "encoding"),  # a UTF-8 mark, then bytes that are not UTF-8
])
def test_refusals_say_what_kind_of_problem(data, kind):
    with pytest.raises(TextFileError) as info:
        decode_bytes(data, "some/file.txt")
    assert info.value.kind == kind and "some/file.txt" in str(info.value)


def test_empty_is_text_for_the_editor_but_not_for_training(tmp_path):
    assert decode_bytes(b"", "x").text == ""
    with pytest.raises(TextFileError, match="empty") as info:
        decode_bytes(b" \n\t", "x", allow_empty=False)
    assert info.value.kind == "empty"


def test_read_file_names_missing_files_and_folders(tmp_path):
    with pytest.raises(TextFileError, match="cannot be opened"):
        read_file(tmp_path / "nope.txt")
    with pytest.raises(TextFileError, match="folder"):
        read_file(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"x" * 2048)
    with pytest.raises(TextFileError, match="limit"):
        read_file(tmp_path / "a.txt", max_bytes=1024)


def test_editor_and_training_agree(tmp_path):
    from app.documents import read_text
    from model.train_data import read_text_file

    path = tmp_path / "u16.txt"
    path.write_bytes("Grüße aus Köln\n".encode("utf-16-le") * 10)  # no byte-order mark
    assert read_text(path).text == read_text_file(path).text == "Grüße aus Köln\n" * 10


def test_importable_without_torch_qt_or_numpy():
    code = "import sys, model.textfile; print(sorted(m for m in ('torch', 'PySide6', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
