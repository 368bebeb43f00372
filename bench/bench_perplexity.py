"""Held-out perplexity of model bundles, side by side, on the text the bundled model never saw.

    python bench/bench_perplexity.py [BUNDLE ...] [--baseline COMMIT]

Persuasion from "Chapter 21" twice, and the books of the authors model.corpus_prep holds out
(runs/corpus/heldout-authors, where prepared). Persuasion: unwrapped into paragraphs (as a writer's text looks, and as
the bundled model is trained since prose-shaped training) and as the e-text prints it (a line
break every ~70 characters, what the first bundled model was trained and measured on). Scored in
fp32 with PyTorch from each bundle's hf/ checkpoint, in consecutive windows of the model's
context (as training evaluates). Perplexities over different tokenizations are not comparable,
so bits per character are shown too: the same text costs the same number of characters.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_suggestions import AUTHORS, BASELINE_COMMIT, BUNDLED, CORPUS, baseline_folder
from core.prose import normalise_prose
from core.tokenizer import encode
from model.hf import load_gpt2
from model.train_data import eval_windows


def held_out(raw: str) -> str:
    start = next(i for i, line in enumerate(raw.splitlines(keepends=True)) if line.strip().startswith("Chapter 21"))
    return "".join(raw.splitlines(keepends=True)[start:])


def score(model, text: str) -> tuple[float, float]:
    """(perplexity per token, bits per character)."""
    tokens = np.asarray(encode(text), dtype=np.int64)
    total, count = 0.0, 0
    with torch.no_grad():
        for w in eval_windows(tokens, model.config.n_positions):
            x = torch.from_numpy(w)[None]
            loss = model.loss(x[:, :-1], x[:, 1:]).item()
            total += loss * (len(w) - 1)
            count += len(w) - 1
    return math.exp(total / count), total / math.log(2) / len(text)


def main() -> None:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    ap.add_argument("bundles", nargs="*", default=[str(BUNDLED)])
    ap.add_argument("--baseline", default=BASELINE_COMMIT)
    args = ap.parse_args()
    torch.set_num_threads(2)
    raw = (CORPUS / "persuasion.txt").read_text(encoding="utf-8")
    texts = {"unwrapped": held_out(normalise_prose(raw)), "as printed": held_out(raw)}
    if AUTHORS.is_dir():  # writers no bundle was trained on (model.corpus_prep's held-out authors)
        texts["held-out authors"] = "\n\n".join(f.read_text(encoding="utf-8") for f in sorted(AUTHORS.glob("*.txt")))
    else:
        print(f"(no {AUTHORS}: run python -m model.corpus_prep to score the held-out authors too)")
    with tempfile.TemporaryDirectory() as tmp:
        folders = [baseline_folder(args.baseline, Path(tmp))] + [Path(b) for b in args.bundles]
        print(f"{'bundle':<44}{'params':>8}{'ctx':>6}" + "".join(f"{k + ' ppl':>18}{'bits/char':>11}" for k in texts))
        for folder in folders:
            model = load_gpt2(folder / "hf").float().eval()
            cells = []
            for text in texts.values():
                ppl, bpc = score(model, text)
                cells.append(f"{ppl:>18.1f}{bpc:>11.3f}")
            label = f"{folder.name} ({'baseline ' + args.baseline if folder == folders[0] else folder.parent.name})"
            print(f"{label:<44}{model.config.num_parameters() / 1e6:>7.1f}M{model.config.n_positions:>6}" + "".join(cells))


if __name__ == "__main__":
    main()
