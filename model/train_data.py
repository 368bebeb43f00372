"""Training text: read files (any common encoding), tokenize once (cached on disk), split off a
held-out part, and cut both parts into fixed-length windows in a seeded, resumable order.

Torch-free, so the fine-tune wizard can check a user's files before it starts a training process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ModelError
from core.fileio import atomic_write
from core.prose import normalise_prose
from core.textfile import TEXT_SUFFIXES, TRAINING_MAX_BYTES, TextFileError, decode_bytes, read_file
from core.tokenizer import EOT_TOKEN, TOKENIZER_ID, get_encoding

# Bump when tokenization changes, so old cache entries are not reused.
CACHE_VERSION = 1
LINE_BREAKS = ("unwrap", "keep")


class DataError(ModelError):
    """A training file or the training text as a whole cannot be used."""


@dataclass(frozen=True)
class TextFile:
    path: Path
    text: str
    encoding: str
    sha256: str


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given, plus the text files (by suffix) directly inside given folders, sorted."""
    if not inputs:
        raise DataError("no training files given")
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
            if not found:
                raise DataError(f"{path}: folder holds no text files ({', '.join(TEXT_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise DataError(f"{path}: not a regular file or folder (a named pipe, socket or device?)")
        else:
            raise DataError(f"{path}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            unique.append(f)
    return unique


def decode_text(data: bytes, source: str | Path) -> tuple[str, str]:
    """(text, encoding) of a training file's bytes (see core.textfile), or ``DataError`` for
    binary, empty or unrecognised data."""
    try:
        decoded = decode_bytes(data, source, allow_empty=False)
    except TextFileError as exc:
        raise DataError(str(exc)) from None
    return decoded.text, decoded.encoding


def read_text_file(path: Path) -> TextFile:
    """A training file: only a regular file of at most TRAINING_MAX_BYTES, in an encoding
    core.textfile recognises."""
    try:
        decoded, data = read_file(path, TRAINING_MAX_BYTES, allow_empty=False)
    except TextFileError as exc:
        raise DataError(str(exc)) from None
    return TextFile(path, decoded.text, decoded.encoding, hashlib.sha256(data).hexdigest())


def tokenize_cached(text: TextFile, cache_dir: Path | None) -> np.ndarray:
    """The file's GPT-2 tokens (uint16), from the cache when the same bytes were seen before.

    The key is the text's sha256 (after any normalising), the tokenizer and the cache version,
    so an edited file, other line-break handling or a different tokenizer never reuses stale tokens.
    Entries are written atomically.
    """
    key = hashlib.sha256(f"{_sha(text.text)}:{TOKENIZER_ID}:{CACHE_VERSION}".encode()).hexdigest()[:32]
    path = cache_dir / f"{key}.npy" if cache_dir else None
    if path is not None and path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass  # a damaged entry is rebuilt below
    # encode_ordinary: "<|endoftext|>" in a user's text is plain text, not the separator token.
    tokens = np.asarray(get_encoding().encode_ordinary(text.text), dtype=np.uint16)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda f: np.save(f, tokens, allow_pickle=False))
        except OSError:
            pass  # the cache only saves time; training goes on without it
    return tokens


@dataclass
class Corpus:
    train: np.ndarray          # uint16 tokens, documents separated by EOT
    val: np.ndarray
    files: list[dict]          # per file: path, encoding, sha256, tokens
    holdout: str               # what was held out, in words

    @property
    def fingerprint(self) -> str:
        """Identifies the training text; a checkpoint refuses to resume on different text."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f["sha256"].encode())
        h.update(f"{len(self.train)}:{len(self.val)}".encode())
        return h.hexdigest()[:16]


def load_corpus(inputs: list[str | Path], holdout: dict, cache_dir: Path | None,
                line_breaks: str = "unwrap") -> Corpus:
    """Read, tokenize and split the training text.

    ``line_breaks``: "unwrap" joins the hard-wrapped lines of each paragraph in files that look
    hard-wrapped and removes typesetting marks (core.prose), so the model learns paragraphs,
    not a printed edition's line width; "keep" trains on the text as it is (poetry, code).

    ``holdout``: {"fraction": f} holds out the last fraction of every file (at least one token
    window's worth is not guaranteed: see ``check_sizes``); {"file": name, "from": text} holds
    out the named file from the first line that starts with ``text`` to its end (e.g. the last
    chapters of one novel), and nothing of the others; {"data": [files or folders]} holds out
    exactly those files (read and normalised like the training files, tokenized with the same
    cache, listed in ``files`` with ``"heldout": true``) and nothing of the training files. A
    held-out file that is also a training file is refused.
    """
    if line_breaks not in LINE_BREAKS:
        raise DataError(f"line_breaks must be {' or '.join(LINE_BREAKS)}, got {line_breaks!r}")
    described = _describe_holdout(holdout)
    files = expand_inputs(inputs)
    held_files = _heldout_files(holdout, files)
    texts = [read_text_file(p) for p in files]
    held_texts = [read_text_file(p) for p in held_files]
    if line_breaks == "unwrap":
        texts = [TextFile(t.path, normalise_prose(t.text), t.encoding, t.sha256) for t in texts]
        held_texts = [TextFile(t.path, normalise_prose(t.text), t.encoding, t.sha256) for t in held_texts]
    train_parts: list[np.ndarray] = []
    val_parts: list[np.ndarray] = []
    target = holdout.get("file")
    if target is not None and not any(t.path.name == target or str(t.path) == target for t in texts):
        raise DataError(f"holdout.file: {target!r} is not among the training files")
    eot = np.array([EOT_TOKEN], dtype=np.uint16)
    infos = []
    for t in texts:
        head_tokens, tail_tokens = _split_file(t, holdout, bool(held_files), cache_dir)
        train_parts += [head_tokens, eot]
        if len(tail_tokens):
            val_parts += [tail_tokens, eot]
        infos.append({"path": str(t.path), "encoding": t.encoding, "sha256": t.sha256,
                      "line_breaks": line_breaks, "tokens": int(len(head_tokens) + len(tail_tokens))})
    for t in held_texts:
        tokens = tokenize_cached(t, cache_dir)
        if len(tokens):
            val_parts += [tokens, eot]
        infos.append({"path": str(t.path), "encoding": t.encoding, "sha256": t.sha256,
                      "line_breaks": line_breaks, "tokens": int(len(tokens)), "heldout": True})
    train = np.concatenate(train_parts) if train_parts else np.zeros(0, np.uint16)
    val = np.concatenate(val_parts) if val_parts else np.zeros(0, np.uint16)
    return Corpus(train, val, infos, described)


def _split_file(t: TextFile, holdout: dict, other_files_held: bool,
                cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """A training file's tokens: (trained on, held out), as ``holdout`` says (see load_corpus)."""
    target = holdout.get("file")
    if target is not None:
        if t.path.name == target or str(t.path) == target:
            cut = _line_starting_with(t.text, holdout["from"], t.path)
            head, tail = t.text[:cut], t.text[cut:]
            head_tokens = tokenize_cached(TextFile(t.path, head, t.encoding, _sha(head)), cache_dir)
            tail_tokens = tokenize_cached(TextFile(t.path, tail, t.encoding, _sha(tail)), cache_dir)
            return head_tokens, tail_tokens
        return tokenize_cached(t, cache_dir), np.zeros(0, np.uint16)
    if other_files_held:
        return tokenize_cached(t, cache_dir), np.zeros(0, np.uint16)
    tokens = tokenize_cached(t, cache_dir)
    n_val = int(round(len(tokens) * float(holdout.get("fraction", 0.0))))
    return tokens[: len(tokens) - n_val], tokens[len(tokens) - n_val:]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _line_starting_with(text: str, marker: str, path: Path) -> int:
    if not marker:
        raise DataError("holdout.from: give the text of the line where the held-out part starts")
    pos = 0
    for line in text.splitlines(keepends=True):
        if line.strip().startswith(marker):
            return pos
        pos += len(line)
    raise DataError(f"{path}: no line starts with {marker!r} (holdout.from)")


def _heldout_files(holdout: dict, training: list[Path]) -> list[Path]:
    """The files of a {"data": [...]} holdout (none for the other forms); a training file among
    them is refused, so the held-out text is never trained on."""
    if "data" not in holdout:
        return []
    items = holdout["data"]
    if not isinstance(items, list) or not items or not all(isinstance(i, (str, Path)) for i in items):
        raise DataError("holdout.data: give a list of held-out files or folders")
    held = expand_inputs(items)
    trained = {p.resolve() for p in training}
    both = [p for p in held if p.resolve() in trained]
    if both:
        raise DataError(f"holdout.data: {both[0]} is also a training file; a held-out file must not be "
                        "trained on (take it out of data or out of holdout.data)")
    return held


def _describe_holdout(holdout: dict) -> str:
    if "data" in holdout:
        items = holdout["data"] if isinstance(holdout["data"], list) else [holdout["data"]]
        return "the files of " + ", ".join(str(i) for i in items)
    if "file" in holdout:
        return f"{holdout['file']} from the line starting {holdout.get('from', '')!r} to the end"
    fraction = float(holdout.get("fraction", 0.0))
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"holdout.fraction must be at least 0 and below 1, got {fraction}")
    return f"the last {fraction:.0%} of every file" if fraction else "nothing"


def check_sizes(corpus: Corpus, batch_size: int, seq_len: int) -> None:
    need = batch_size * (seq_len + 1)
    if len(corpus.train) < need:
        raise DataError(
            f"not enough training text: {len(corpus.train)} tokens, but one batch of {batch_size} "
            f"x {seq_len} tokens needs {need}; add more text or lower batch_size or seq_len"
        )


class WindowSampler:
    """Non-overlapping windows of ``seq_len + 1`` tokens, shuffled per epoch from the seed.

    The position (epoch, index) is all a checkpoint needs to continue with the same batches.
    Each epoch starts the windows at a different offset, so boundaries move between epochs.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int, seed: int):
        self.tokens = tokens
        self.seq_len = seq_len
        self.seed = seed
        self.epoch = 0
        self.index = 0
        self._order: np.ndarray | None = None

    @property
    def windows_per_epoch(self) -> int:
        return (len(self.tokens) - 1) // self.seq_len - 1 if len(self.tokens) > 2 * self.seq_len + 1 else 1

    def _epoch_order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        span = len(self.tokens) - (self.seq_len + 1)
        offset = int(rng.integers(0, min(self.seq_len, span) + 1)) if span > 0 else 0
        starts = offset + self.seq_len * np.arange(self.windows_per_epoch)
        return starts[starts <= span][rng.permutation(int((starts <= span).sum()))]

    def next_batch(self, batch_size: int) -> np.ndarray:
        """[batch_size, seq_len + 1] int64 token windows."""
        rows: list[np.ndarray] = []
        while len(rows) < batch_size:
            if self._order is None:
                self._order = self._epoch_order()
            if self.index >= len(self._order):
                self.epoch, self.index, self._order = self.epoch + 1, 0, None
                continue
            start = int(self._order[self.index])
            rows.append(self.tokens[start: start + self.seq_len + 1])
            self.index += 1
        return np.stack(rows).astype(np.int64)

    def skip(self, windows: int) -> None:
        """Move on by ``windows`` windows, as ``next_batch`` would have."""
        while windows > 0:
            if self._order is None:
                self._order = self._epoch_order()
            left = len(self._order) - self.index
            if windows < left:
                self.index += windows
                return
            windows -= left
            self.epoch, self.index, self._order = self.epoch + 1, 0, None

    def state(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state(self, state: dict) -> None:
        self.epoch, self.index, self._order = int(state["epoch"]), int(state["index"]), None


def eval_windows(tokens: np.ndarray, seq_len: int) -> list[np.ndarray]:
    """The held-out tokens as consecutive windows (the last one may be shorter), each scored once."""
    windows = []
    for start in range(0, max(len(tokens) - 1, 0), seq_len):
        w = tokens[start: start + seq_len + 1]
        if len(w) >= 2:
            windows.append(w.astype(np.int64))
    return windows
