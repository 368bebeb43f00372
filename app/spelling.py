"""Spelling: which words a dictionary knows, suggestions for those it does not, and the writer's
own dictionary (Qt-free).

The dictionaries are pyspellchecker's word-frequency lists (English, Spanish, French, Italian,
Portuguese, German, Russian, Arabic, Latvian, Basque, Dutch, Persian), installed with it and
read offline. A list is 1-3 MB of JSON: it is parsed a slice at a time so that a thread loading
it never holds the interpreter long enough to stall the window (one ``json.loads`` of the whole
English list takes about 0.3 s with the lock held).

The personal dictionary is ``dictionary.txt`` in the config folder, one word per line; it is
shared by all languages (names and coined words are the usual entries). It is read in whatever
encoding it is in (core.textfile) and written back in it; a dictionary that cannot be read as
it is (too large, not a regular file, not text) is never rewritten: a word added then is known
until Inkwell closes, and the writer is told so. Adding a word reads the file again first, so
words another window added meanwhile are kept.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import re
import time
from collections.abc import Iterable
from pathlib import Path

from core import paths
from core.fileio import atomic_write, describe_os_error, read_bytes
from core.textfile import Decoded, TextFileError, decode_bytes

LANGUAGES = {
    "en": "English", "es": "Spanish", "fr": "French", "it": "Italian", "pt": "Portuguese",
    "de": "German", "ru": "Russian", "ar": "Arabic", "lv": "Latvian", "eu": "Basque",
    "nl": "Dutch", "fa": "Persian",
}
PERSONAL_FILE = "dictionary.txt"
PERSONAL_MAX_BYTES = 4 * 1024 * 1024
# A word: letters, with apostrophes inside (don't, o'clock, Darcy's). Letters touching digits or
# underscores ("mp3", "file_name") are not words a dictionary could hold: they are left alone.
WORD = re.compile(r"(?<!\w)[^\W\d_]+(?:['’][^\W\d_]+)*(?!\w)")
_SLICE_CHARS = 16 * 1024  # of the JSON list parsed at a time: a millisecond or two
_LONG_WORD = 12  # longer words get suggestions one edit away only (two edits: seconds)
_CACHE_MAX = 200_000


def missing_library() -> str | None:
    """None, or a sentence saying why spell checking cannot run here."""
    try:
        import spellchecker  # noqa: F401
    except ImportError:
        return ("Spell checking is off: the pyspellchecker package is not installed "
                "(pip install pyspellchecker).")
    return None


def personal_path() -> Path:
    return paths.config_dir() / PERSONAL_FILE


@functools.lru_cache(maxsize=2)
def _frequencies(language: str) -> dict[str, int]:
    """pyspellchecker's list for ``language``, parsed in slices (see the module's note); kept
    for the next window or language switch back (it is not changed by its users)."""
    from importlib.resources import files

    resource = files("spellchecker") / "resources" / f"{language}.json.gz"
    text = gzip.decompress(resource.read_bytes()).decode("utf-8")  # zlib lets other threads run
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        return json.loads(body)
    body = body[1:-1]
    words: dict[str, int] = {}
    start = 0
    while start < len(body):
        end = body.find("\n", start + _SLICE_CHARS)
        end = len(body) if end < 0 else end
        piece = body[start:end].strip().rstrip(",")
        if piece:
            words.update(json.loads("{" + piece + "}"))
        start = end + 1
        time.sleep(0)  # let the window's thread have the interpreter between slices
    return words


def _load(frequency, words: dict[str, int]) -> None:
    """Put ``words`` (lower case already) into pyspellchecker's WordFrequency.

    Its load_json figures the letters of the alphabet in one call over every word, which holds
    the interpreter (and so the window) for a tenth of a second and more; here they are gathered
    a slice at a time. Should the library's insides change, load_json does it."""
    try:
        counts, _ = frequency._dictionary, frequency._letters  # noqa: SLF001 - see above
    except AttributeError:
        frequency.load_json(words)
        return
    counts.update(words)
    letters: set[str] = set()
    longest = 0
    for index, word in enumerate(words):
        letters.update(word)
        longest = max(longest, len(word))
        if index % 8192 == 0:
            time.sleep(0)
    frequency._letters = letters  # noqa: SLF001
    frequency._longest_word_length = longest  # noqa: SLF001
    frequency._total_words = sum(counts.values())  # noqa: SLF001
    frequency._unique_words = len(counts)  # noqa: SLF001


class Speller:
    """One language's dictionary plus the personal one; ``known`` is cached per word."""

    def __init__(self, language: str, personal: Path | None = None) -> None:
        from spellchecker import SpellChecker

        if language not in LANGUAGES:
            raise ValueError(f"no dictionary for the language {language!r} "
                             f"(there are: {', '.join(LANGUAGES)})")
        self.language = language
        self.personal_file = personal if personal is not None else personal_path()
        self.problem = ""  # why the personal dictionary could not be read or written, if it could not
        self._checker = SpellChecker(language=None, distance=2)
        _load(self._checker.word_frequency, _frequencies(language))
        self._personal: set[str] = set()
        self._cache: dict[str, bool] = {}
        self._read_personal()

    # the personal dictionary ---------------------------------------------------------------------

    def _read_personal(self) -> None:
        try:
            words, _ = self._personal_file_words()
        except _Unreadable as exc:
            self.problem = f"Your dictionary {self.personal_file} cannot be read ({exc})."
            return
        self._personal = words
        self._checker.word_frequency.load_words(self._personal)

    def _personal_file_words(self) -> tuple[set[str], Decoded | None]:
        """The words in the personal dictionary as it is on disk now, and how it was written
        (None: there is no file yet); _Unreadable saying why when it cannot be read as it is."""
        try:
            data = read_bytes(self.personal_file, PERSONAL_MAX_BYTES)
        except FileNotFoundError:
            return set(), None
        except OSError as exc:
            raise _Unreadable(describe_os_error(exc)) from None
        try:
            decoded = decode_bytes(data, self.personal_file)
        except TextFileError as exc:
            raise _Unreadable(str(exc).removeprefix(f"{self.personal_file}: ")) from None
        return {w for w in (line.strip() for line in decoded.text.splitlines()) if w}, decoded

    @property
    def personal_words(self) -> list[str]:
        return sorted(self._personal, key=str.lower)

    def add(self, word: str) -> str:
        """Add ``word`` to the personal dictionary, kept on disk at once (with the words another
        window added meanwhile). Returns "" when it is kept, else a sentence saying why not (also
        in ``problem``): the word is known until Inkwell closes all the same. A dictionary that
        cannot be read as it is, is never rewritten (its words would be lost)."""
        word = _plain(word)
        self._personal.add(word)
        self._checker.word_frequency.load_words([word])
        self._cache.clear()
        session_only = f"“{word}” is known until Inkwell closes, but not kept"
        try:
            on_disk, decoded = self._personal_file_words()
        except _Unreadable as exc:
            self.problem = (f"{session_only}: your dictionary {self.personal_file} cannot be read ({exc}), and "
                            "rewriting it would lose the words in it.")
            return self.problem
        self._personal |= on_disk
        words = sorted(self._personal, key=str.lower)
        newline = "\r\n" if decoded is not None and "\r\n" in decoded.text else "\n"
        text = "".join(f"{w}{newline}" for w in words)
        try:
            data = decoded.encode(text) if decoded is not None else text.encode("utf-8")
        except UnicodeEncodeError:
            assert decoded is not None
            self.problem = (f"{session_only}: your dictionary {self.personal_file} is written in "
                            f"{decoded.encoding_name}, which cannot hold it.")
            return self.problem
        try:
            atomic_write(self.personal_file, data)
        except OSError as exc:
            self.problem = f"{session_only} in {self.personal_file} ({describe_os_error(exc)})."
            return self.problem
        return ""

    # checking ------------------------------------------------------------------------------------

    def known(self, word: str) -> bool:
        """Whether ``word`` (as found by ``WORD``) is spelled right."""
        hit = self._cache.get(word)
        if hit is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            hit = self._cache[word] = self._lookup(word)
        return hit

    def _lookup(self, word: str) -> bool:
        plain = _plain(word)
        if len(plain) > 1 and plain.isupper():
            return True  # acronyms and shouted words: no dictionary lists them
        if plain in self._personal:
            return True
        dictionary = self._checker.word_frequency.dictionary
        lower = plain.lower()
        if lower in dictionary:
            return True
        for suffix in ("'s", "'"):  # possessives: Darcy's, the Bennets'
            if lower.endswith(suffix) and lower[: -len(suffix)] in dictionary:
                return True
        return False

    def misspelled(self, text: str) -> Iterable[tuple[int, int]]:
        """(start, length) of each unknown word of ``text``."""
        for match in WORD.finditer(text):
            if not self.known(match.group()):
                yield match.start(), match.end() - match.start()

    def suggestions(self, word: str, limit: int = 6) -> list[str]:
        """Likely spellings of ``word``, the most common first, in its capitalisation."""
        plain = _plain(word)
        lower = plain.lower()
        checker = self._checker
        if len(lower) > _LONG_WORD:
            found = checker.known(checker.edit_distance_1(lower))
        else:
            found = checker.candidates(lower) or set()
        found.discard(lower)
        ranked = sorted(found, key=lambda w: (-checker.word_frequency[w], w))[:limit]
        return [_like(plain, w) for w in ranked]


class _Unreadable(Exception):
    """The personal dictionary cannot be read as it is; the message says why."""


def utf16_offsets(text: str) -> list[int] | None:
    """Where each character of ``text`` starts as Qt counts (UTF-16 units: an emoji is two),
    with the end last; None when the two counts agree (no character beyond U+FFFF)."""
    if text.isascii() or max(text) <= "\uffff":
        return None
    return list(itertools.accumulate((2 if ord(c) > 0xFFFF else 1 for c in text), initial=0))


def _plain(word: str) -> str:
    return word.replace("’", "'").strip("'")


def _like(model: str, word: str) -> str:
    """``word`` written in the capitalisation of ``model``."""
    if len(model) > 1 and model.isupper():
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
