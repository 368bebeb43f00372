"""One ONNX Runtime session of a bundle's decoder graph, checked against the graph contract.

The graph (see the model bundle contract): input_ids and position_ids int64 [batch, seq],
past_key_values.{i}.key/value [batch, n_head, capacity, head_dim] -> logits float32 [batch, vocab]
(last position) and present.{i}.key/value. A row's positions are 0..n-1, so the graph takes the
length of the cache from position_ids, and a past buffer may be longer than what it holds.

The cache is one fixed-size buffer per layer, as long as the model's context, kept where the
provider put it and bound through an IOBinding as both the past input and the present output:
the graph's attention then writes the new tokens' keys and values in place, so a decode step
moves only what it adds instead of copying the whole cache, and forgetting the end of the cache
(a rewind) costs nothing: the next run simply starts at an earlier position.

With automatic threads on the CPU, ``fit_to_load`` picks the threads and spinning for each
request from the load other programs put on the machine (app/engine/cpu_share.py); each plan
runs in a session of its own, since a session's thread pool is fixed when it is made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.engine import cpu_share
from core.errors import ModelError
from core.machine import OtherPrograms, cpu_count, memory_problem

# When idle intra-op threads spin: never, during a run only, or always (ONNX Runtime's default).
SPINNING = ("off", "run", "always")
_ONNX_TYPES = {"tensor(int64)": np.int64, "tensor(float)": np.float32, "tensor(float16)": np.float16,
               "tensor(int8)": np.int8}


def _names(n_layer: int, prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{kv}" for i in range(n_layer) for kv in ("key", "value")]


def session_options(threads: int, spinning: str = "run") -> ort.SessionOptions:
    """How the engine runs a decoder graph: ``threads`` intra-op threads (0: one per core), one
    inter-op thread, all graph optimizations."""
    if spinning not in SPINNING:
        raise ValueError(f"spinning must be one of {', '.join(SPINNING)} (got {spinning!r})")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(0, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Without ONNX Runtime's own arena the allocator is the system's: measured taking turns on an
    # AMD EPYC, GPT-2 124M int8 decodes 6-9% faster (the bundled model and prompts the same), and
    # memory a long prompt needed goes back to the system instead of staying with the arena.
    options.enable_cpu_mem_arena = False
    # Nor a memory plan kept per input shape (the engine's calls come in many shapes: prompt
    # chunks, rows of alternatives): measured the same way on top of that, GPT-2 124M decodes
    # 7-10% faster and a keystroke's suggestion comes 7% sooner (49 against 53 ms, median); the
    # bundled model is unchanged.
    options.enable_mem_pattern = False
    # Worker threads spin between the operators of one run (a decode step is ~100 short
    # kernels, and waking a sleeping thread for each costs ~20% of the step) but stop as soon
    # as the run returns, so that between steps and between requests they leave the cores
    # to the GUI and to other programs. bench/bench_engine.py measures the three policies.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0" if spinning == "off" else "1")
    options.add_session_config_entry("session.force_spinning_stop", "1" if spinning == "run" else "0")
    return options


class Decoder:
    """The session plus the shapes the engine needs; ``run`` is one forward pass."""

    def __init__(
        self, path: Path, providers: list[str], threads: int, n_layer: int, n_head: int, head_dim: int,
        vocab_size: int, capacity: int, spinning: str = "run", fit_to_load: bool = False,
    ):
        self.path = Path(path)
        self.n_layer, self.n_head, self.head_dim, self.vocab_size = n_layer, n_head, head_dim, vocab_size
        self.capacity = capacity
        self.past_names = _names(n_layer, "past_key_values")
        self.present_names = _names(n_layer, "present")
        self._providers = providers
        self.plan = cpu_share.Plan(threads, spinning)
        self.session = self._open(self.plan)
        self.provider = self.session.get_providers()[0]
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        self.kv_dtype = self._check_contract()
        # With automatic threads on the CPU, each request's threads follow the load other
        # programs put on the machine (app/engine/cpu_share.py); sessions by plan, kept.
        self._load = OtherPrograms() if fit_to_load and self.device == "cpu" else None
        self._sessions = {self.plan: self.session}

    def _open(self, plan: cpu_share.Plan) -> ort.InferenceSession:
        options = session_options(plan.threads, plan.spinning)
        try:
            return ort.InferenceSession(str(self.path), options, providers=self._providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
            raise ModelError(f"{self.path}: ONNX Runtime cannot load this model ({first_line(exc)})") from None

    def fit_to_load(self) -> cpu_share.Plan:
        """Before a request: the threads and spinning for the load other programs put on the CPU
        since the last request (a new session when the plan changes: a fraction of a second for
        GPT-2 124M, once). Does nothing unless the decoder was made with ``fit_to_load``."""
        if self._load is None:
            return self.plan
        plan = cpu_share.plan_for(cpu_count(), self._load.read(), self.plan)
        if plan != self.plan:
            session = self._sessions.get(plan)
            if session is None:
                # Another session holds the weights again: only where the memory is there.
                if memory_problem(self.path.stat().st_size, "another session"):
                    return self.plan
                try:
                    session = self._open(plan)
                except ModelError:  # (memory ran out after all): the plan there is still works
                    return self.plan
                # The idle plan's session and the newest busy one: a third plan replaces the older.
                self._sessions = {p: s for p, s in self._sessions.items() if p == cpu_share.IDLE}
                self._sessions[plan] = session
            self.plan, self.session = plan, session
        return self.plan

    def _check_contract(self) -> type:
        """The graph's inputs and outputs as the contract says, else a ModelError naming them."""
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        problems = []
        expected_in = ["input_ids", "position_ids", *self.past_names]
        expected_out = ["logits", *self.present_names]
        missing = [n for n in expected_in if n not in inputs] + [n for n in expected_out if n not in outputs]
        extra = [n for n in inputs if n not in expected_in]
        if missing:
            problems.append("missing " + ", ".join(missing[:4]) + (" ..." if len(missing) > 4 else ""))
        if extra:
            problems.append("unexpected inputs " + ", ".join(extra[:4]))
        kv_types = set()
        if not problems:
            for name in ("input_ids", "position_ids"):
                if inputs[name].type != "tensor(int64)" or len(inputs[name].shape) != 2:
                    problems.append(f"{name} must be int64 [batch, seq]")
            if outputs["logits"].type != "tensor(float)" or len(outputs["logits"].shape) != 2:
                problems.append("logits must be float32 [batch, vocab] (last position only)")
            elif isinstance(outputs["logits"].shape[1], int) and outputs["logits"].shape[1] != self.vocab_size:
                problems.append(f"logits has {outputs['logits'].shape[1]} entries, the manifest says {self.vocab_size}")
            for arg in [inputs[n] for n in self.past_names] + [outputs[n] for n in self.present_names]:
                kv_types.add(arg.type)
                shape = arg.shape
                if len(shape) != 4 or any(
                    isinstance(d, int) and d != want for d, want in ((shape[1], self.n_head), (shape[3], self.head_dim))
                ):
                    problems.append(f"{arg.name} must be [batch, {self.n_head}, length, {self.head_dim}]")
                    break
            if len(kv_types) > 1 or not kv_types <= {"tensor(float)", "tensor(float16)", "tensor(int8)"}:
                problems.append("the cache tensors must all be float32, all float16 or all int8")
        if problems:
            raise ModelError(f"{self.path}: the ONNX graph does not match Inkwell's decoder contract: "
                             + "; ".join(problems))
        return _ONNX_TYPES[kv_types.pop()]

    def new_cache(self, batch: int = 1) -> KVCache:
        """A zeroed cache for ``batch`` rows and the whole context."""
        shape = (batch, self.n_head, self.capacity, self.head_dim)
        if self.device == "cpu":
            host: list[np.ndarray] = [np.zeros(shape, dtype=self.kv_dtype) for _ in self.past_names]
            return KVCache([ort.OrtValue.ortvalue_from_numpy(a) for a in host], host)
        values = [ort.OrtValue.ortvalue_from_shape_and_type(shape, self.kv_dtype, self.device, 0)
                  for _ in self.past_names]
        zeros: np.ndarray = np.zeros(shape, dtype=self.kv_dtype)
        for value in values:
            value.update_inplace(zeros)
        return KVCache(values, None)

    def repeat(self, cache: KVCache, length: int, rows: int, out: KVCache | None = None) -> KVCache:
        """A cache of ``rows`` rows, each holding ``cache``'s first row up to ``length``, written into
        ``out`` when it has that many rows (so alternatives reuse one allocation)."""
        if out is None or out.rows != rows:
            out = self.new_cache(rows)
        if out.host is not None and cache.host is not None:
            for src, dst in zip(cache.host, out.host):
                dst[:, :, :length] = src[:1, :, :length]
        else:  # device memory: through the host, whole buffers
            for src, dst in zip(cache.values, out.values):
                dst.update_inplace(np.ascontiguousarray(np.repeat(src.numpy()[:1], rows, axis=0)))
        return out

    def run(self, input_ids: np.ndarray, position_ids: np.ndarray, cache: KVCache) -> np.ndarray:
        """Logits [batch, vocab] of the last position; the tokens' keys and values are written
        into ``cache`` at their positions. Several new tokens after a past need batch 1."""
        binding, logits = cache.binding(self.session, self.past_names, self.present_names, self.vocab_size)
        cache.bind_inputs(binding, input_ids, position_ids)
        self.session.run_with_iobinding(binding)
        return logits.copy()  # the next run writes into the same array


def check_in_place(decoder: Decoder, tokens: list[int]) -> np.ndarray:
    """Run ``tokens`` at once and then again one at a time through one buffer, as the engine does;
    a ModelError unless both give the same logits (a graph that does not update a fixed-size
    cache in place would read the buffer's unused tail as past). Returns the logits."""
    ids = np.array([tokens], dtype=np.int64)
    try:
        whole = decoder.run(ids, np.arange(len(tokens))[None], decoder.new_cache())
        cache = decoder.new_cache()
        for pos in range(len(tokens)):
            stepped = decoder.run(ids[:, pos : pos + 1], np.array([[pos]]), cache)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
        raise ModelError(f"{decoder.path}: ONNX Runtime cannot run the graph as Inkwell does, with a fixed-size KV "
                         f"cache updated in place ({first_line(exc)}); export the model with Inkwell instead") from None
    if whole.shape != (1, decoder.vocab_size) or not np.isfinite(whole).all():
        raise ModelError(f"{decoder.path}: the graph's logits are not finite numbers of shape [1, {decoder.vocab_size}]")
    scale = float(np.abs(whole).max()) or 1.0
    if float(np.abs(whole - stepped).max()) > 1e-2 * scale:
        raise ModelError(f"{decoder.path}: the graph does not update a fixed-size KV cache in place (Inkwell's "
                         "graph contract); export the model with Inkwell instead")
    return whole


class KVCache:
    """One buffer per layer and kind, [rows, n_head, capacity, head_dim]; ``host`` holds the numpy
    arrays that back them on the CPU (None on a device)."""

    def __init__(self, values: list[ort.OrtValue], host: list[np.ndarray] | None):
        self.values = values
        self.host = host
        self._bound: tuple[ort.InferenceSession, ort.IOBinding, np.ndarray] | None = None
        self._inputs: tuple[np.ndarray, np.ndarray] | None = None  # bound, for one token a row

    def binding(self, session: ort.InferenceSession, past_names: list[str], present_names: list[str],
                vocab_size: int) -> tuple[ort.IOBinding, np.ndarray]:
        """``session``'s binding with these buffers as every layer's past and present and a host
        array as the logits, made once, and that array: binding two buffers per layer and fetching
        every output at each token cost a small model ~10% of a keystroke. Only the newest
        session's is kept (a decoder that changed sessions binds again once)."""
        if self._bound is None or self._bound[0] is not session:
            binding = session.io_binding()
            logits = np.empty((self.rows, vocab_size), dtype=np.float32)
            binding.bind_ortvalue_output("logits", ort.OrtValue.ortvalue_from_numpy(logits))
            for past, present, value in zip(past_names, present_names, self.values):
                binding.bind_ortvalue_input(past, value)
                binding.bind_ortvalue_output(present, value)
            self._bound = (session, binding, logits)
            self._inputs = None
        return self._bound[1], self._bound[2]

    def bind_inputs(self, binding: ort.IOBinding, input_ids: np.ndarray, position_ids: np.ndarray) -> None:
        """The tokens and positions as ``binding``'s inputs. A decode step's (one token a row) go
        into arrays bound once, as the cache is: binding anew costs two copies a token."""
        if input_ids.shape != (self.rows, 1):
            self._inputs = None
            binding.bind_cpu_input("input_ids", np.ascontiguousarray(input_ids, dtype=np.int64))
            binding.bind_cpu_input("position_ids", np.ascontiguousarray(position_ids, dtype=np.int64))
            return
        if self._inputs is None:
            self._inputs = (np.empty((self.rows, 1), dtype=np.int64), np.empty((self.rows, 1), dtype=np.int64))
            binding.bind_ortvalue_input("input_ids", ort.OrtValue.ortvalue_from_numpy(self._inputs[0]))
            binding.bind_ortvalue_input("position_ids", ort.OrtValue.ortvalue_from_numpy(self._inputs[1]))
        self._inputs[0][...] = input_ids
        self._inputs[1][...] = position_ids

    @property
    def rows(self) -> int:
        return int(self.values[0].shape()[0])


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
