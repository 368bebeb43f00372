"""The one encoding detector behind the editor, training and the fine-tune wizard."""

from __future__ import annotations

import codecs
import subprocess
import sys

import pytest

from core.textfile import TextFileError, decode_bytes, read_file


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
    code = "import sys, core.textfile; print(sorted(m for m in ('torch', 'PySide6', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


CJK = "扊型瑪心麈隠駼褭涟尷" * 30  # the text of the report: no zero byte at all in UTF-16


@pytest.mark.parametrize("text", [
    CJK,
    "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。",
    "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。",
    "모든인간은태어날때부터자유로우며그존엄과권리에있어동등하다",
    "Все счастливые семьи похожи друг на друга.\n",
    "Tokyo 東京 and Москва and Αθήνα, naïve café 🐍.\n",
])
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_mark_is_recognised_in_any_script(text, encoding):
    data = text.encode(encoding)
    decoded = decode_bytes(data, "t.txt")
    assert decoded.text == text and decoded.encoding == encoding
    assert decoded.encode(decoded.text) == data  # written back byte for byte


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be"])
def test_utf32_without_a_mark(encoding):
    text = "Grüße, 東京 🐍\n" * 5
    decoded = decode_bytes(text.encode(encoding), "t.txt")
    assert decoded.text == text and decoded.encoding == encoding


@pytest.mark.parametrize("encoding, sample", [
    ("shift_jis", "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。"),
    ("gbk", "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心。"),
    ("big5", "人人生而自由，在尊嚴和權利上一律平等。"),
    ("euc-kr", "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다."),
    ("euc-kr", "모든인간은태어날때부터자유로우며그존엄과권리에있어동등하다"),
    ("koi8-r", "Все счастливые семьи похожи друг на друга."),
    ("iso-8859-7", "Άνδρα μοι έννεπε, Μούσα, πολύτροπον."),
])
def test_legacy_encodings_are_refused_not_misread(encoding, sample):
    with pytest.raises(TextFileError) as info:
        decode_bytes((sample * 3).encode(encoding), "old.txt")
    assert info.value.kind == "encoding" and "convert it to UTF-8" in str(info.value)


def test_guesses_say_so_and_round_trip():
    western = decode_bytes("“Quoted” café, naïve.\r\n".encode("cp1252"), "t.txt")
    assert western.encoding == "cp1252" and not western.certain
    assert western.encode(western.text) == "“Quoted” café, naïve.\r\n".encode("cp1252")
    assert not decode_bytes(CJK.encode("utf-16-le"), "t.txt").certain
    mixed = decode_bytes("café ".encode() + "naïve text here".encode("cp1252"), "t.txt")
    assert mixed.encoding == "cp1252" and "mix" in mixed.note
    for encoding in ("utf-8", "utf-16", "utf-32", "utf-8-sig"):
        data = "Grüße\n".encode(encoding)
        decoded = decode_bytes(data, "t.txt")
        assert decoded.certain and decoded.encode(decoded.text) == data
    big_endian = codecs.BOM_UTF16_BE + "Grüße".encode("utf-16-be")
    assert decode_bytes(big_endian, "t.txt").encode("Grüße") == big_endian  # its own byte order


def test_ascii_text_with_stray_zero_bytes_is_not_read_as_utf16():
    # its zero bytes fall in what would be the low byte of UTF-16 characters: not UTF-16
    with pytest.raises(TextFileError) as info:
        decode_bytes(b"hello\x00world " * 5, "x.txt")
    assert info.value.kind == "binary"


@pytest.mark.parametrize("data", [
    b"Some text here\x00 and more text\n",  # the NUL at an even offset: once read as UTF-16 BE, "certain"
    b"Chapter one\n\nIt was late.\x00\x00 She left the house at nine.\n" * 3,
    b"x" + b"A plain line of prose, then a stray zero byte.\x00\n" * 4,
])
def test_ascii_text_with_a_stray_zero_byte_anywhere_is_not_read_as_utf16(data):
    with pytest.raises(TextFileError) as info:
        decode_bytes(data, "x.txt")  # today: CJK-looking text, "UTF-16 (big-endian)", no "?"
    assert info.value.kind == "binary"
