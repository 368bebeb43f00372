"""What a writer of today sees: suggestions for modern writing (emails, a short story, an essay, a
cover letter), paused after finished words and inside words, from two models side by side, and
story passages from the model under test.

    python bench/bench_modern.py [--model DIR] [--baseline DIR|COMMIT]

Suggestions use the app's default settings with greedy decoding (what the editor shows first);
stories the app's default story sampling with a fixed seed. The baseline defaults to the bundled
model of bench_suggestions.BASELINE_COMMIT.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.engine import Engine
from app.generation import show_thresholds
from bench.bench_suggestions import BASELINE_COMMIT, BUNDLED, app_params, baseline_folder

# (kind, text before the cursor): each ends after a finished word ("… the ") or inside one.
PROMPTS = (
    ("email", "Hi Sarah,\n\nThanks for sending the draft so quickly. I wanted to let you know that the "),
    ("email", "Hi Sarah,\n\nCould we schedule a "),
    ("email", "Dear Mr. Patel,\n\nThank you for your letter of the 4th. I am writing to confirm that"),
    ("email", "Hello team,\n\nJust a quick reminder that the meeting has been moved to Thursday, so please"),
    ("email", "Hi Tom, sorry for the late reply. I was still unre"),
    ("email", "Best wishes for the new year, and thank you again for all your hel"),
    ("story", "The spreadsheet was still open on her screen when the phone rang. She"),
    ("story", "He took the key out of his pocket and"),
    ("story", "By the end of the "),
    ("story", "Rain had been falling since morning, and the streets of the old town were"),
    ("story", "\"Where have you been?\" she asked. He shrugged and looked away, as if"),
    ("story", "The last train left at midnight. Nobody on the platform noticed the girl with the red suit"),
    ("essay", "The most important lesson I learned from my grandmother was that"),
    ("essay", "In the nineteenth century, most people in Europe lived in small villages, and their lives"),
    ("essay", "There are three reasons why cities should invest in public transport. First,"),
    ("essay", "It is often said that technology makes us lonelier, but the evid"),
    ("cover letter", "Dear Hiring Manager,\n\nI am writing to apply for the position of"),
    ("cover letter", "In my previous role at a small publishing house, I was responsible for"),
    ("cover letter", "I would welcome the opportunity to discuss how my experience could"),
    ("cover letter", "Thank you for your time and consid"),
    ("diary", "Today was one of those days when nothing goes right. First the"),
    ("diary", "We walked along the river until the sun went down, and I thought about"),
)
STORIES = (
    "The train was late again, and Maya had already read every poster on the platform when",
    "Dear Sam,\n\nI hope this letter finds you well. Since you left, the house has",
    "Nobody in the village had ever seen the stranger before, but",
)


def main() -> None:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(BUNDLED), help="model bundle under test (default: the bundled one)")
    ap.add_argument("--baseline", default=BASELINE_COMMIT, help="bundle folder, or a commit whose bundled model to use")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    greedy = app_params(temperature=0.0)
    always = app_params(temperature=0.0, **show_thresholds("often"))  # "Show suggestions: often": every one the model makes
    with tempfile.TemporaryDirectory() as tmp:
        old = Engine.load(baseline_folder(args.baseline, Path(tmp)), provider="cpu", threads=args.threads)
        new = Engine.load(Path(args.model), provider="cpu", threads=args.threads)
        print(f"Suggestions (greedy): ...prompt end | {old.status.model_name} (baseline) | {new.status.model_name}; "
              f"each model's suggestion, and what the app shows by default (min_show {greedy.min_show}, "
              f"{greedy.min_show_completion} for a completion)\n")
        for kind, prompt in PROMPTS:
            shown = new.generate(prompt, greedy).text
            print(f"[{kind}] ...{prompt[-50:]!r}\n    old: {old.generate(prompt, always).text!r}\n"
                  f"    new: {new.generate(prompt, always).text!r}   shown: {shown!r}" + ("" if shown else " (nothing)"))
        story = app_params("story", max_new_tokens=120, seed=7)
        print(f"\nStory passages of {new.status.model_name} (120 tokens, app default sampling, seed 7), verbatim:")
        for prompt in STORIES:
            print(f"\n--- {prompt!r}\n{prompt}{new.generate(prompt, story).text}")


if __name__ == "__main__":
    main()
