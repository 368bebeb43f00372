"""Suggestion quality: would a writer accept what the model suggests?

    python bench/bench_suggestions.py [--model DIR] [--baseline DIR|COMMIT] [--boundaries N]

At N word boundaries of held-out prose (Persuasion from "Chapter 21", the text the bundled
model never saw, unwrapped into paragraphs as a writer would type it), each model suggests how
the text goes on with the app's default settings and greedy decoding. Reported per model, side
by side in one run:

  next word      the real next word (or punctuation mark) comes first
  saved keys     characters a writer would not type by accepting the suggestion's right
                 prefix word by word (Ctrl+Right per word, or Tab for all of it), per suggestion
  line breaks    suggestions with a line break where the paragraph goes on
  glued          suggestions that glue letters onto the finished last word ("she" -> "sheltered")
  words          mean suggestion length in words
  loops          suggestions that repeat three words of their own ("able to be able to be able")
  mid-word       at cuts inside a word ("a goo"): the suggestion completes the word / correctly

then verbatim suggestions and story passages of the model under test. The baseline defaults to
the bundled model of the commit before the current one was trained (taken from git).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import settings as app_settings
from app.engine import Engine, GenerationParams
from app.generation import params_for, show_thresholds
from core.prose import normalise_prose

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "resources" / "models" / "inkwell-fiction"
CORPUS = next((p / "shared" / "data" / "corpus" / "austen" for p in (ROOT.parent, ROOT.parent.parent)
               if (p / "shared" / "data" / "corpus" / "austen").is_dir()), None)
# The bundle before this one: the 16-layer Austen-only model (e9fc9d6: the 12-layer one; f0dcce7:
# the 6-layer one; f3eccae: the first).
BASELINE_COMMIT = "c42f79d"
UNIT = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")
STORY_PROMPTS = (
    "The train was late again, and Maya had already read every poster on the platform when",
    "\"I cannot pretend to be sorry,\" said Elizabeth,",
    "The letter arrived on a wet morning in November, and",
)


# The held-out authors' books as model.corpus_prep writes them (never trained on by any bundle).
AUTHORS = ROOT / "runs" / "corpus" / "heldout-authors"


def held_out_paragraphs(text: str = "austen") -> list[str]:
    """Paragraphs of at least 30 words of held-out prose: Persuasion from "Chapter 21" ("austen"),
    or the books of the authors model.corpus_prep holds out ("authors")."""
    if text == "authors":
        if not AUTHORS.is_dir():
            sys.exit(f"no {AUTHORS}: run python -m model.corpus_prep first (see model/recipes/inkwell-fiction.json)")
        books = [f.read_text(encoding="utf-8") for f in sorted(AUTHORS.glob("*.txt"))]
        return [p for book in books for p in book.split("\n\n") if len(p.split()) >= 30]
    if CORPUS is None:
        sys.exit("no corpus: ../shared/data/corpus/austen is missing")
    whole = normalise_prose((CORPUS / "persuasion.txt").read_text(encoding="utf-8"))
    start = whole.index("\nChapter 21\n")
    return [p for p in whole[start:].split("\n\n") if len(p.split()) >= 30]


def boundaries(paragraphs: list[str], n: int, seed: int = 21, mid_word: bool = False) -> list[tuple[str, str]]:
    """(prompt, what really follows) at ``n`` places: right after a finished word, or inside one."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        i = rng.randrange(len(paragraphs))
        para = paragraphs[i]
        words = list(re.finditer(r"[A-Za-z]{5,}" if mid_word else r"[A-Za-z]+", para))
        if len(words) < 20:
            continue
        m = words[rng.randrange(8, len(words) - 8)]
        cut = m.start() + rng.randrange(2, len(m.group()) - 1) if mid_word else m.end()
        before = "\n\n".join(paragraphs[max(0, i - 3): i] + [para[:cut]])
        out.append((before, para[cut:]))
    return out


def units(text: str) -> list[str]:
    return UNIT.findall(text)


def saved_keystrokes(suggestion: str, real: str) -> int:
    """Characters of the suggestion's longest whole-word prefix that matches the real text, less
    one key per word accepted (or one Tab when all of it matches)."""
    pieces = re.findall(r"\s*(?:\w+(?:['\u2019]\w+)*|[^\w\s])", suggestion)
    matched, accepted = 0, 0
    for piece in pieces:
        if real.startswith(suggestion[:matched + len(piece)]):
            matched += len(piece)
            accepted += 1
        else:
            break
    if matched == 0:
        return 0
    keys = 1 if matched == len(suggestion.rstrip()) else accepted
    return max(0, matched - keys)


def loops(text: str) -> bool:
    words = [w.lower() for w in units(text)]
    trigrams = list(zip(words, words[1:], words[2:]))
    return len(set(trigrams)) < len(trigrams)


def measure(engine: Engine, params: GenerationParams, places, mid) -> dict:
    firsts = saved = breaks = glued = looped = 0
    lengths, times = [], []
    for before, real in places:
        t0 = time.perf_counter()
        text = engine.generate(before, params).text
        times.append((time.perf_counter() - t0) * 1e3)
        got, want = units(text), units(real)
        firsts += bool(got and want and got[0] == want[0] and text[:1].isspace() == real[:1].isspace())
        saved += saved_keystrokes(text, real)
        breaks += "\n" in text.rstrip("\n") and "\n" not in real[: len(text) + 1]
        glued += text[:1].isalnum()
        looped += loops(text)
        lengths.append(len(text.split()))
    completes = correct = 0
    for before, real in mid:
        text = engine.generate(before, params).text
        rest = re.match(r"[A-Za-z]*", real).group()
        completes += text[:1].isalpha()
        correct += text.startswith(rest) and not text[len(rest):len(rest) + 1].isalpha()
    n, k = len(places), len(mid)
    return {
        "next word": f"{100 * firsts / n:.0f}%",
        "saved keys": f"{saved / n:.2f}",
        "line breaks": f"{100 * breaks / n:.1f}%",
        "glued": f"{100 * glued / n:.1f}%",
        "words": f"{statistics.mean(lengths):.1f}",
        "loops": f"{100 * looped / n:.1f}%",
        "mid-word completed": f"{100 * completes / k:.0f}%",
        "mid-word correct": f"{100 * correct / k:.0f}%",
        "ms (median)": f"{statistics.median(times):.0f}",
    }


def app_params(kind: str = "suggestion", **overrides) -> GenerationParams:
    """The request a new user's window makes (default settings), with ``overrides``."""
    params = params_for(app_settings.Settings(Path(tempfile.gettempdir()) / "unused.json"), kind)
    for k, v in overrides.items():
        setattr(params, k, v)
    return params.validate()


def baseline_folder(spec: str, tmp: Path) -> Path:
    """A bundle folder as given, or the bundled model of commit ``spec`` (taken from git)."""
    if Path(spec).is_dir():
        return Path(spec)
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{spec}:resources/models"],
                            check=True, capture_output=True, text=True).stdout.split()
    name = listed[0]  # one bundled model per commit
    dest = tmp / "baseline"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", spec, f"resources/models/{name}"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "resources" / "models" / name


def main() -> None:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(BUNDLED), help="model bundle under test (default: the bundled one)")
    ap.add_argument("--baseline", default=BASELINE_COMMIT, help="bundle folder, or a commit whose bundled model to use")
    ap.add_argument("--boundaries", type=int, default=120)
    ap.add_argument("--text", choices=("austen", "authors"), default="austen",
                    help="held-out Persuasion, or the books of the held-out authors (model.corpus_prep)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--own-ngram", type=int, help="no_repeat_own_ngram_size of the suggestions "
                    "(default: the app's; 0 shows what the loop ban changes)")
    args = ap.parse_args()

    paragraphs = held_out_paragraphs(args.text)
    places = boundaries(paragraphs, args.boundaries)
    mid = boundaries(paragraphs, max(20, args.boundaries // 4), seed=22, mid_word=True)
    own = {} if args.own_ngram is None else {"no_repeat_own_ngram_size": args.own_ngram}
    # Every suggestion the model makes (min_show 0): what the model writes, not what the app's
    # confidence threshold lets through (bench/bench_keystrokes.py measures that policy).
    greedy = app_params(temperature=0.0, **show_thresholds("often"), **own)
    with tempfile.TemporaryDirectory() as tmp:
        models = {"baseline": baseline_folder(args.baseline, Path(tmp)), "model": Path(args.model)}
        rows = {}
        for label, folder in models.items():
            engine = Engine.load(folder, provider="cpu", threads=args.threads)
            rows[f"{label}: {engine.status.model_name} ({engine.context_length} ctx)"] = measure(engine, greedy, places, mid)
        where = ("held-out Persuasion (from Chapter 21)" if args.text == "austen"
                 else f"the held-out authors' books ({AUTHORS.relative_to(ROOT)})")
        print(f"\n{len(places)} word boundaries and {len(mid)} mid-word cuts of {where}; "
              f"app defaults, greedy: length={greedy.length}, max {greedy.max_new_tokens} tokens, "
              f"{greedy.num_alternatives} alternatives, min_confidence={greedy.min_confidence}, "
              f"no_repeat_own_ngram_size={greedy.no_repeat_own_ngram_size}\n")
        metrics = list(next(iter(rows.values())))
        width = max(len(k) for k in rows) + 2
        print("".ljust(width) + "".join(m.rjust(20) for m in metrics))
        for label, row in rows.items():
            print(label.ljust(width) + "".join(row[m].rjust(20) for m in metrics))

        engine = Engine.load(models["model"], provider="cpu", threads=args.threads)
        print("\nSuggestions (greedy, app defaults), verbatim: ...prompt end | suggestion || what the book has")
        for before, real in places[:8]:
            print(f"  ...{before[-60:]!r} | {engine.generate(before, greedy).text!r} || {real[:60]!r}")
        print("\nMid-word: ...prompt end | suggestion")
        for before, _real in mid[:4]:
            print(f"  ...{before[-40:]!r} | {engine.generate(before, greedy).text!r}")
        story = app_params("story", max_new_tokens=120, seed=7)
        print("\nStory passages (120 tokens, app default sampling, seed 7), verbatim:")
        for prompt in STORY_PROMPTS:
            print(f"\n--- {prompt}\n{prompt}{engine.generate(prompt, story).text}")


if __name__ == "__main__":
    main()
