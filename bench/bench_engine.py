"""Engine benchmark on the GPT-2 124M configuration with random weights (same compute as GPT-2).

    python bench/bench_engine.py [--bundle DIR] [--rounds N] [--threads N] [--peers]

Without --bundle it exports the model once into ~/.cache/inkwell-bench (a torch subprocess;
this process stays torch-free, like the editor), keeping the Hugging Face checkpoint beside it.
Everything is measured in one run, in rounds that each measure every figure once (so each gets
the same chances of a quiet moment when other processes share the CPU), and printed as a table
with ratios: rates are the best round, latencies the best and the median.

--peers adds Inkwell's peers on the same weights, measured in the same rounds (bench/peers.py),
with ratios Inkwell / peer: llama.cpp (llama-cpp-python, the ``bench`` extra) on a Q8_0 GGUF
(bench/gguf_gpt2.py), with flash attention off and on, and the best plain ONNX Runtime int8 graph
(bench/ort_peer.py; built once by a torch subprocess and cached). Each gets the bench's threads
(--threads, default one per core). Decode: tokens per second of 64 greedy steps after 64 or 512
tokens of context (Inkwell's through the engine, sampling and streaming included; the peers'
a bare loop). Time to first token: from an empty cache, the prompt in, until the first new
token is chosen (Inkwell's: engine.reset(), then a request for one token). A line says whether
each peer computes the same model (its greedy tokens against Inkwell fp32's). Without
llama-cpp-python, --peers measures the ONNX Runtime peer and says how to install the other.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # peers.py and its builders, beside this file

import peers

from app import compress_cli
from app.engine import Engine, GenerationParams
from app.engine.session import Decoder
from core.bundle import Bundle
from core.tokenizer import decode, encode

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "inkwell-bench"


def _source_key(*files: str, extra: str = "") -> str:
    """The first 12 hex digits of a hash of these source files: a changed builder builds afresh."""
    digest = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in files) + extra.encode())
    return digest.hexdigest()[:12]


# Keyed by the exporter's source, so that a changed graph is exported afresh.
_EXPORT_KEY = _source_key("model/export.py", "core/onnx_graph.py")
BUNDLE = CACHE / f"gpt2-124m-random-{_EXPORT_KEY}"
# The project's shared data sits beside the checkout (or beside the folder of worktrees).
CORPUS = next((p / "shared" / "data" / "corpus" / "austen" for p in (ROOT.parent, ROOT.parent.parent)
               if (p / "shared" / "data" / "corpus" / "austen").is_dir()), None)
TARGET_RATIO = 1.25  # decode against llama.cpp
PEER_CONTEXTS = (64, 512)
LATENCIES = ("warm", "cold", "batched", "sequential", "warm1000")
TARGET_KEYSTROKE_MS = 60.0
Figures = dict[str, list[float]]  # each figure's value in every round

_MAKE_CHECKPOINT = """
import sys, torch
from core.config import PRESETS
from model.gpt2 import GPT2
from model.hf import save_gpt2
torch.manual_seed(0)
save_gpt2(GPT2(PRESETS[sys.argv[2]]).eval(), sys.argv[1])
"""
CHECKPOINT = CACHE / f"gpt2-124m-random-hf-{_source_key('model/gpt2.py', 'model/hf.py', extra=_MAKE_CHECKPOINT)}"
# The peers, keyed by their builders' sources and the checkpoint they are built from.
ORT_PEER = CACHE / f"gpt2-124m-random-ort-peer-{_source_key('bench/ort_peer.py', extra=CHECKPOINT.name)}"
GGUF = CACHE / f"gpt2-124m-random-gguf-{_source_key('bench/gguf_gpt2.py', extra=CHECKPOINT.name)}"


def _build_once(final: Path, build: Callable[[Path], None]) -> Path:
    """``build(folder)`` makes a folder that does not exist yet, in a temporary place beside
    ``final``; it is renamed into place when complete, so that an interrupted build never leaves a
    half-written cache entry."""
    if final.exists():
        return final
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix=".building-"))
    try:
        build(tmp / final.name)
        os.replace(tmp / final.name, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def ensure_checkpoint() -> Path:
    """The bundle's Hugging Face checkpoint (the peers are built from it); the same seed makes the
    same weights, so a bundle exported before the checkpoint was kept still matches it (the peers'
    agreement line checks it)."""
    def make(folder: Path) -> None:
        print(f"saving GPT-2 124M (random weights) to {CHECKPOINT} (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-c", _MAKE_CHECKPOINT, str(folder), "gpt2"], check=True, cwd=ROOT)

    return _build_once(CHECKPOINT, make)


def ensure_bundle(preset: str = "gpt2", variants: str = "int8,fp32") -> Path:
    """GPT-2 of the configuration ``preset`` (core.config.PRESETS) with random weights, exported
    once into the cache (the 124M one as BUNDLE, from CHECKPOINT, which is kept for the peers)."""
    bundle = BUNDLE if preset == "gpt2" else CACHE / f"{preset}-random-{_EXPORT_KEY}"

    def export(folder: Path) -> None:
        print(f"exporting {preset} (random weights) to {bundle} (once) ...", file=sys.stderr)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            if preset == "gpt2":
                checkpoint = ensure_checkpoint()
            else:
                checkpoint = Path(tmp)
                subprocess.run([sys.executable, "-c", _MAKE_CHECKPOINT, tmp, preset], check=True, cwd=ROOT)
            subprocess.run([sys.executable, "-m", "model.export", str(checkpoint), str(folder), "--variants", variants,
                            "--hf-dtype", "none", "--name", f"{preset}-random"], check=True, cwd=ROOT)

    return _build_once(bundle, export)


def context_text(n_tokens: int) -> str:
    files = sorted(CORPUS.glob("*.txt")) if CORPUS else []
    source = files[0].read_text(encoding="utf-8")[20000:120000] if files else "The quick brown fox. " * 4000
    return decode(encode(source)[:n_tokens])


def processor() -> str:
    """The CPU's model name (what the figures depend on most), as the system says it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def decode_rate(engine: Engine, ctx: int, repeats: int = 1, tokens: int = 64) -> float:
    text = context_text(ctx)
    params = GenerationParams(max_new_tokens=tokens, heal=False, stop_at_eot=False, seed=0)
    rates = []
    for _ in range(repeats):
        engine.reset()
        rates.append(engine.generate(text, params).decode_tokens_per_s)
    return max(rates)


def bare_rate(engine: Engine, ctx: int, repeats: int, tokens: int = 64) -> float:
    """The graph alone: a plain loop over the same session, greedy, no sampling or streaming
    (on the threads the engine would choose for a request now, as at a request's start)."""
    dec = engine.decoder
    dec.fit_to_load()
    ctx = min(ctx, engine.context_length - tokens)  # a small model's context holds fewer
    ids = encode(context_text(ctx))[:ctx]
    cache = dec.new_cache()
    best = 0.0
    for _ in range(repeats):
        logits = dec.run(np.array([ids]), np.arange(len(ids))[None], cache)
        start = time.perf_counter()
        for i in range(tokens):
            token = np.argmax(logits, axis=-1)[:, None]
            logits = dec.run(token, np.array([[len(ids) + i]]), cache)
        best = max(best, tokens / (time.perf_counter() - start))
    return best


def new_cache_rate(engine: Engine, ctx: int, repeats: int, tokens: int = 64) -> float:
    """The same loop with ``session.run`` on numpy arrays: the graph returns a new cache, past plus
    the new token, at every step (how the cache was passed before it was updated in place). Not
    on the engine measured elsewhere: a session run at many cache lengths stays slower after it
    (ONNX Runtime keeps a memory plan per input shape), by ~15% in the thread rows."""
    dec = engine.decoder
    ctx = min(ctx, engine.context_length - tokens)
    ids = encode(context_text(ctx))[:ctx]
    names = ["logits", *dec.present_names]
    best = 0.0
    for _ in range(repeats):
        past = [np.zeros((1, dec.n_head, 0, dec.head_dim), dec.kv_dtype) for _ in dec.past_names]
        feeds = {"input_ids": np.array([ids]), "position_ids": np.arange(len(ids))[None]}
        logits, *past = dec.session.run(names, {**feeds, **dict(zip(dec.past_names, past))})
        start = time.perf_counter()
        for i in range(tokens):
            feeds = {"input_ids": np.argmax(logits, axis=-1)[:, None], "position_ids": np.array([[len(ids) + i]])}
            logits, *past = dec.session.run(names, {**feeds, **dict(zip(dec.past_names, past))})
        best = max(best, tokens / (time.perf_counter() - start))
    return best


class BusyCore:
    """Another program keeping one core busy, for as long as the ``with`` block runs. ``engine``
    has had a request under the new load when the block starts and after it ends (a writer's
    previous keystroke): automatic threads see the load of the time since then."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __enter__(self) -> BusyCore:
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        self._settle()
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()
        self._settle()

    def _settle(self) -> None:
        self.engine.decoder.fit_to_load()
        time.sleep(1.0)


def keystroke_ms(engine: Engine, reuse: bool, chars: str = "thea", ctx: int = 512) -> list[float]:
    """Add one character to a ``ctx``-token context; time until an 8-token suggestion is complete
    (as ``inkwell compress`` times a copy)."""
    return compress_cli.keystroke_ms(engine, context_text(ctx), chars, reuse)


def alternatives_ms(engine: Engine, batched: bool, seed: int, n: int = 3, tokens: int = 16) -> float:
    text = context_text(512)
    engine.generate(text, GenerationParams(max_new_tokens=1))  # the context is in the cache
    start = time.perf_counter()
    if batched:
        engine.generate(text, GenerationParams(max_new_tokens=tokens, num_alternatives=n, stop_at_eot=False, seed=seed))
    else:
        for i in range(n):
            engine.generate(text, GenerationParams(max_new_tokens=tokens, stop_at_eot=False, seed=seed * n + i))
    return (time.perf_counter() - start) * 1e3


def first_token_ms(engine: Engine, ctx: int) -> float:
    """Time to first token as for the peers (bench/peers.py): from an empty cache, the prompt in,
    until the first new token is chosen; here the engine's whole request, its text handling and
    its prefill in chunks of PREFILL_CHUNK tokens included."""
    engine.reset()
    params = GenerationParams(max_new_tokens=1, heal=False, stop_at_eot=False, seed=0)
    return engine.generate(context_text(ctx), params).total_ms


def ensure_ort_peer() -> Path:
    def build(folder: Path) -> None:
        print(f"building the plain ONNX Runtime int8 graph in {ORT_PEER} (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, str(ROOT / "bench" / "ort_peer.py"), str(ensure_checkpoint()), str(folder)],
                       check=True, cwd=ROOT)

    return _build_once(ORT_PEER, build)


def ensure_gguf() -> Path:
    from gguf_gpt2 import convert

    def build(folder: Path) -> None:
        print(f"converting the checkpoint to GGUF Q8_0 in {GGUF} (once) ...", file=sys.stderr)
        folder.mkdir()
        convert(ensure_checkpoint(), folder / "q8_0.gguf", "q8_0", "gpt2-124m-random")

    return _build_once(GGUF, build) / "q8_0.gguf"


def load_peers(threads: int) -> tuple[list[peers.Peer], list[str]]:
    """The peers this machine can run, and a line for each one it cannot."""
    import ort_peer

    found: list[peers.Peer] = [peers.OrtPeer(ensure_ort_peer() / ort_peer.GRAPH, threads, ort_peer.LABEL)]
    missing = peers.llama_missing()
    if missing:
        return found, [missing]
    return found + peers.llama_peers(ensure_gguf(), threads), []


def agreement(fp32: Engine | None, int8: Engine, found: list[peers.Peer], tokens: int = 32) -> str:
    """Whether the peers compute the same model: their greedy tokens against Inkwell fp32's."""
    if fp32 is None:
        return "agreement not checked: the bundle has no fp32 variant"
    ids = encode(context_text(64))[:64]
    reference = peers.greedy(peers.InkwellGraph(fp32.decoder, "Inkwell fp32"), ids, tokens)
    others = [peers.InkwellGraph(int8.decoder, "Inkwell int8"), *found]
    same = ", ".join(f"{p.name} {peers.same_prefix(reference, peers.greedy(p, ids, tokens))}" for p in others)
    return f"greedy tokens equal to Inkwell fp32's before the first difference (of {tokens}, 64-token prompt): {same}"


def measure_peers(int8: Engine, found: list[peers.Peer], add: Callable[..., None]) -> None:
    for ctx in PEER_CONTEXTS:
        ids = encode(context_text(ctx))[:ctx]
        add(f"ttft{ctx}", first_token_ms(int8, ctx))
        for i, peer in enumerate(found):
            add(f"peer{i}_d{ctx}", peers.decode_rate(peer, ids))
            add(f"peer{i}_ttft{ctx}", peers.first_token_ms(peer, ids))


def measure(bundle: Path, rounds: int, threads: int, with_peers: bool) -> tuple[Figures, Engine, list[str], list[str]]:
    """Every figure once per round, rounds one after another: each figure gets the same chances
    of a quiet moment on a shared machine. Also the peers' names and lines to print about them."""
    int8 = Engine.load(bundle, provider="cpu", threads=threads, variant="int8")
    fp32 = Engine.load(bundle, provider="cpu", threads=threads, variant="fp32") if "fp32" in bundle_variants(bundle) else None
    found, notes = load_peers(threads) if with_peers else ([], [])
    if found:
        notes.append(agreement(fp32, int8, found))
    policies = {name: Engine(_decoder(int8, threads, name), int8.status, int8.context_length)
                for name in ("run", "off", "always")}
    policies["one"] = Engine(_decoder(int8, 1, "run"), int8.status, int8.context_length)
    m: Figures = {}

    def add(key: str, *values: float) -> None:
        m.setdefault(key, []).extend(values)

    for r in range(rounds):
        add("d64", decode_rate(int8, 64, 1))
        add("d512", decode_rate(int8, 512, 1))
        if int8.context_length >= 1024:
            add("d960", decode_rate(int8, 960, 1))  # 64 new tokens fill the 1024-token window
            add("warm1000", *keystroke_ms(int8, True, ctx=1000))
        add("bare512", bare_rate(int8, 512, 1))
        add("new512", new_cache_rate(policies["run"], 512, 1))
        if fp32 is not None:
            add("fp32_64", decode_rate(fp32, 64, 1))
        add("warm", *keystroke_ms(int8, True))
        add("cold", *keystroke_ms(int8, False, "th"))
        add("batched", alternatives_ms(int8, True, r))
        add("sequential", alternatives_ms(int8, False, r))
        measure_peers(int8, found, add)
    measure_threads(int8, policies, rounds, add)
    return m, int8, [p.name for p in found], notes


def measure_threads(int8: Engine, policies: dict[str, Engine], rounds: int, add: Callable[..., None]) -> None:
    """The engine's threads against each fixed choice, idle and then beside a busy core: rounds of
    their own, each choice in a different place of each round (a loop that runs after other work
    is ~10% slower than one after a loop like it)."""
    choices = [("bare64", int8), *((f"{name}64", policy) for name, policy in policies.items())]
    turns = [choices[r % len(choices):] + choices[: r % len(choices)] for r in range(rounds)]
    for turn in turns:
        for key, engine in turn:
            add(key, bare_rate(engine, 64, 1))
    with BusyCore(int8):
        for turn in turns:
            for key, engine in turn:
                add(f"busy_{key}", bare_rate(engine, 64, 1))


def engine_rows(best: dict[str, float], med: dict[str, float], threads: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for ctx, target in ((512, 0.85), (960, 0.75)):
        if f"d{ctx}" in best:
            rows.append((f"decode tok/s, {ctx} ctx, int8", f"{best[f'd{ctx}']:.1f}", f"64 ctx {best['d64']:.1f}",
                         f"{best[f'd{ctx}'] / best['d64']:.2f}x", f">= {target}x"))
    rows.append(("decode tok/s, 64 ctx, int8", f"{best['d64']:.1f}", f"bare ORT loop {best['bare64']:.1f}",
                 f"{best['d64'] / best['bare64']:.2f}x", "engine overhead"))
    rows += _thread_rows(best, med, threads)
    rows.append(("bare loop tok/s, 512 ctx, cache in place", f"{best['bare512']:.1f}",
                 f"new cache every step {best['new512']:.1f}", f"{best['bare512'] / best['new512']:.2f}x",
                 "cache passing"))
    if "fp32_64" in best:
        rows.append(("decode tok/s, 64 ctx, int8", f"{best['d64']:.1f}", f"fp32 variant {best['fp32_64']:.1f}",
                     f"{best['d64'] / best['fp32_64']:.2f}x", ""))
    for label, stat in (("best", best), ("median", med)):
        rows.append((f"keystroke ms ({label}), 512 ctx +1 char, 8 tok", f"{stat['warm']:.1f}",
                     f"cold cache {stat['cold']:.1f}", f"{stat['cold'] / stat['warm']:.2f}x faster",
                     f"<= {TARGET_KEYSTROKE_MS:.0f} ms"))
    if "warm1000" in med:
        rows.append(("keystroke ms (median), 1000 ctx +1 char, 8 tok", f"{med['warm1000']:.1f}",
                     f"512 ctx {med['warm']:.1f}", f"{med['warm1000'] / med['warm']:.2f}x", ""))
    rows.append(("3 alternatives x 16 tok ms (best), 512 ctx", f"{best['batched']:.1f}",
                 f"3 sequential {best['sequential']:.1f}", f"{best['sequential'] / best['batched']:.2f}x faster", ""))
    return rows


def peer_rows(best: dict[str, float], med: dict[str, float], names: list[str]) -> list[tuple[str, ...]]:
    """Inkwell against each peer: decode rates (best round) and time to first token (best / median)."""
    rows: list[tuple[str, ...]] = []
    for i, name in enumerate(names):
        llama = name.startswith("llama.cpp")
        for ctx in PEER_CONTEXTS:
            ours, theirs = best[f"d{ctx}"], best[f"peer{i}_d{ctx}"]
            rows.append((f"decode tok/s, {ctx} ctx, int8", f"{ours:.1f}", f"{name} {theirs:.1f}",
                         f"{ours / theirs:.2f}x", f">= {TARGET_RATIO if llama else 1.0}x"))
        for ctx in PEER_CONTEXTS:
            ours_key, theirs_key = f"ttft{ctx}", f"peer{i}_ttft{ctx}"
            rows.append((f"first token ms (best / median), {ctx} ctx", f"{best[ours_key]:.1f} / {med[ours_key]:.1f}",
                         f"{name} {best[theirs_key]:.1f} / {med[theirs_key]:.1f}",
                         f"{best[ours_key] / best[theirs_key]:.2f}x / {med[ours_key] / med[theirs_key]:.2f}x",
                         "" if llama else "<= 1.0x"))
    return rows


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("measurement", "inkwell", "baseline", "ratio", "target")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row).rstrip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, help="an exported bundle (default: GPT-2 124M random, cached)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--peers", action="store_true",
                    help="also measure llama.cpp (Q8_0, flash attention off and on) and the best plain ONNX Runtime "
                         "int8 graph on the same weights, in the same rounds")
    args = ap.parse_args(argv)
    if args.peers and args.bundle:
        ap.error("--peers measures the peers on the cached GPT-2 124M (random weights): leave out --bundle")
    bundle = args.bundle or ensure_bundle()
    load_before = os.getloadavg()[0]
    m, int8, names, notes = measure(bundle, args.rounds, args.threads, args.peers)
    best = {k: (min(v) if k in LATENCIES or "ttft" in k else max(v)) for k, v in m.items()}
    med = {k: statistics.median(v) for k, v in m.items()}

    print(f"Inkwell engine benchmark: {int8.status.model_name}, {int8.status.variant} on {int8.status.provider}, "
          f"threads={args.threads or 'auto'}, {args.rounds} rounds (rates: best, latencies: best and median), "
          f"load average {load_before:.2f} at the start on {os.cpu_count()} CPUs ({processor()})")
    print_table(peer_rows(best, med, names) + engine_rows(best, med, args.threads))
    for note in notes:
        print(note)
    if load_before > 0.5:
        print("note: other processes were using the CPU; figures are lower bounds (rerun when idle)")
    return 0


_POLICIES = (("run", "threads spin during runs"), ("off", "threads sleep"), ("always", "threads always spin"),
             ("one", "one thread"))


def _thread_rows(best: dict[str, float], med: dict[str, float], threads: int) -> list[tuple[str, ...]]:
    """The engine's threads (automatic: fitted to the load at each request) against each fixed
    choice, on an idle machine and with another program busy on a core (best and median rounds)."""
    label = "automatic" if threads == 0 else f"{threads} threads"
    rows: list[tuple[str, ...]] = []
    for prefix, where in (("", "idle"), ("busy_", "another program busy")):
        fixed = {key: best[f"{prefix}{key}64"] for key, _ in _POLICIES}
        # Idle, the automatic choice is the one that spins during runs: its speed unchanged.
        top, target = ("run", "1.0x") if not prefix else (max(fixed, key=lambda k: fixed[k]), ">= 0.9x (best fixed)")
        mine, mine_med = best[f"{prefix}bare64"], med[f"{prefix}bare64"]
        for key, name in _POLICIES:
            theirs, theirs_med = best[f"{prefix}{key}64"], med[f"{prefix}{key}64"]
            # Best rounds favour whichever choice varies most; the medians say what is typical.
            rows.append((f"bare loop tok/s, 64 ctx, {where}, {label}", f"{mine:.1f} (median {mine_med:.1f})",
                         f"{name} {theirs:.1f} (median {theirs_med:.1f})",
                         f"{mine / theirs:.2f}x ({mine_med / theirs_med:.2f}x)", target if key == top else ""))
    return rows


def _decoder(engine: Engine, threads: int, spinning: str) -> Decoder:
    """The engine's decoder again, with another policy for idle threads."""
    d = engine.decoder
    return Decoder(d.path, ["CPUExecutionProvider"], threads, d.n_layer, d.n_head, d.head_dim, d.vocab_size,
                   d.capacity, spinning=spinning)


def bundle_variants(bundle: Path) -> list[str]:
    return Bundle.load(bundle).variants


if __name__ == "__main__":
    sys.exit(main())
