"""Where a keystroke's time goes: the model's runs against the app's own work, with a baseline
revision of the code measured in the same run.

    python bench/bench_keystroke_parts.py [--model FOLDER ...] [--baseline REV] [--threads 1]
                                          [--rounds 8]

A keystroke here is what the editor asks on each typed character: the text before the cursor (its
last PROMPT_CHARS characters, app/ui/editor.py) goes to Engine.generate for an 8-token suggestion,
the previous one already made. The text is the end of a book of the shared fiction corpus, as a
writer's document: curly apostrophes, dashes, paragraphs. For each model (default: the bundled
one) the bench types "the quick brown" after it, ``--rounds`` times, and reports the medians of:

- the whole keystroke (Engine.generate);
- ONNX Runtime: the model's forward passes (Decoder.run), what a smaller model makes faster;
- the app: the rest (the text made canonical, the window's tokens, the document cache, sampling,
  the suggestion's text), the same for any model.

Baseline: the same, with the engine of ``--baseline`` (default HEAD) checked out in a temporary
worktree; the two take turns in child processes, each first in every other round, so that the
machine's drift falls on both. Ratio = baseline / now (above 1: now is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TYPED = "the quick brown"
CORPUS = next((p / "shared" / "data" / "corpus" / "fiction" / "books" for p in (ROOT.parent, ROOT.parent.parent)
               if (p / "shared" / "data" / "corpus" / "fiction" / "books").is_dir()), None)

# The child: run from a checkout's root (this one or the baseline's worktree), it imports that
# checkout's engine and prints each keystroke's (whole, ONNX Runtime) milliseconds as JSON.
CHILD = r"""
import json, sys, time
sys.path.insert(0, ".")
from app.engine import Engine, GenerationParams
folder, text_file, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = Engine.load(folder, provider="cpu", variant="int8", threads=threads)
model_ns = [0]
run = engine.decoder.run
def timed(*args, **kwargs):
    t0 = time.perf_counter_ns()
    try:
        return run(*args, **kwargs)
    finally:
        model_ns[0] += time.perf_counter_ns() - t0
engine.decoder.run = timed
text = open(text_file, encoding="utf-8").read()
params = GenerationParams(max_new_tokens=8, stop_at_eot=False, seed=0)
out = []
for rep in range(2):  # the first pass warms the caches; only the second counts
    engine.reset()
    typed = text
    engine.generate(typed, params)
    for char in sys.argv[4]:
        typed += char
        model_ns[0] = 0
        t0 = time.perf_counter_ns()
        engine.generate(typed, params)
        if rep:
            out.append(((time.perf_counter_ns() - t0) / 1e6, model_ns[0] / 1e6))
print(json.dumps(out))
"""


def editor_text() -> str:
    """What the editor sends at the end of a long document: its last PROMPT_CHARS characters."""
    sys.path.insert(0, str(ROOT))
    from app.ui.editor import PROMPT_CHARS

    if CORPUS is None:
        raise SystemExit("the shared fiction corpus (shared/data/corpus/fiction/books) is not beside this checkout")
    book = sorted(CORPUS.glob("*.txt"))[0].read_text(encoding="utf-8")
    return book[len(book) // 2 - PROMPT_CHARS : len(book) // 2]


def measure(code: Path, model: Path, text_file: Path, threads: int) -> list[tuple[float, float]]:
    env = {**os.environ, "OMP_NUM_THREADS": str(max(threads, 1))}
    done = subprocess.run([sys.executable, "-c", CHILD, str(model), str(text_file), str(threads), TYPED],
                          cwd=code, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the keystroke child in {code} failed:\n{done.stderr[-2000:]}")
    return [tuple(x) for x in json.loads(done.stdout.strip().splitlines()[-1])]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", type=Path, help="a model bundle folder (repeat for more)")
    p.add_argument("--baseline", default="HEAD", help="the git revision to compare against (default HEAD)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (0: automatic)")
    p.add_argument("--rounds", type=int, default=8)
    args = p.parse_args()
    models = args.model or [ROOT / "resources" / "models" / "inkwell-fiction"]
    with tempfile.TemporaryDirectory(prefix="inkwell-keystroke-") as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.baseline], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            text = editor_text()
            text_file = Path(tmp) / "text.txt"
            text_file.write_text(text, encoding="utf-8")
            rows = []
            for model in models:
                seen: dict[str, list[tuple[float, float]]] = {"now": [], "baseline": []}
                for round_ in range(args.rounds):  # each goes first in every other round
                    for code in (("baseline", "now") if round_ % 2 == 0 else ("now", "baseline")):
                        seen[code] += measure(base if code == "baseline" else ROOT, model, text_file, args.threads)
                rows.append((model.name, {k: _medians(v) for k, v in seen.items()}))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False,
                           capture_output=True)
    print(f"keystroke after {len(text)} characters, {len(TYPED)} keystrokes x {args.rounds} rounds, "
          f"threads {args.threads or 'automatic'}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'model':22s} {'code':9s} {'keystroke ms':>13s} {'ONNX Runtime ms':>16s} {'app ms':>8s} "
          f"{'keystroke ratio':>16s} {'app ratio':>10s}")
    for name, m in rows:
        for code in ("baseline", "now"):
            whole, model_ms, app = m[code]
            ratio = f"{m['baseline'][0] / whole:.2f}x" if code == "now" else ""
            app_ratio = f"{m['baseline'][2] / app:.2f}x" if code == "now" else ""
            print(f"{name:22s} {code:9s} {whole:13.2f} {model_ms:16.2f} {app:8.2f} {ratio:>16s} {app_ratio:>10s}")
    return 0


def _medians(keystrokes: list[tuple[float, float]]) -> tuple[float, float, float]:
    return (statistics.median(w for w, _ in keystrokes), statistics.median(m for _, m in keystrokes),
            statistics.median(w - m for w, m in keystrokes))


if __name__ == "__main__":
    sys.exit(main())
