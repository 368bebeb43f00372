"""Opening and saving text files: encodings, refusals, atomic saves."""

from __future__ import annotations

import codecs
import errno
import os

import pytest

from app.documents import DocumentError, UnencodableText, changed_on_disk, read_text, save_text


def test_utf8_and_bom_variants(tmp_path):
    plain = tmp_path / "a.txt"
    plain.write_bytes("Naïve café\r\nsecond".encode())
    loaded = read_text(plain)
    assert loaded.text == "Naïve café\nsecond" and not loaded.converted
    bom = tmp_path / "b.md"
    bom.write_bytes(codecs.BOM_UTF8 + b"# Title")
    assert read_text(bom).text == "# Title"
    utf16 = tmp_path / "c.txt"
    utf16.write_bytes("Grüße".encode("utf-16"))
    loaded = read_text(utf16)
    assert loaded.text == "Grüße" and loaded.converted and loaded.encoding_name == "UTF-16"


def test_windows_1252_is_recognised(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("“Quoted” café".encode("cp1252"))
    loaded = read_text(path)
    assert loaded.text == "“Quoted” café" and loaded.encoding_name == "Windows-1252"


@pytest.mark.parametrize("data, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"abc \x81\x8d\x8f\x90\x9d", "not UTF-8"),
])
def test_unreadable_files_are_refused_clearly(tmp_path, data, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(DocumentError, match=message) as info:
        read_text(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DocumentError, match="cannot be opened"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(DocumentError, match="folder"):
        read_text(tmp_path)


def test_save_replaces_the_file_whole(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("old text", encoding="utf-8")
    with open(path, encoding="utf-8") as reader:  # opened before the save
        save_text(path, "new text ✓")
        # the reader still sees the complete old file: the new one was renamed into place,
        # not written over the old one
        assert reader.read() == "old text"
    assert path.read_text(encoding="utf-8") == "new text ✓"


def test_full_disk_says_so_and_leaves_the_file_whole(small_disk):
    path = small_disk / "story.txt"
    path.write_text("precious", encoding="utf-8")
    (small_disk / "filler").write_bytes(b"x" * (256 * 1024 - 8192))  # all but a page or so
    with pytest.raises(DocumentError) as info:
        save_text(path, "a much longer replacement text " * 10000)
    assert "the disk is full" in str(info.value) and "Unknown error" not in str(info.value)
    assert path.read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "story.txt"]  # no temporary file left


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "the disk is full"), (errno.EDQUOT, "quota"), (errno.EACCES, "permission denied"),
    (errno.EROFS, "read-only"), (errno.EIO, "input/output error"),
])
def test_failed_save_says_why_and_leaves_old_file_untouched(tmp_path, monkeypatch, code, words):
    path = tmp_path / "story.txt"
    path.write_text("precious", encoding="utf-8")

    def failing_fsync(fd):  # where a full disk shows itself on file systems that delay allocation
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(DocumentError, match="cannot be saved") as info:
        save_text(path, "a much longer replacement text")
    assert words in str(info.value)
    assert path.read_text(encoding="utf-8") == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["story.txt"]  # no temporary file left


def test_save_into_missing_folder_is_refused(tmp_path):
    with pytest.raises(DocumentError, match="nowhere"):
        save_text(tmp_path / "nowhere" / "x.txt", "text")


CJK = "扊型瑪心麈隠駼褭涟尷" * 30


def test_utf16_cjk_without_a_mark_opens_and_saves_back_as_it_was(tmp_path):
    # the report's case: read as Windows-1252, saved as UTF-8 mojibake, the text gone
    path = tmp_path / "cjk.txt"
    original = CJK.encode("utf-16-le")
    path.write_bytes(original)
    loaded = read_text(path)
    assert loaded.text == CJK and loaded.encoding == "utf-16-le" and not loaded.format.certain
    save_text(path, loaded.text, loaded.format)
    assert path.read_bytes() == original  # unchanged text, unchanged bytes
    save_text(path, loaded.text + "。", loaded.format)
    assert path.read_bytes() == (CJK + "。").encode("utf-16-le")


@pytest.mark.parametrize("encoding, data", [
    ("utf-8", "Naïve\r\ncafé\r\n".encode()),
    ("utf-8-sig", codecs.BOM_UTF8 + "Naïve\ncafé".encode()),
    ("utf-16", codecs.BOM_UTF16_BE + "Grüße\r\nKöln".encode("utf-16-be")),
    ("utf-32", codecs.BOM_UTF32_LE + "Grüße\rKöln\r".encode("utf-32-le")),
    ("cp1252", "“Quoted” café\r\n".encode("cp1252")),
    ("utf-16-be", "Grüße aus Köln\n".encode("utf-16-be") * 5),
])
def test_saving_writes_back_what_was_read_byte_for_byte(tmp_path, encoding, data):
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    loaded = read_text(path)
    assert loaded.encoding == encoding and "\r" not in loaded.text
    save_text(path, loaded.text, loaded.format)
    assert path.read_bytes() == data


def test_line_ends_are_kept_and_named(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"one\r\ntwo\r\n")
    loaded = read_text(path)
    assert loaded.format.newline == "\r\n" and loaded.format.label == "UTF-8 · CRLF"
    save_text(path, loaded.text + "three\n", loaded.format)
    assert path.read_bytes() == b"one\r\ntwo\r\nthree\r\n"
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(b"a\r\nb\r\nc\nd")
    fmt = read_text(mixed).format
    assert fmt.newline == "\r\n" and fmt.mixed_newlines


def test_text_the_encoding_cannot_hold_is_not_written(tmp_path):
    path = tmp_path / "old.txt"
    data = "café\r\n".encode("cp1252")
    path.write_bytes(data)
    loaded = read_text(path)
    with pytest.raises(UnencodableText, match="“→” \\(line 2\\) cannot be written in Windows-1252"):
        save_text(path, loaded.text + "→ next", loaded.format)
    assert path.read_bytes() == data
    save_text(path, loaded.text + "→ next", loaded.format.as_utf8())
    assert path.read_bytes() == "café\r\n→ next".encode()


def test_changes_by_another_writer_are_noticed(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("mine", encoding="utf-8")
    state = read_text(path).disk
    assert changed_on_disk(path, state) is None
    path.write_text("sole", encoding="utf-8")  # same size, within the same second: compared by content
    assert changed_on_disk(path, state) == "changed"
    state = save_text(path, "mine again")
    assert changed_on_disk(path, state) is None
    path.unlink()
    assert changed_on_disk(path, state) == "deleted"
