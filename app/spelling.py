"""Spelling: which words a dictionary knows, suggestions for those it does not, and the writer's
own dictionary (Qt-free).

The dictionaries are pyspellchecker's word-frequency lists (English, Spanish, French, Italian,
Portuguese, German, Russian, Arabic, Latvian, Basque, Dutch, Persian), installed with it and
read offline. Its English list spells as Americans do and has no British counterpart: English
(UK) is that list plus the British forms of its words (``british_forms``: the regular
correspondences, -our, -ise, -yse, -re, -ence, -ogue and the doubled l, applied to the words
the list has, and the irregular words listed one by one), American forms still known. In
English a word written with diacritics (naïve, café, rôle) is known when its plain letters are.
A list is 1-3 MB of JSON: it is parsed a slice at a time so that a thread loading it never holds
the interpreter long enough to stall the window (one ``json.loads`` of the whole English list
takes about 0.3 s with the lock held).

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
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from core import paths
from core.fileio import atomic_write, describe_os_error, read_bytes
from core.textfile import Decoded, TextFileError, decode_bytes

LANGUAGES = {
    "en": "English (US)", "en_GB": "English (UK)", "es": "Spanish", "fr": "French", "it": "Italian", "pt": "Portuguese",
    "de": "German", "ru": "Russian", "ar": "Arabic", "lv": "Latvian", "eu": "Basque",
    "nl": "Dutch", "fa": "Persian",
}
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


def language_for_locale(name: str) -> str:
    """The dictionary for a locale ("en_GB", "de_AT", "C"): English (UK) for the English of the
    countries that spell the British way (all but the United States and its territories),
    else the language's own, else English (US)."""
    language, _, country = name.replace("-", "_").partition("_")
    if language == "en":
        return "en" if country[:2] in ("US", "PH", "PR", "GU", "AS", "VI", "UM", "MP") else "en_GB"
    return language if language in LANGUAGES else "en"


# American -> British, the regular ways (Oxford and Cambridge dictionaries list both forms):
_OUR_STEMS = ("arb", "ard", "arm", "behavi", "cand", "clam", "col", "demean", "endeav", "fav", "ferv", "flav",
              "glam", "harb", "hon", "hum", "lab", "neighb", "od", "parl", "ranc", "rig", "rum", "sav",
              "savi", "splend", "tum", "val", "vap", "vig")
_OUR = re.compile(rf"^((?:dis|un|mis|de)?(?:{'|'.join(_OUR_STEMS)}))or"
                  r"(|s|ed|ing|ful|fully|less|ite|ites|able|ably|er|ers|al|ally|hood|hoods|ist|ists|y)$")
# realize, analyze; not size and its compounds (midsize, capsize)
_ISE = re.compile(r"(?<=..[a-z])(?<![^aeiou]s)([iy])z(e|ed|es|ing|ation|ations|er|ers)$")
_DOUBLE_L = re.compile(r"(?<=[^aeiou][aeiou])l(ed|ing|er|ers)$")  # traveled, modeling, jeweler
_RE_STEMS = ("cent", "theat", "fib", "lit", "met", "kilomet", "centimet", "millimet", "somb", "calib", "spect",
             "meag", "sab", "lust", "scept", "sepulch", "mit", "och")
_RE = re.compile(rf"^({'|'.join(_RE_STEMS)})er(s?)$")
_ENCE = re.compile(r"^(defen|offen|preten)se(s?)$")
_OGUE = re.compile(r"^(catal|dial|anal|prol|epil)og(s?)$")
_RULES = ((_OUR, r"\1our\2", "or"), (_ISE, r"\1s\2", "z"), (_RE, r"\1re\2", "er"), (_ENCE, r"\1ce\2", "ense"),
          (_OGUE, r"\1ogue\2", "og"))
# and those no rule makes
_BRITISH_WORDS = """aeroplane aeroplanes aluminium anaemia anaemic anaesthesia anaesthetic anaesthetics
archaeological archaeologist archaeologists archaeology centred centring cheque cheques chequered cosy
dialled dialling diarrhoea doughnut doughnuts draught draughts encyclopaedia enrolment faeces foetus fulfilment
gaol gynaecology haemoglobin haemorrhage instalment jewellery kerb kerbs leukaemia manoeuvre manoeuvred
manoeuvres manoeuvring marvellous mediaeval mould moulded moulding moulds mouldy moult oesophagus
oestrogen orthopaedic paediatric paediatrician plough ploughed ploughing ploughs programme programmes
pyjama pyjamas sceptic sceptical scepticism sceptics smoulder smouldering storeys sulphur tyre tyres
whilst woollen""".split()


@functools.lru_cache(maxsize=1)
def british_forms() -> dict[str, int]:
    """The British spellings of the English list's words, each with its American word's count."""
    american = _frequencies("en")
    british: dict[str, int] = {}
    for index, word in enumerate(american):
        count = american[word]
        made = []
        for rule, british_way, clue in _RULES:
            if clue in word:  # (a cheap test first: most words need no rule)
                made.append(rule.sub(british_way, word))
        double = _DOUBLE_L.search(word) if "l" in word else None
        if double and double.start() >= 3 and word[: double.start() + 1] in american:
            made.append(_DOUBLE_L.sub(r"ll\1", word))  # (the verb is a word: travel, not rul-ed or sol-ed)
        for form in made:
            if form != word and form not in american:
                british[form] = max(british.get(form, 0), count)
        if index % 8192 == 0:
            time.sleep(0)  # (see _frequencies)
    for word in _BRITISH_WORDS:
        british.setdefault(word, 1)
    return british


def _without_marks(word: str) -> str:
    """``word`` without its diacritics (naïve: naive)."""
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


def personal_path() -> Path:
    return paths.personal_dictionary_file()


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
        counts, _ = frequency._dictionary, frequency._letters
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
    frequency._letters = letters
    frequency._longest_word_length = longest
    frequency._total_words = sum(counts.values())
    frequency._unique_words = len(counts)


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
        words = _frequencies(language.partition("_")[0])
        if language == "en_GB":
            words = {**words, **british_forms()}
        _load(self._checker.word_frequency, words)
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
        if self.language.startswith("en") and not lower.isascii():
            # English keeps the marks of the words it borrowed, or drops them: naïve, café, rôle
            plain = _without_marks(lower)
            return plain != lower and self._lookup(plain)
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
