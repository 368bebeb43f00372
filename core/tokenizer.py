"""GPT-2's byte-pair encoding through tiktoken, built from the vendored BPE files.

Importable without torch (the GUI process uses it). The files are checked against the sha256
that tiktoken itself expects, and nothing is ever fetched from the network.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks

from core.errors import ModelError
from core.fileio import MiB, describe_os_error, read_bytes

TOKENIZER_ID = "gpt2"
EOT_TOKEN = 50256
EOT_TEXT = "<|endoftext|>"
BPE_DIR = Path(__file__).resolve().parent.parent / "resources" / "tokenizer" / "gpt2"
_SHA256 = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}
# GPT-2's pre-tokenizer pattern, as in tiktoken's own "gpt2" definition.
_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


def _checked(path: Path) -> str:
    try:
        data = read_bytes(path, 16 * MiB)  # the two files are 0.5 and 1 MiB
    except OSError as exc:
        raise ModelError(f"{path}: cannot read GPT-2 tokenizer file ({describe_os_error(exc)})") from None
    if hashlib.sha256(data).hexdigest() != _SHA256[path.name]:
        raise ModelError(f"{path}: GPT-2 tokenizer file is corrupt (sha256 mismatch)")
    return str(path)


@cache
def get_encoding(bpe_dir: str | None = None) -> tiktoken.Encoding:
    folder = Path(bpe_dir) if bpe_dir else BPE_DIR
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=_checked(folder / "vocab.bpe"),
        encoder_json_file=_checked(folder / "encoder.json"),
        vocab_bpe_hash=_SHA256["vocab.bpe"],
        encoder_json_hash=_SHA256["encoder.json"],
    )
    return tiktoken.Encoding(
        name=TOKENIZER_ID,
        explicit_n_vocab=50257,
        pat_str=_PAT,
        mergeable_ranks=ranks,
        special_tokens={EOT_TEXT: EOT_TOKEN},
    )


def encode(text: str) -> list[int]:
    """Tokens of ``text``; "<|endoftext|>" typed by a user is ordinary text, not the special token."""
    return get_encoding().encode_ordinary(text)


def decode(tokens: list[int]) -> str:
    return get_encoding().decode(tokens, errors="replace")


def token_bytes(token: int) -> bytes:
    return get_encoding().decode_single_token_bytes(token)


class StreamDecoder:
    """Turns tokens into text as they arrive, never emitting half a UTF-8 character.

    A GPT-2 token can end inside a multi-byte character (emoji, CJK); those bytes are held back
    until the character is complete. ``flush`` returns whatever is left at the end, with
    replacement characters only if the stream really ended inside a character.
    """

    def __init__(self) -> None:
        self._pending = b""

    def push(self, token: int) -> str:
        return self.push_bytes(token_bytes(token))

    def push_bytes(self, data: bytes) -> str:
        buf = self._pending + data
        cut = _complete_prefix_len(buf)
        self._pending = buf[cut:]
        return buf[:cut].decode("utf-8", errors="replace")

    def flush(self) -> str:
        rest, self._pending = self._pending, b""
        return rest.decode("utf-8", errors="replace")

    @property
    def pending(self) -> bytes:
        return self._pending


def _complete_prefix_len(buf: bytes) -> int:
    """Length of the longest prefix of ``buf`` that does not end inside a UTF-8 sequence."""
    n = len(buf)
    # A UTF-8 sequence is at most 4 bytes: only the last 3 bytes can belong to an unfinished one.
    for back in range(1, min(4, n) + 1):
        byte = buf[n - back]
        if byte & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        if byte < 0x80:
            return n
        need = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
        return n if back >= need else n - back
    return n
