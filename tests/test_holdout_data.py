"""Held-out files in training: holdout {"data": [files or folders]} (model/train_data.py, train_job.py)."""

from __future__ import annotations

import textwrap

import pytest

from core.tokenizer import decode

PARAGRAPH = ("Anne had not been in the room five minutes before the door opened again and Captain "
             "Wentworth walked in, looking about him as if for something he had lost. ") * 3


def _book(words: str) -> str:
    """A hard-wrapped book of twelve paragraphs, each ending with ``words``."""
    text = (PARAGRAPH + words).strip()
    return "\n\n".join(textwrap.fill(text, 70) for _ in range(12)) + "\n"


@pytest.fixture
def texts(tmp_path):
    train = tmp_path / "train"
    held = tmp_path / "held"
    train.mkdir()
    held.mkdir()
    (train / "a.txt").write_text(_book("Trained on."), encoding="utf-8")
    (train / "b.txt").write_text(_book("Also trained on."), encoding="utf-8")
    (held / "c.txt").write_text(_book("Held out."), encoding="utf-8")
    (held / "d.txt").write_text(_book("Held out too."), encoding="utf-8")
    return tmp_path


def _paragraphs(words: str) -> str:
    return "\n\n".join([(PARAGRAPH + words).strip()] * 12) + "\n"


def test_held_out_files_are_exactly_the_validation_text(texts, tmp_path):
    from model.train_data import load_corpus

    corpus = load_corpus([texts / "train"], {"data": [str(texts / "held")]}, tmp_path / "cache")
    eot = "<|endoftext|>"
    # Unwrapped like the training files, in file order, nothing of the training files held out.
    assert decode(corpus.val.tolist()) == _paragraphs("Held out.") + eot + _paragraphs("Held out too.") + eot
    assert decode(corpus.train.tolist()) == _paragraphs("Trained on.") + eot + _paragraphs("Also trained on.") + eot
    assert [f.get("heldout", False) for f in corpus.files] == [False, False, True, True]
    assert corpus.files[2]["path"] == str(texts / "held" / "c.txt")
    assert corpus.holdout == f"the files of {texts / 'held'}"
    # "keep" keeps the held-out file's lines too; a single file works as well as a folder.
    kept = load_corpus([texts / "train"], {"data": [texts / "held" / "d.txt"]}, None, "keep")
    assert decode(kept.val.tolist()) == _book("Held out too.") + eot
    # The cache serves the held-out file the second time.
    again = load_corpus([texts / "train"], {"data": [str(texts / "held")]}, tmp_path / "cache")
    assert (again.val == corpus.val).all() and again.fingerprint == corpus.fingerprint


def test_relative_held_out_paths_resolve_against_the_working_directory(texts, monkeypatch):
    from model.train_data import load_corpus

    monkeypatch.chdir(texts)
    corpus = load_corpus(["train"], {"data": ["held/c.txt"]}, None)
    assert decode(corpus.val.tolist()) == _paragraphs("Held out.") + "<|endoftext|>"


def test_a_held_out_file_that_is_also_a_training_file_is_refused(texts):
    from model.train_data import DataError, load_corpus

    with pytest.raises(DataError, match=r"holdout.data: .*a\.txt is also a training file"):
        load_corpus([texts / "train"], {"data": [str(texts / "held"), str(texts / "train" / "a.txt")]}, None)
    with pytest.raises(DataError, match=r"holdout.data: .*c\.txt is also a training file"):
        load_corpus([texts / "train", texts / "held" / "c.txt"], {"data": [str(texts / "held")]}, None)
    with pytest.raises(DataError, match="no such file or folder"):
        load_corpus([texts / "train"], {"data": [str(texts / "missing")]}, None)


def test_a_job_accepts_the_data_form_of_holdout(texts):
    from model.train_job import Job, TrainError

    base = {"data": [str(texts / "train")], "out": str(texts / "out")}
    Job.from_dict({**base, "holdout": {"data": [str(texts / "held")]}}, "test").validate()
    for bad in ({"data": []}, {"data": "held"}, {"data": ["held"], "fraction": 0.1}):
        with pytest.raises(TrainError, match=r'or \{"data": \[HELD-OUT FILES OR FOLDERS\]\}'):
            Job.from_dict({**base, "holdout": bad}, "test").validate()
