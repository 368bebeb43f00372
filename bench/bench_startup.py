"""Start-up time to a visible window: the standalone build against running from source.

    python bench/bench_startup.py [--bundle dist/inkwell] [--runs 5]

Starts its own Xvfb (a real X server: the xcb platform, as on a desktop) unless DISPLAY is set,
and times, from the moment the process is started, until the program prints that its main
window has been exposed and painted (INKWELL_QUIT_WHEN_SHOWN, see app/ui/gui.py) — the same moment
for both. Each run gets a fresh INKWELL_HOME, as on a first start.

- cold: the first run after asking the kernel to drop every file the program reads from the page
  cache (posix_fadvise DONTNEED on the bundle folder, or on the interpreter, the standard library,
  the site-packages it imports and this checkout); pages that other processes have mapped stay.
- warm: the following runs, files cached. Source and bundle alternate, so that whatever else the
  machine is doing falls on both.

Baseline: running from source (python -m app.cli). Ratio = standalone / source.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOWN = "inkwell: window shown"
# What ``python -m app.cli`` reads on its way to the window (torch is never imported).
SOURCE_PACKAGES = ("PySide6", "shiboken6", "onnxruntime", "numpy", "numpy.libs", "tiktoken", "regex",
                   "platformdirs")


def evict(paths: list[Path]) -> int:
    """Drop these files from the page cache; the number of bytes asked for."""
    total = 0
    for top in paths:
        files = [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file() and not p.is_symlink()]
        for path in files:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                total += os.fstat(fd).st_size
            finally:
                os.close(fd)
    return total


def source_files() -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    libpython = Path(sysconfig.get_config_var("LIBDIR") or "") / (sysconfig.get_config_var("LDLIBRARY") or "")
    found = [Path(sys.executable).resolve(), Path(sysconfig.get_paths()["stdlib"]), ROOT / "app", ROOT / "model",
             ROOT / "resources"]
    found += [site / name for name in SOURCE_PACKAGES if (site / name).exists()]
    return found + ([libpython] if libpython.is_file() else [])


def start_xvfb() -> tuple[subprocess.Popen, str]:
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        display = pipe.readline().strip()
    if not display:
        raise SystemExit("Xvfb did not start")
    return server, f":{display}"


def time_to_window(command: list[str], env: dict) -> float:
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env={**env, "INKWELL_HOME": home}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        for line in proc.stdout:
            if line.startswith(SHOWN):
                elapsed = time.perf_counter() - started
                break
        else:
            proc.wait()
            raise SystemExit(f"{command[0]} exited ({proc.returncode}) without showing its window:\n"
                             f"{proc.stderr.read()[-2000:]}")
        proc.communicate(timeout=60)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "inkwell",
                        help="the standalone build's folder (python -m PyInstaller packaging/inkwell.spec)")
    parser.add_argument("--runs", type=int, default=5, help="warm runs of each")
    args = parser.parse_args(argv)
    program = args.bundle / "inkwell"
    if not program.is_file():
        raise SystemExit(f"{program} not found: build it with  python -m PyInstaller --noconfirm packaging/inkwell.spec")

    server = None
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "PYTHONPATH", "INKWELL_HOME")}
    if not env.get("DISPLAY"):
        server, env["DISPLAY"] = start_xvfb()
    env["INKWELL_QUIT_WHEN_SHOWN"] = "1"
    env["QT_QPA_PLATFORM"] = "xcb"
    kinds = {
        "from source (python -m app.cli)": ([sys.executable, "-m", "app.cli"], {**env, "PYTHONPATH": str(ROOT)},
                                            source_files()),
        f"standalone ({args.bundle.name}/inkwell)": ([str(program)], env, [args.bundle]),
    }
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cold, warm, evicted = {}, {name: [] for name in kinds}, {}
    try:
        for name, (command, kind_env, files) in kinds.items():
            evicted[name] = evict(files)
            cold[name] = time_to_window(command, kind_env)
        for _ in range(args.runs):
            for name, (command, kind_env, _files) in kinds.items():
                warm[name].append(time_to_window(command, kind_env))
    finally:
        if server is not None:
            server.terminate()
            server.wait()

    size = sum(p.stat().st_size for p in args.bundle.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"load before: {load}   after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}   "
          f"cpus: {os.cpu_count()}   warm runs: {args.runs}   display: {env['DISPLAY']} (xcb)")
    print(f"standalone folder: {size / 2**20:.0f} MiB ({size:,} bytes)")
    print()
    print("Time from starting the process to its main window exposed and painted:")
    print()
    print(f"| {'start':<34} | {'cold':>8} | {'warm median':>11} | {'warm best':>9} | {'ratio (median)':>14} | evicted")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 13}|{'-' * 11}|{'-' * 16}|--------")
    base = statistics.median(warm[next(iter(kinds))])
    for name in kinds:
        median = statistics.median(warm[name])
        print(f"| {name:<34} | {cold[name]:>6.2f} s | {median:>9.2f} s | {min(warm[name]):>7.2f} s "
              f"| {median / base:>13.2f}x | {evicted[name] / 2**20:.0f} MiB")
    source, frozen = kinds
    print()
    print(f"cold ratio (standalone / source): {cold[frozen] / cold[source]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
