"""Opening files of very many short or empty lines, in the real main window, against an older Inkwell.

    python bench/bench_many_lines.py [--baseline-ref HEAD~1 | --no-baseline] [--scale 1.0] [--timeout 600]

Documents: 3,000,000 empty lines (3 MB) and 1,000,000 short lines ("l0".."l9", 3 MB), times
--scale. Each runs in a child process of its own, with this tree's code and with the baseline's
(bench_large_docs.baseline_tree: a `git archive` of --baseline-ref).

Measured, offscreen, in a 1100x760 window, from asking to open the file to the text being in the
editor: wall time and the process's CPU time; the longest turn of the event loop (a 2 ms timer
stamps each turn) in wall time and in the window thread's CPU time. The CPU figures hold on a
machine busy with other work, where wall times mostly measure the wait for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_large_docs import baseline_tree, wait_until

ROOT = Path(__file__).resolve().parent.parent
CASES = {"empty": ("empty lines", 3_000_000, lambda n: "\n" * n),
         "short": ("short lines", 1_000_000, lambda n: "".join(f"l{i % 10}\n" for i in range(n)))}


def child(path: str, timeout: float) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    _app = QApplication([sys.argv[0]])  # (kept for the run)
    stamps: list[tuple[float, float]] = []  # (wall, window thread's CPU) at each turn
    probe = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=2)
    probe.timeout.connect(lambda: stamps.append((time.perf_counter(), time.thread_time())))

    spin_until = wait_until

    from app.settings import Settings
    from app.ui.main_window import MainWindow

    settings = Settings.load()
    settings.update({"auto_suggest": False, "model": ""})
    window = MainWindow(settings)
    window.resize(1100, 760)
    window.show()
    spin_until(lambda: False, 0.3)
    probe.start()
    wall0, cpu0, thread0 = time.perf_counter(), time.process_time(), time.thread_time()
    window.files.load_file(path)
    spin_until(lambda: not window.files.loading, timeout)
    wall1, cpu1, thread1 = time.perf_counter(), time.process_time(), time.thread_time()
    marks = [(wall0, thread0)] + stamps + [(wall1, thread1)]
    result = {"open_s": wall1 - wall0, "cpu_s": cpu1 - cpu0, "done": not window.files.loading,
              "gap_ms": max((b[0] - a[0]) * 1e3 for a, b in zip(marks, marks[1:])),
              "turn_cpu_ms": max((b[1] - a[1]) * 1e3 for a, b in zip(marks, marks[1:]))}
    window.editor.document().setModified(False)
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # (closing a window of millions of paragraphs takes long and measures nothing)


def run(code: Path, path: Path, timeout: float, home: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "QT_QPA_PLATFORM": "offscreen", "INKWELL_HOME": str(home)}
    try:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(path),
                               "--timeout", str(timeout)], env=env, cwd=str(code), capture_output=True,
                              text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        return {"error": f"not open after {timeout:.0f} s"}
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    return json.loads(line[7:]) if line else {"error": f"exit {done.returncode}: {done.stderr.strip()[-200:]}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-ref", default="HEAD~1")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--scale", type=float, default=1.0, help="the documents' sizes, times this")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one open may take")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.timeout)
        return 0
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
          f"scale {args.scale}")
    print()
    print("| document | code | open (wall) | open (CPU) | longest turn (wall) | longest turn (window thread CPU) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="inkwell-bench-") as tmp:
        folder = Path(tmp)
        codes = [("new", ROOT)] + ([] if args.no_baseline else
                                   [(f"baseline {args.baseline_ref}", baseline_tree(args.baseline_ref, folder))])
        for case, (label, lines, make) in CASES.items():
            n = round(lines * args.scale)
            path = folder / f"{case}.txt"
            path.write_text(make(n), encoding="utf-8")
            for name, code in codes:
                r = run(code, path, args.timeout, folder / f"home-{case}-{name.split()[0]}")
                cells = [r["error"]] if "error" in r else [
                    f"{r['open_s']:.2f} s" + ("" if r["done"] else " (not done)"), f"{r['cpu_s']:.2f} s",
                    f"{r['gap_ms']:.0f} ms", f"{r['turn_cpu_ms']:.0f} ms"]
                print(f"| {n:,} {label} | {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
