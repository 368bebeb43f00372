"""Model installs: download throughput from a hub on 127.0.0.1, and the time to import a
checkpoint of the GPT-2 124M configuration (random weights).

    python bench/bench_models.py [--mb 256] [--rounds 3] [--import-124m]

Download: app.hub.download (Range-resumable, sha256 computed while writing, fsync, rename)
against a plain loop that reads the same HTTP response into a file with the same HTTP client
and chunk size, in alternating rounds; each row reports its best round. The difference is the
cost of the checks. The local server is the test suite's fake hub, so the figures are an upper
bound set by this machine, not by a network.

Import (optional, slow): a 124M-parameter checkpoint in Hugging Face layout through
app.installer.install (export to int8 + fp16, each graph checked against PyTorch, fp16 hf/).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fake_hub import FakeHub  # noqa: E402


def plain_get(url: str, dest: Path) -> None:
    from huggingface_hub.utils import get_session

    with get_session().stream("GET", url, follow_redirects=True) as r, open(dest, "wb") as out:
        for chunk in r.iter_bytes(1 << 20):
            out.write(chunk)


def main() -> None:
    ap = argparse.ArgumentParser(allow_abbrev=False)
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--import-124m", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-models-"))
    os.environ["INKWELL_HOME"] = str(work / "home")
    try:
        src = work / "src"
        src.mkdir()
        (src / "config.json").write_text('{"model_type": "gpt2"}')
        (src / "model.safetensors").write_bytes(os.urandom(args.mb << 20))
        hub_server = FakeHub().start()
        hub_server.add_folder("bench/model", src)
        os.environ["HF_ENDPOINT"] = hub_server.url
        from app import hub

        size = (src / "model.safetensors").stat().st_size
        best = {"plain GET to a file (baseline)": float("inf"), "app.hub.download (checked)": float("inf")}
        url = f"{hub_server.url}/bench/model/resolve/main/model.safetensors"
        for _ in range(args.rounds):
            t = time.perf_counter()
            plain_get(url, work / "plain.bin")
            best["plain GET to a file (baseline)"] = min(best["plain GET to a file (baseline)"], time.perf_counter() - t)
            (work / "plain.bin").unlink()
            dest = work / "dl"
            t = time.perf_counter()
            hub.download(hub.plan("bench/model"), dest, check_disk=False)
            best["app.hub.download (checked)"] = min(best["app.hub.download (checked)"], time.perf_counter() - t)
            shutil.rmtree(dest)
        hub_server.stop()
        print(f"download of {size / 1e6:.0f} MB from 127.0.0.1, best of {args.rounds}")
        print(f"{'method':<34} {'seconds':>8} {'MB/s':>8}")
        for name, secs in best.items():
            print(f"{name:<34} {secs:>8.2f} {size / 1e6 / secs:>8.0f}")

        if args.import_124m:
            import torch

            from app import installer
            from core.config import GPT2Config
            from model.gpt2 import GPT2
            from model.hf import save_gpt2

            torch.manual_seed(0)
            ckpt = work / "gpt2-124m-random"
            save_gpt2(GPT2(GPT2Config()).eval(), ckpt)
            marks = []
            t = time.perf_counter()
            installer.install(ckpt, emit=lambda e: marks.append((time.perf_counter() - t, e))
                              if e["event"] == "export" else None)
            total = time.perf_counter() - t
            print(f"\nimport of a 124M-parameter checkpoint (int8 + fp16), {os.cpu_count()} CPUs")
            print(f"{'step':<58} {'at s':>7}")
            for at, e in marks:
                if e["message"].startswith(("loaded", "fp32 matches", "int8:", "fp16:", "Hugging", "wrote")):
                    print(f"{e['message'][:58]:<58} {at:>7.1f}")
            print(f"{'total':<58} {total:>7.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
