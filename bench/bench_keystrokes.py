"""Keystrokes saved: a writer types held-out text with Inkwell's suggestions.

    python bench/bench_keystrokes.py [--model DIR] [--text austen|authors|both] [--chars N]
    python bench/bench_keystrokes.py --calibrate      # fit trust.py's confidence (not scored text)
    python bench/bench_keystrokes.py --tune-cache     # doccache.WEIGHT by held-out perplexity

The writer types passages of held-out prose (Persuasion from "Chapter 21", bench_suggestions'
held-out Austen, and the held-out authors' books, each book's last 70%; at least --chars
characters each), the paragraphs before each passage already in the document. They pause after
every word and after the first letter of every word; where a suggestion is shown they take its
longest correct part word by word (Ctrl+Right, one key a word or mark; Tab when all of it is
right) and otherwise type on. Reported per policy, side by side in one run:

  saving      1 - keys pressed / characters (the keystroke saving rate)
  shown       of the pauses, where a suggestion was shown
  precision   of the shown suggestions, those whose first word (or mark) was right
  wrong/100w  wrong suggestions shown per 100 words typed
  non-words   shown suggestions that leave the word at the cursor a word neither the dictionary
              nor the document knows
  glued       of the pauses after a finished word, where the shown suggestion goes on with letters
  ms          median latency of a request (to its result; the first piece comes sooner)

Policies: "today" (every suggestion shown, no word checks, no document cache, and Ctrl+Right
taking everything up to the next blank, " her." at once: Inkwell before suggestions were judged;
once more with today's Ctrl+Right, a word or a mark, to tell the two changes apart), and the new
engine at each pair of "Show suggestions" thresholds (a word that begins anew, one that completes
the word at the cursor: the app's levels, and others around them), with and without the
document's n-gram cache. Suggestions are greedy with the app's other defaults (3 alternatives,
sentence length); the shown one is the first alternative whose confidence reaches its threshold,
as the engine decides. Calibration (--calibrate) uses the first 30% of the authors' books,
which are never scored.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_suggestions import AUTHORS, BUNDLED, app_params, held_out_paragraphs

from app.engine import Engine, GenerationParams, doccache, trust
from app.generation import SHOW_LEVELS, lexicon, show_thresholds
from core.prose import normalise_prose
from core.tokenizer import encode

WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
PIECE = trust.WORD_OR_MARK  # what Ctrl+Right takes
BLANK_TO_BLANK = re.compile(r"\s*\S+")  # what Ctrl+Right took before: " her." at once
# (a new word's, a completion's): one threshold for both, then pairs around the app's levels
THRESHOLDS = ((0.0, 0.0), (0.1, 0.1), (0.2, 0.2), (0.3, 0.3), (0.4, 0.4), (0.5, 0.5),
              (0.4, 0.1), (0.5, 0.0), (0.5, 0.1), (0.5, 0.2), (0.6, 0.1), (0.6, 0.2), (0.7, 0.2), (0.7, 0.3))
CONTEXT_CHARS = 2500  # of the paragraphs before a passage, already in the document
CALIBRATION_SHARE = 0.3  # of each held-out author's book: calibration text, never scored
ALTERNATIVES: dict[str, Any] = {}  # --alternatives


# -- the texts ------------------------------------------------------------------------------------

def _books() -> list[list[str]]:
    if not AUTHORS.is_dir():
        sys.exit(f"no {AUTHORS}: run python -m model.corpus_prep first")
    return [[p for p in normalise_prose(f.read_text(encoding="utf-8")).split("\n\n") if len(p.split()) >= 30]
            for f in sorted(AUTHORS.glob("*.txt"))]


def _passage(paragraphs: list[str], start: int, chars: int) -> tuple[str, str]:
    """(the document before, the text to type): paragraphs from ``start`` until ``chars``."""
    typed: list[str] = []
    i = start
    while sum(len(p) + 2 for p in typed) < chars and i < len(paragraphs):
        typed.append(paragraphs[i])
        i += 1
    before = "\n\n".join(paragraphs[max(0, start - 12):start])[-CONTEXT_CHARS:]
    return (before + "\n\n" if before else ""), "\n\n".join(typed)


def passages(text: str, chars: int) -> list[tuple[str, str]]:
    """Passages of held-out text together at least ``chars`` characters long."""
    if text == "austen":
        paragraphs = held_out_paragraphs("austen")
        return [_passage(paragraphs, 6, chars)]
    books = _books()
    per = max(600, chars // 4)
    out = []
    for b in range(0, len(books), max(1, len(books) // 4))[:4]:
        scored = books[b][int(len(books[b]) * CALIBRATION_SHARE):]
        before, typed = _passage(scored, len(scored) // 2, per)
        cut = typed.find(" ", per)
        out.append((before, typed[:cut] if cut > 0 else typed))
    return out


def calibration_passages(chars: int) -> list[tuple[str, str]]:
    books = _books()
    out = []
    for paragraphs in books:
        first = paragraphs[: int(len(paragraphs) * CALIBRATION_SHARE)]
        before, text = _passage(first, min(10, len(first) // 2), chars // len(books))
        cut = text.find(" ", chars // len(books))
        out.append((before, text[:cut] if cut > 0 else text))
    return out


def pauses(text: str) -> tuple[set[int], set[int]]:
    """Where the writer pauses: after each word, and after the first letter of each word."""
    ends, firsts = set(), set()
    for m in WORD.finditer(text):
        ends.add(m.end())
        if len(m.group()) > 1:
            firsts.add(m.start() + 1)
    return ends, firsts


# -- one engine configuration, its suggestions memoised by position ---------------------------------

@dataclass
class Asked:
    alternatives: list  # [(text, confidence, first_probability)] in engine order
    ms: float


@dataclass
class Config:
    name: str
    params: GenerationParams
    memo: dict = field(default_factory=dict)

    def ask(self, engine: Engine, document: str, key: tuple) -> Asked:
        if key not in self.memo:
            t0 = time.perf_counter()
            result = engine.generate(document, self.params)
            ms = (time.perf_counter() - t0) * 1e3
            self.memo[key] = Asked([(a.text, a.confidence, a.first_probability) for a in result.alternatives], ms)
            if len(self.memo) % 100 == 0:
                median = statistics.median(a.ms for a in self.memo.values())
                print(f"  {self.name}: {len(self.memo)} requests, median {median:.0f} ms", file=sys.stderr, flush=True)
        return self.memo[key]


def shown(asked: Asked, thresholds: tuple[float, float], document: str) -> str:
    for text, confidence, _p in asked.alternatives:
        if text and confidence >= thresholds[trust.completes(document, text)]:
            return text
    return ""


def taken(suggestion: str, real: str, unit: re.Pattern = PIECE) -> tuple[int, int, bool]:
    """(characters taken, keys pressed to take them, first word or mark right) of ``suggestion``,
    Ctrl+Right taking one ``unit`` at a time."""
    matched = keys = 0
    for piece in unit.findall(suggestion):
        if real.startswith(piece, matched):
            matched += len(piece)
            keys += 1
        else:
            break
    if matched and matched == len(suggestion.rstrip()):
        keys = 1  # Tab: all of it
    first = PIECE.match(suggestion)
    return matched, keys, bool(first) and real.startswith(first.group())


@dataclass
class Tally:
    chars: int = 0
    keys: int = 0
    words: int = 0
    asked: int = 0
    shown: int = 0
    right: int = 0
    non_words: int = 0
    ends: int = 0
    glued: int = 0
    ms: list = field(default_factory=list)
    examples: list = field(default_factory=list)

    def row(self) -> dict[str, str]:
        return {
            "saving": f"{100 * (1 - self.keys / self.chars):.1f}%",
            "shown": f"{100 * self.shown / max(1, self.asked):.0f}%",
            "precision": f"{100 * self.right / max(1, self.shown):.0f}%",
            "wrong/100w": f"{100 * (self.shown - self.right) / max(1, self.words):.1f}",
            "non-words": str(self.non_words),
            "glued": f"{100 * self.glued / max(1, self.ends):.1f}%",
            "ms": f"{statistics.median(self.ms):.0f}" if self.ms else "-",
        }


def simulate(engine: Engine, config: Config, thresholds: tuple[float, float], texts: list[tuple[str, str]],
             words: trust.Words | None, tally: Tally, unit: re.Pattern = PIECE) -> Tally:
    for index, (before, text) in enumerate(texts):
        ends, firsts = pauses(text)
        tally.chars += len(text)
        tally.words += len(WORD.findall(text))
        i = 0
        while i < len(text):
            if i in ends or i in firsts:
                asked = config.ask(engine, before + text[:i], (index, i))
                tally.asked += 1
                tally.ms.append(asked.ms)
                suggestion = shown(asked, thresholds, before + text[:i])
                real = text[i:]
                at_end = i in ends and not real[:1].isalpha()
                tally.ends += at_end
                if suggestion:
                    tally.shown += 1
                    n, keys, right = taken(suggestion, real, unit)
                    tally.right += right
                    tally.glued += at_end and suggestion[:1].isalpha()
                    document = before + text[:i]
                    first = PIECE.match(suggestion)
                    if words is not None and not trust.Words(words.lexicon, document).extension_known(
                            document, first.group() if first else suggestion):
                        tally.non_words += 1
                    if len(tally.examples) < 400:
                        tally.examples.append(((index, i), before + text[:i], suggestion, real[:60]))
                    if n:
                        tally.keys += keys
                        i += n
                        continue
                elif len(tally.examples) < 400:
                    tally.examples.append(((index, i), before + text[:i], "", real[:60]))
            tally.keys += 1
            i += 1
    return tally


# -- calibration and the cache's weight -----------------------------------------------------------

def calibrate(engine: Engine, chars: int) -> None:
    """Fit sigmoid(A ln p + B) to (first word's probability, first word right) at every pause of
    the calibration text (apart, and together, where the first word completes the word at the
    cursor and where it begins a new one), and the same for the whole suggestion."""
    params = app_params(temperature=0.0, **show_thresholds("often"), **ALTERNATIVES)
    firsts: list[tuple[float, int]] = []
    completions: list[tuple[float, int]] = []
    wholes: list[tuple[float, int]] = []
    for number, (before, text) in enumerate(calibration_passages(chars)):
        ends, starts = pauses(text)
        print(f"  passage {number}: {len(firsts)} so far", file=sys.stderr, flush=True)
        for i in sorted(ends | starts):
            result = engine.generate(before + text[:i], params)
            if not result.alternatives or not result.text:
                continue
            alt = result.alternatives[0]
            n, _keys, right = taken(alt.text, text[i:])
            kind = completions if trust.completes(before + text[:i], alt.text) else firsts
            kind.append((alt.first_probability, int(right)))
            whole = math.exp(sum(math.log(max(p, 1e-30)) for p in alt.probs))
            wholes.append((whole, int(n >= len(alt.text.rstrip()))))
    for name, pairs in (("FIRST_WORD_FIT", firsts + completions), ("new words", firsts),
                        ("completions", completions), ("WHOLE_FIT", wholes)):
        a, b = _platt(pairs)
        print(f"{name} = ({a:.3f}, {b:.3f})  # {len(pairs)} suggestions, {sum(y for _, y in pairs)} right")
        for lo, hi in ((0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.5), (0.5, 1.01)):
            got = [(p, y) for p, y in pairs if lo <= 1 / (1 + math.exp(-(a * math.log(max(p, 1e-12)) + b))) < hi]
            if got:
                print(f"   calibrated {lo:.1f}-{hi:.1f}: {len(got):4d} suggestions, "
                      f"right {100 * sum(y for _, y in got) / len(got):.0f}%")


def _platt(pairs: list[tuple[float, int]]) -> tuple[float, float]:
    x = np.array([math.log(max(p, 1e-12)) for p, _ in pairs])
    y = np.array([t for _, t in pairs], dtype=np.float64)
    a, b = 1.0, 0.0
    for _ in range(200):  # Newton's method on the logistic log-likelihood
        z = np.clip(a * x + b, -30, 30)
        p = 1 / (1 + np.exp(-z))
        g = np.array([((p - y) * x).sum(), (p - y).sum()])
        w = p * (1 - p) + 1e-9
        h = np.array([[(w * x * x).sum(), (w * x).sum()], [(w * x).sum(), w.sum()]])
        step = np.linalg.solve(h + 1e-6 * np.eye(2), g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(b)


def tune_cache(engine: Engine, chars: int) -> None:
    """Held-out perplexity of the calibration text at each cache weight."""
    weights = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
    nll = {w: 0.0 for w in weights}
    count = 0
    for before, text in calibration_passages(chars)[::2]:
        tokens = encode(before + text)[-400:]
        cache = engine.decoder.new_cache()
        for pos in range(len(tokens) - 1):
            logits = engine.decoder.run(np.array([[tokens[pos]]]), np.array([[pos]]), cache)[0]
            if pos < 160:
                continue  # the document before the passage: the cache needs something to look at
            history = np.array(tokens[: pos + 1])
            for w in weights:
                row = doccache.DocumentCache(history).mix(logits, [history], w).astype(np.float64)
                top = row.max()
                nll[w] -= row[tokens[pos + 1]] - top - math.log(np.exp(row - top).sum())
            count += 1
    for w in weights:
        print(f"weight {w:.2f}: perplexity {math.exp(nll[w] / count):.1f} ({count} tokens)")


# -- the run ----------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(BUNDLED))
    ap.add_argument("--text", choices=("austen", "authors", "both"), default="both")
    ap.add_argument("--chars", type=int, default=3000, help="characters typed per text (at least)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--tune-cache", action="store_true")
    ap.add_argument("--speed", type=int, default=0, metavar="N", help="latency only (e.g. a random-weight "
                    "model): N pauses of the held-out Austen, today's engine and the new one")
    ap.add_argument("--examples", type=int, default=0, help="print this many before/after suggestions")
    ap.add_argument("--alternatives", type=int, help="alternatives per request (default: the app's; 1 is "
                    "faster, and the shown suggestion is then always the model's first)")
    ap.add_argument("--max-new-tokens", type=int, help="suggestion tokens at most (default: the app's; "
                    "fewer is faster and rarely changes what a writer takes)")
    ap.add_argument("--configs", default="today,new,plain", help="engines to compare: today, new (with the "
                    "document cache), plain (new, without it)")
    args = ap.parse_args()
    if args.alternatives:
        ALTERNATIVES["num_alternatives"] = args.alternatives
    if args.max_new_tokens:
        ALTERNATIVES["max_new_tokens"] = args.max_new_tokens

    words = trust.Words(lexicon(), "")
    engine = Engine.load(args.model, provider="cpu", threads=args.threads, lexicon=words.lexicon)
    print(f"model {engine.status.model_name} ({args.model}); load average {os.getloadavg()[0]:.2f}")
    if args.calibrate:
        calibrate(engine, args.chars)
        return
    if args.tune_cache:
        tune_cache(engine, args.chars)
        return
    default = SHOW_LEVELS["fairly sure"]
    if args.speed:
        _speed(engine, args.speed)
        return
    today = Config("today", app_params(temperature=0.0, **show_thresholds("often"), real_words=False, document_cache=False,
                                       **ALTERNATIVES))
    new = Config("new", app_params(temperature=0.0, **show_thresholds("often"), **ALTERNATIVES))
    plain = Config("new, no cache", app_params(temperature=0.0, **show_thresholds("often"), document_cache=False, **ALTERNATIVES))
    configs = args.configs.split(",")
    policies = []
    if "today" in configs:
        policies += [("today: every suggestion", today, (0.0, 0.0), BLANK_TO_BLANK),
                     ("today, Ctrl+Right by word or mark", today, (0.0, 0.0), PIECE)]
    if "new" in configs:
        policies += [(f"new, show >= {t:.2f} / {c:.2f}", new, (t, c), PIECE) for t, c in THRESHOLDS]
    if "plain" in configs:
        policies += [(f"new, no cache, show >= {t:.2f} / {c:.2f}", plain, (t, c), PIECE) for t, c in THRESHOLDS]
    for text in (("austen", "authors") if args.text == "both" else (args.text,)):
        texts = passages(text, args.chars)
        for config in (today, new, plain):
            config.memo.clear()  # memoised by passage and position: another text's would be taken
        rows = {}
        tallies = {}
        started = time.perf_counter()
        for label, config, thresholds, unit in policies:
            engine.reset()
            tallies[label] = simulate(engine, config, thresholds, texts, words, Tally(), unit)
            rows[label] = tallies[label].row()
        loads = os.getloadavg()
        print(f"\n{text}: {sum(len(t) for _, t in texts)} characters in {len(texts)} passages, "
              f"{sum(len(WORD.findall(t)) for _, t in texts)} words; {time.perf_counter() - started:.0f} s, "
              f"load average {loads[0]:.2f} {loads[1]:.2f} {loads[2]:.2f}")
        metrics = list(next(iter(rows.values())))
        width = max(len(k) for k in rows) + 2
        print("".ljust(width) + "".join(m.rjust(11) for m in metrics))
        for label, row in rows.items():
            print(label.ljust(width) + "".join(row[m].rjust(11) for m in metrics))
        if args.examples and "today" in configs and "new" in configs:
            _examples(engine, tallies["today: every suggestion"], new, default, args.examples)


def _speed(engine: Engine, count: int) -> None:
    """Latency of today's engine and the new one at the same pauses, the two taking turns (which
    goes first alternates), so that a change in the machine's load falls on both alike."""
    before, text = passages("austen", 3000)[0]
    ends, firsts = pauses(text)
    places = sorted(ends | firsts)[:count]
    engines = {"today": app_params(temperature=0.0, real_words=False, document_cache=False, **ALTERNATIVES),
               "new": app_params(temperature=0.0, **ALTERNATIVES)}
    times: dict[str, list[float]] = {label: [] for label in engines}
    engine.reset()
    engine.generate(before, engines["new"])  # the document before: loaded once, as in the editor
    for n, i in enumerate(places):
        for label in (("today", "new") if n % 2 == 0 else ("new", "today")):
            t0 = time.perf_counter()
            engine.generate(before + text[:i], engines[label])
            times[label].append((time.perf_counter() - t0) * 1e3)
    for label, got in times.items():
        print(f"{label}: {len(got)} pauses, median {statistics.median(got):.0f} ms, "
              f"90th percentile {sorted(got)[int(0.9 * len(got))]:.0f} ms")
    print(f"new / today, median: {statistics.median(times['new']) / statistics.median(times['today']):.2f}; "
          f"load average {os.getloadavg()[0]:.2f}")


def _examples(engine: Engine, before: Tally, new: Config, thresholds: tuple[float, float], count: int) -> None:
    """Before/after at the same places: today's suggestion, the new one (or nothing shown)."""
    print(f"\nbefore/after (new at the default thresholds {thresholds[0]:.2f} / {thresholds[1]:.2f}): "
          "...prompt end | today | new || real")
    step = max(1, len(before.examples) // count)
    for key, document, old, real in before.examples[::step][:count]:
        after = shown(new.ask(engine, document, key), thresholds, document)
        print(f"  ...{document[-40:]!r} | {old or 'nothing shown'!r} | {after or 'nothing shown'!r} || {real[:40]!r}")


if __name__ == "__main__":
    main()
