"""Faster copies (inkwell compress) measured: pruning + distillation against the same shape trained
from scratch and distilled from a random start, with the same CPU-seconds each.

    python bench/bench_compress.py [--budget CPU_S] [--sweep-budget CPU_S] [--rounds N]

1. The bundled model (resources/models/inkwell-fiction) cut to 75%, 50% and 33% of its work per
   token (``keep``: core/prune_plan.py; the shape each share gets is model/prune.choose's, whose
   candidates and their losses right after the cut are printed). For each share, three students of
   the same shape,
   each given ``--budget`` CPU-seconds:
   a. pruned + distilled (the product path: model/compress.prune_checkpoint, then the training
      engine with the original as teacher); pruning's importance measurement counts against the
      budget, and the teacher's forward passes are inside the training's CPU time;
   b. random start, plain cross-entropy;
   c. random start, distilled from the original.
   The training engine stops at a number of steps, not a time. So each configuration first runs
   PROBE_STEPS steps in a child process that records time.process_time() (all the child's
   threads) after every step; the mean CPU-seconds of the steps after the first two sets the
   number of steps that the budget (less the pruning's CPU) buys. The tables print the CPU the
   real run's steps then took, so any miss shows. Probes, loading and the final checkpoint are
   not counted (the same for all three). A step's CPU-seconds are not constant on a shared
   machine (torch's threads spin while they wait for a descheduled peer), so a probe taken under
   load overestimates and its student spends less than the budget: compare "CPU-s used". CPU
   time, not wall time: another process on the machine slows all three alike in wall time but
   leaves their CPU-seconds about as they are.
   Every student uses the product's settings (app.finetune.default_settings for the model's size:
   lr 1e-3, batch 8 x 256 tokens, the same warm-up and cosine decay), and the same texts (a
   spread of the corpus's training books).
   Held-out perplexity: the same fixed windows of the held-out authors (runs/corpus/heldout-authors,
   never trained on) for every model, the original included, in fp32 (model.train_loop.held_out_loss).
   Speed: int8 bundles (model.export), in one torch-free child process, in interleaved rounds
   (each round times every model once, in a rotating order): the keystroke latency of
   bench_engine.keystroke_ms (one character added to a 500-token context, an 8-token suggestion;
   median) and decode tokens/s (bench_engine.decode_rate; best). Students of one shape share one
   graph, so the pruned + distilled one is timed for its shape.
   Before that, once: the distillation mix (distill_alpha, distill_temperature) on the 50% pruned
   copy with ``--sweep-budget``; the best is used for a. and c.
2. Unstructured magnitude pruning, once: half of each block's weights (the smallest) set to zero,
   no retraining: its held-out perplexity and decode speed.
3. GPT-2 124M (core.config.PRESETS["gpt2"], random weights), speed only: importance on a few corpus
   windows, the shapes at the same shares (core.prune_plan.plan's: random weights have no loss to
   choose between them by), int8, decode tok/s at 64 and 512 context and
   keystroke latency against the unpruned model, interleaved.
4. What a layer costs beyond its multiply-adds, and what the LM head's multiply-add costs against
   a block's (core.config.LAYER_COST, HEAD_RATE). Random-weight models of the bundled model's
   family (widths 64-192, 1-16 layers), int8, timed like the copies; the keystroke latency fitted
   by least squares to a constant, the layers, the blocks' and the head's multiply-adds; a layer's
   cost in multiply-adds is the ratio of the layer slope to the blocks', HEAD_RATE the ratio of
   the head's to the blocks'.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL = ROOT / "resources" / "models" / "inkwell-fiction"
SHARES = (0.75, 0.5, 0.33)
PROBE_STEPS = 3          # the first two pay for warm-up; the third gives the CPU-seconds of a step
EVAL_WINDOWS = 24        # held-out windows of 512 tokens, spread over the held-out authors
MIX = [(0.5, 2.0), (0.9, 1.0)]  # (distill_alpha, distill_temperature)
KEYSTROKE_CTX = 500
MAGNITUDE_SPARSITY = 0.5
GPT2_IMPORTANCE = (2, 2, 128)  # batches, batch size, tokens: the weights are random, speed only


def corpus_root() -> Path:
    """runs/corpus (model/corpus_prep.py's output), here or in the main checkout of a worktree."""
    common = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=ROOT, capture_output=True, text=True)
    candidates = [ROOT / "runs" / "corpus"]
    if common.returncode == 0:
        candidates.append((ROOT / common.stdout.strip()).resolve().parent / "runs" / "corpus")
    for c in candidates:
        if (c / "heldout-authors").is_dir():
            return c
    raise SystemExit("runs/corpus not found: python -m model.corpus_prep --fiction ../shared/data/corpus/fiction "
                     "--austen ../shared/data/corpus/austen --out runs/corpus")


def child(*args: str) -> None:
    subprocess.run([sys.executable, __file__, *args], check=True, cwd=ROOT)


def read(path: Path) -> Any:
    return json.loads(path.read_text())


# --- children: pruning, training, timing -------------------------------------------------------

def prune_child(shares: str, data_file: str, work: str, out: str, threads: str) -> None:
    """Measure the original's importances once and cut it to each share; the CPU-seconds of each
    copy as the product pays them (the measurement, then the candidates' cuts and judging)."""
    import torch

    from model.compress import cut_checkpoint, measure_checkpoint

    torch.set_num_threads(int(threads))

    start = time.process_time()
    measured_model = measure_checkpoint(ORIGINAL / "hf", read(Path(data_file)), "keep", seq_len=256)
    measured = time.process_time() - start
    outcomes = {}
    for keep in shares.split(","):
        start = time.process_time()
        outcome = cut_checkpoint(measured_model, float(keep), Path(work) / f"pruned-{keep}")
        outcomes[keep] = {**outcome, "cpu_s": measured + time.process_time() - start, "importance_cpu_s": measured}
    Path(out).write_text(json.dumps(outcomes))


def train_child(job_file: str, out: str) -> None:
    """Run a training job; the process's CPU time after each step, and the summary."""
    from model.train_job import Job
    from model.train_loop import Events, Trainer

    marks: list[float] = []
    with open(os.devnull, "w") as quiet:
        trainer = Trainer(Job.from_dict(read(Path(job_file)), job_file), Events(quiet, quiet),
                          on_step=lambda step: marks.append(time.process_time()))
        started = time.process_time()
        trainer.run()
    Path(out).write_text(json.dumps({"start": started, "marks": marks, "total": time.process_time()}))


def time_child(spec_file: str, out: str) -> None:
    """Torch-free: keystroke latency and decode rates of the bundles in ``spec_file``, in rounds."""
    import bench_engine as be

    from app.engine import Engine

    spec = read(Path(spec_file))
    be.CORPUS = Path(spec["context_texts"])
    engines = {name: Engine.load(path, provider="cpu", threads=spec["threads"], variant="int8")
               for name, path in spec["bundles"].items()}
    names = list(engines)
    m: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for r in range(spec["rounds"]):
        for name in names[r % len(names):] + names[: r % len(names)]:
            e = engines[name]
            m[name].setdefault("keystroke", []).extend(be.keystroke_ms(e, True, ctx=KEYSTROKE_CTX))
            for ctx in spec["decode_contexts"]:
                m[name].setdefault(f"d{ctx}", []).append(be.decode_rate(e, ctx, 1))
    Path(out).write_text(json.dumps(m))


# --- the parent: plans, jobs, runs -------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        corpus = corpus_root()
        books = sorted((corpus / "train").glob("*.txt"))
        step = max(1, len(books) // args.train_books)
        self.data = [str(b) for b in books[::step][: args.train_books]]
        self.data_file = self.work / "data.json"
        self.data_file.write_text(json.dumps(self.data))
        self.heldout = corpus / "heldout-authors"
        from app.compress_cli import DISTILL_ALPHA, DISTILL_TEMPERATURE

        self.mix = (DISTILL_ALPHA, DISTILL_TEMPERATURE)  # the product's, unless --sweep-budget picks

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def prune(self, keep: float) -> tuple[Path, dict[str, Any]]:
        out = self.work / "pruned.json"
        if not out.exists():
            shares = sorted({*self.args.shares, 0.5})
            child("prune", ",".join(f"{k:g}" for k in shares), str(self.data_file), str(self.work), str(out),
                  str(self.args.threads))
        return self.work / f"pruned-{keep:g}", read(out)[f"{keep:g}"]

    def job(self, name: str, kind: str, shape: dict[str, int], init: Path | None, steps: int,
            mix: tuple[float, float]) -> dict[str, Any]:
        """The product's fine-tune job for ``steps`` steps: from ``init``, or a random start of ``shape``."""
        from app.finetune import default_settings, make_job
        from core.config import GPT2Config

        original = GPT2Config.load(ORIGINAL / "hf" / "config.json")
        settings = {**default_settings(original.num_parameters(), original.n_positions, "full"), "steps": steps}
        job = make_job(name, ORIGINAL, self.data, settings, 0)
        job.update(out=str(self.work / "runs" / name), line_breaks="keep", holdout={"fraction": 0.002},
                   eval_every=10**9, sample_tokens=0, checkpoint_every=steps, threads=self.args.threads)
        if init is not None:
            job["init"] = str(init)
        else:
            job.pop("init")
            job["model"] = shape
        if kind != "scratch":
            job.update(teacher=str(ORIGINAL / "hf"), distill_alpha=mix[0], distill_temperature=mix[1])
        return job

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Train ``job`` in a child; CPU-seconds of its steps (and of each, after the first two)."""
        shutil.rmtree(job["out"], ignore_errors=True)
        job_file, out = Path(job["out"] + ".job.json"), Path(job["out"] + ".cpu.json")
        job_file.parent.mkdir(parents=True, exist_ok=True)
        job_file.write_text(json.dumps(job))
        child("train", str(job_file), str(out))
        r = read(out)
        marks = r["marks"]
        per_step = (marks[-1] - marks[1]) / (len(marks) - 2) if len(marks) > 2 else marks[-1] - r["start"]
        return {"steps_cpu": marks[-1] - r["start"], "per_step": per_step, "folder": job["out"]}

    def student(self, name: str, kind: str, shape: dict[str, int], init: Path | None, budget: float,
                mix: tuple[float, float]) -> dict[str, Any]:
        """Probe a few steps, then train for the steps ``budget`` CPU-seconds buy. Kept in the work
        folder: a bench stopped on the way goes on from the students it has."""
        done = self.work / "runs" / f"{name}.result.json"
        if done.exists():
            return read(done)
        probe_name = f"probe-{kind}-{shape['n_embd']}x{shape['n_layer']}x{shape['n_inner']}"
        probe_file = self.work / "runs" / f"{probe_name}.result.json"
        if not probe_file.exists():
            probe = self.run_job(self.job(probe_name, kind, shape, init, PROBE_STEPS, mix))
            shutil.rmtree(probe["folder"], ignore_errors=True)
            probe_file.write_text(json.dumps(probe))
        per_step = read(probe_file)["per_step"]
        steps = max(1, int(budget // per_step))
        self.log(f"{name}: {per_step:.2f} CPU-s a step, {steps} steps for {budget:.0f} CPU-s")
        run = self.run_job(self.job(name, kind, shape, init, steps, mix))
        result = {**run, "steps": steps, "probe_per_step": per_step, "ppl": self.perplexity(run["folder"])}
        done.write_text(json.dumps(result))
        return result

    # --- held-out perplexity, exports, timing ----------------------------------------------------

    def heldout_windows(self) -> list[Any]:
        from model.train_data import eval_windows, load_corpus
        from model.train_loop import default_cache_dir, spread

        tokens = load_corpus([self.heldout], {"fraction": 0.0}, default_cache_dir(), "keep").train
        return spread([w for w in eval_windows(tokens, 512) if len(w) == 513], self.args.eval_windows)

    def perplexity(self, model_or_folder: Any) -> float:
        from model.hf import load_gpt2
        from model.train_loop import held_out_loss

        if not hasattr(self, "_windows"):
            self._windows = self.heldout_windows()
        model = load_gpt2(model_or_folder) if isinstance(model_or_folder, (str, Path)) else model_or_folder
        return math.exp(held_out_loss(model, self._windows, 512, 8))

    def export(self, src: Path | str, name: str) -> Path:
        dest = self.work / "bundles" / name
        if not (dest / "inkwell-model.json").exists():
            shutil.rmtree(dest, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "model.export", str(src), str(dest), "--variants", "int8",
                            "--hf-dtype", "none", "--name", name], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        return dest

    def timings(self, bundles: dict[str, Path], contexts: list[int], tag: str) -> dict[str, dict[str, float]]:
        """Keystroke ms (median) and decode tok/s (best) per bundle, from one interleaved run."""
        spec, out = self.work / f"time-{tag}.json", self.work / f"time-{tag}.out.json"
        spec.write_text(json.dumps({"bundles": {k: str(v) for k, v in bundles.items()}, "rounds": self.args.rounds,
                                    "threads": self.args.threads, "decode_contexts": contexts,
                                    "context_texts": str(self.heldout)}))
        child("time", str(spec), str(out))
        raw = read(out)
        return {n: {k: (statistics.median(v) if k == "keystroke" else max(v)) for k, v in m.items()}
                for n, m in raw.items()}


# --- the parts ---------------------------------------------------------------------------------

def shape_of(folder: Path) -> dict[str, int]:
    c = read(folder / "config.json")
    return {"n_layer": c["n_layer"], "n_embd": c["n_embd"], "n_head": c["n_head"], "n_positions": c["n_positions"],
            "n_inner": c["n_inner"], "vocab_size": c["vocab_size"]}


def sweep_mix(b: Bench) -> list[tuple[tuple[float, float], float, dict[str, Any]]]:
    """The distillation mixes on the 50% pruned copy, each with the sweep budget; best first."""
    pruned, outcome = b.prune(0.5)
    results = []
    for alpha, temperature in MIX:
        run = b.student(f"mix-a{alpha:g}-t{temperature:g}", "pruned", shape_of(pruned), pruned,
                        b.args.sweep_budget, (alpha, temperature))
        results.append(((alpha, temperature), run["ppl"], run))
        b.log(f"mix alpha {alpha:g}, T {temperature:g}: held-out perplexity {results[-1][1]:.2f}")
    return sorted(results, key=lambda r: r[1])


def students(b: Bench, keep: float) -> dict[str, dict[str, Any]]:
    pruned, outcome = b.prune(keep)
    shape = shape_of(pruned)
    budget = b.args.budget
    tag = f"{round(keep * 100)}"
    runs = {"pruned": b.student(f"pruned-distilled-{tag}", "pruned", shape, pruned, budget - outcome["cpu_s"], b.mix),
            "scratch": b.student(f"scratch-{tag}", "scratch", shape, None, budget, b.mix),
            "distilled": b.student(f"random-distilled-{tag}", "distilled", shape, None, budget, b.mix)}
    runs["pruned"]["prune_cpu"] = outcome["cpu_s"]
    runs["pruned"]["pruned_ppl"] = b.perplexity(pruned)
    runs["pruned"]["outcome"] = outcome
    b.log(f"{tag}%: " + ", ".join(f"{k} {v['ppl']:.2f}" for k, v in runs.items()))
    return runs


def magnitude_pruned(b: Bench) -> tuple[Path, float]:
    """The original with the smallest half of each block's weights set to zero, no retraining."""
    import torch

    from model.hf import load_gpt2, save_gpt2

    model = load_gpt2(ORIGINAL / "hf")
    with torch.no_grad():
        for block in model.h:
            weights = [m.weight for m in block.modules() if isinstance(m, torch.nn.Linear)]
            pooled = torch.cat([w.abs().flatten() for w in weights])
            cut = pooled.kthvalue(int(MAGNITUDE_SPARSITY * pooled.numel())).values
            for w in weights:
                w[w.abs() <= cut] = 0.0
    folder = b.work / "magnitude-50"
    save_gpt2(model, folder)
    return folder, b.perplexity(model)


def gpt2_copies(b: Bench) -> dict[str, tuple[Path, float]]:
    """GPT-2 124M with random weights (bench_engine's, seed 0) and its pruned copies, int8."""
    import bench_engine as be
    import torch

    from core.config import PRESETS
    from core.prune_plan import plan
    from model.gpt2 import GPT2
    from model.hf import save_gpt2
    from model.prune import measure_importance, prune
    from model.train_data import WindowSampler, load_corpus
    from model.train_loop import default_cache_dir

    be.CORPUS = b.heldout
    bundles = {"GPT-2 124M": (be.ensure_bundle(), 1.0)}
    torch.manual_seed(0)
    model = GPT2(PRESETS["gpt2"]).eval()
    n_batches, batch, seq = GPT2_IMPORTANCE
    sampler = WindowSampler(load_corpus(b.data[:2], {"fraction": 0.0}, default_cache_dir(), "keep").train, seq, 0)
    windows = [torch.from_numpy(sampler.next_batch(batch)) for _ in range(n_batches)]
    batches = [(w[:, :-1], w[:, 1:]) for w in windows]
    importance = measure_importance(model, batches)
    for keep in SHARES:
        chosen = plan(model.config, keep, importance.layers)  # random weights: no loss to judge shapes by
        folder = b.work / f"gpt2-{keep:g}"
        if not (folder / "config.json").exists():
            save_gpt2(prune(model, importance, chosen).eval(), folder)
        small = chosen.config(model.config)
        bundles[f"{keep:.0%}: {shape_label(small.n_embd, small.n_layer, small.inner_dim)}"] = (
            b.export(folder, f"gpt2-{keep:g}"), chosen.cost_share(model.config))
    return bundles


def shape_label(width: int, layers: int, inner: int) -> str:
    return f"{width} wide, {layers} x {inner}"


# --- tables ------------------------------------------------------------------------------------

def table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*r).rstrip())


def quality_rows(original_ppl: float, results: dict[float, dict[str, dict[str, Any]]]) -> list[tuple[str, ...]]:
    rows = []
    labels = {"pruned": "a. pruned + distilled", "scratch": "b. random, cross-entropy",
              "distilled": "c. random, distilled"}
    for keep, runs in results.items():
        o = runs["pruned"]["outcome"]
        shape = shape_label(o["n_embd"], len(o["layers"]), o["n_inner"])
        rows.append((f"{keep:.0%} pruned, untrained ({shape})", f"{o['parameters_after'] / 1e6:.2f}M", "0",
                     f"{runs['pruned']['prune_cpu']:.0f}", "-", f"{runs['pruned']['pruned_ppl']:.2f}",
                     f"{runs['pruned']['pruned_ppl'] / original_ppl:.2f}x"))
        for kind, r in runs.items():
            prune_cpu = r.get("prune_cpu", 0.0)
            rows.append((f"{keep:.0%} {labels[kind]}", f"{o['parameters_after'] / 1e6:.2f}M", str(r["steps"]),
                         f"{prune_cpu + r['steps_cpu']:.0f}", f"{r['probe_per_step']:.2f} / {r['per_step']:.2f}",
                         f"{r['ppl']:.2f}", f"{r['ppl'] / original_ppl:.2f}x"))
    return rows


def speed_rows(speed: dict[str, dict[str, float]], names: dict[str, str], expected: dict[str, float],
               contexts: list[int]) -> list[tuple[str, ...]]:
    base = speed["original"]
    rows = []
    for key, label in names.items():
        s = speed[key]
        row = [label, f"{s['keystroke']:.1f}", f"{base['keystroke'] / s['keystroke']:.2f}x"]
        for ctx in contexts:
            row += [f"{s[f'd{ctx}']:.1f}", f"{s[f'd{ctx}'] / base[f'd{ctx}']:.2f}x"]
        rows.append((*row, f"{expected[key]:.2f}x" if key in expected else "-"))
    return rows


def speed_header(contexts: list[int]) -> tuple[str, ...]:
    cols = ["model", f"keystroke ms ({KEYSTROKE_CTX} ctx +1 char, 8 tok, median)", "speed-up"]
    for ctx in contexts:
        cols += [f"decode tok/s {ctx} ctx (best)", "ratio"]
    return (*cols, "expected (work)")


def verdict(original_ppl: float, runs: dict[str, dict[str, Any]], speedup: float) -> str:
    a, b, c = runs["pruned"]["ppl"], runs["scratch"]["ppl"], runs["distilled"]["ppl"]
    checks = [(f"keystroke {speedup:.2f}x faster (>= 1.7x)", speedup >= 1.7),
              (f"perplexity {a:.2f} = {a / original_ppl:.2f}x the original's (<= 1.10x)", a <= 1.1 * original_ppl),
              (f"better than from scratch ({b:.2f})", a < b), (f"better than distilled from random ({c:.2f})", a < c)]
    return "; ".join(f"{text}: {'met' if ok else 'NOT met'}" for text, ok in checks)


def part_one(b: Bench) -> None:
    from core.config import GPT2Config

    cfg = GPT2Config.load(ORIGINAL / "hf" / "config.json")
    mixes = sweep_mix(b) if b.args.sweep_budget else []
    if mixes:
        b.mix = mixes[0][0]
    results = {keep: students(b, keep) for keep in b.args.shares}
    magnitude, magnitude_ppl = magnitude_pruned(b)
    original_ppl = b.perplexity(ORIGINAL / "hf")
    bundles = {"original": b.export(ORIGINAL / "hf", "original")}
    names = {"original": f"original ({shape_label(cfg.n_embd, cfg.n_layer, cfg.inner_dim)})"}
    expected = {}
    for keep, runs in results.items():
        o = runs["pruned"]["outcome"]
        key = f"{keep:g}"
        bundles[key] = b.export(runs["pruned"]["folder"], f"copy-{key}")
        names[key] = f"{keep:.0%} copy ({shape_label(o['n_embd'], len(o['layers']), o['n_inner'])})"
        expected[key] = 1 / o["cost_share"]
    bundles["magnitude"] = b.export(magnitude, "magnitude-50")
    names["magnitude"] = f"magnitude 50% zeros ({shape_label(cfg.n_embd, cfg.n_layer, cfg.inner_dim)})"
    contexts = [64, 448]  # 448 + 64 new tokens fill the 512-token window
    b.log("timing the bundles")
    speed = b.timings(bundles, contexts, "fiction")

    if mixes:
        table(f"Distillation mix on the 50% pruned copy, {b.args.sweep_budget:.0f} CPU-s of training each",
              ("distill_alpha", "distill_temperature", "steps", "held-out perplexity"),
              [(f"{m[0][0]:g}", f"{m[0][1]:g}", str(m[2]["steps"]), f"{m[1]:.2f}") for m in mixes])
    table(f"Held-out perplexity ({b.args.eval_windows} windows x 512 tokens of the held-out authors, fp32), "
          f"students at {b.args.budget:.0f} CPU-s each, mix alpha {b.mix[0]:g} / T {b.mix[1]:g}",
          ("model", "parameters", "steps", "CPU-s used", "CPU-s/step probe / run", "perplexity", "vs original"),
          [(names["original"], f"{cfg.num_parameters() / 1e6:.2f}M", "-", "-", "-", f"{original_ppl:.2f}", "1.00x"),
           *quality_rows(original_ppl, results),
           (names["magnitude"], f"{cfg.num_parameters() / 1e6:.2f}M", "0", "-", "-", f"{magnitude_ppl:.2f}",
            f"{magnitude_ppl / original_ppl:.2f}x")])
    table("Shapes tried for each share (model/prune.choose): loss on the measured batches right after the cut",
          ("share", "shape", "work", "loss", "chosen"),
          [(f"{keep:.0%}", t["plan"], f"{t['cost_share']:.2f}", f"{t['loss']:.3f}",
            "yes" if t["plan"] == runs["pruned"]["outcome"]["plan"] else "")
           for keep, runs in results.items() for t in runs["pruned"]["outcome"]["tried"]])
    table(f"Speed, int8, {b.args.rounds} interleaved rounds in one run (students of one shape share its graph)",
          speed_header(contexts), speed_rows(speed, names, expected, contexts))
    if 0.5 in results:
        speedup = speed["original"]["keystroke"] / speed["0.5"]["keystroke"]
        print(f"\ntarget (50% copy): {verdict(original_ppl, results[0.5], speedup)}")


def part_gpt2(b: Bench) -> None:
    copies = gpt2_copies(b)
    keys = {name: ("original" if i == 0 else f"g{i}") for i, name in enumerate(copies)}
    b.log("timing GPT-2 124M and its copies")
    speed = b.timings({keys[n]: bundle for n, (bundle, _) in copies.items()}, [64, 512], "gpt2")
    expected = {keys[n]: 1 / share for n, (_, share) in copies.items()}
    table(f"GPT-2 124M, random weights, int8, {b.args.rounds} interleaved rounds in one run",
          speed_header([64, 512]), speed_rows(speed, {keys[n]: n for n in copies}, expected, [64, 512]))


LAYER_COST_SHAPES = [(192, 16, 768), (192, 8, 384), (192, 6, 768), (192, 4, 768), (192, 1, 768),
                     (128, 16, 512), (128, 12, 512), (128, 10, 384), (128, 8, 512), (96, 6, 384), (64, 16, 256),
                     (64, 2, 256)]  # (width, layers, MLP width); head_dim 64 or 48


def part_layer_cost(b: Bench) -> None:
    """Fit the keystroke latency of random-weight shapes of the bundled model's family to a
    constant, their layers, their blocks' and their LM head's multiply-adds."""
    import dataclasses

    import numpy as np
    import torch

    from core.config import HEAD_RATE, LAYER_COST, GPT2Config
    from model.gpt2 import GPT2
    from model.hf import save_gpt2

    base = GPT2Config.load(ORIGINAL / "hf" / "config.json")
    bundles, work = {}, {}
    for d, layers, inner in LAYER_COST_SHAPES:
        key = "original" if (d, layers, inner) == (base.n_embd, base.n_layer, base.inner_dim) else f"{d}-{layers}-{inner}"
        folder = b.work / "layer-cost" / key
        if not (folder / "config.json").exists():
            torch.manual_seed(0)
            cfg = dataclasses.replace(base, n_embd=d, n_head=max(1, d // 64), n_layer=layers, n_inner=inner)
            save_gpt2(GPT2(cfg).eval(), folder)
        bundles[key] = b.export(folder, f"layer-cost-{key}")
        work[key] = (layers, layers * (4 * d * d + 2 * d * inner) / 1e6, base.vocab_size * d / 1e6)
    b.log("timing the shapes")
    speed = b.timings(bundles, [64], "layer-cost")
    keys = list(bundles)
    x = np.array([[1.0, *work[k]] for k in keys])
    y = np.array([speed[k]["keystroke"] for k in keys])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    fitted = x @ coef
    table(f"Layer cost: random-weight shapes of the bundled model's family, int8, {b.args.rounds} interleaved rounds",
          ("shape", "layers", "block Mmul-adds", "head Mmul-adds", "keystroke ms", "fit ms"),
          [(k, str(work[k][0]), f"{work[k][1]:.2f}", f"{work[k][2]:.2f}", f"{y[i]:.2f}", f"{fitted[i]:.2f}")
           for i, k in enumerate(keys)])
    print(f"\nfit: {coef[0]:.2f} ms + {coef[1]:.3f} ms a layer + {coef[2]:.3f} ms per M block multiply-adds "
          f"+ {coef[3]:.3f} ms per M head multiply-adds; a layer costs {coef[1] / coef[2] * 1e6:,.0f} "
          f"multiply-adds beyond its own (core.config.LAYER_COST: {LAYER_COST:,}), and a head multiply-add "
          f"{coef[3] / coef[2]:.2f} of a block's (core.config.HEAD_RATE: {HEAD_RATE})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=360.0, help="CPU-seconds per student")
    ap.add_argument("--sweep-budget", type=float, default=120.0,
                    help="CPU-seconds of training per distillation mix, pruning not counted (0: skip)")
    ap.add_argument("--shares", type=lambda s: [float(x) for x in s.split(",")], default=list(SHARES))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-books", type=int, default=8, help="training books, spread over the corpus")
    ap.add_argument("--eval-windows", type=int, default=EVAL_WINDOWS)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "inkwell-bench-compress"))
    ap.add_argument("--skip", action="append", default=[], choices=["layer-cost", "fiction", "gpt2"])
    args = ap.parse_args(argv)
    os.environ.setdefault("INKWELL_HOME", str(Path(args.work) / "home"))
    started = time.monotonic()
    print(f"Inkwell compress benchmark: {platform.processor() or platform.machine()} "
          f"({_cpu_name()}), {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start; "
          f"budget {args.budget:.0f} CPU-s per student, threads {args.threads}", flush=True)
    b = Bench(args)
    if "layer-cost" not in args.skip:
        part_layer_cost(b)
    if "gpt2" not in args.skip:  # first: minutes, where the rest takes most of an hour
        part_gpt2(b)
    if "fiction" not in args.skip:
        part_one(b)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end; {time.monotonic() - started:.0f} s of wall time")
    return 0


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown processor"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("prune", "train", "time"):
        {"prune": prune_child, "train": train_child, "time": time_child}[sys.argv[1]](*sys.argv[2:])
    else:
        sys.exit(main())
