"""One ONNX Runtime session of a bundle's decoder graph, checked against the graph contract.

The graph (see the model bundle contract): input_ids and position_ids int64 [batch, seq],
past_key_values.{i}.key/value [batch, n_head, past, head_dim] -> logits float32 [batch, vocab]
(last position) and present.{i}.key/value [batch, n_head, past + seq, head_dim].

The cache is a list of OrtValues kept where the provider put them (host memory on CPU, device
memory on CUDA) and passed back through an IOBinding, so a decode step copies nothing on the way
in or out; only the graph's own concatenation of past and new keys touches the whole cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from model.errors import ModelError

_ONNX_TYPES = {"tensor(int64)": np.int64, "tensor(float)": np.float32, "tensor(float16)": np.float16}


def _names(n_layer: int, prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{kv}" for i in range(n_layer) for kv in ("key", "value")]


class Decoder:
    """The session plus the shapes the engine needs; ``run`` is one forward pass."""

    def __init__(
        self, path: Path, providers: list[str], threads: int, n_layer: int, n_head: int, head_dim: int,
        vocab_size: int, spinning: bool = False,
    ):
        self.path = Path(path)
        self.n_layer, self.n_head, self.head_dim, self.vocab_size = n_layer, n_head, head_dim, vocab_size
        self.past_names = _names(n_layer, "past_key_values")
        self.present_names = _names(n_layer, "present")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(0, int(threads))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: spinning takes the cores from the GUI
        # thread and from other programs, and when the CPU is shared it halves decoding speed
        # (bench/bench_engine.py measures both).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
            raise ModelError(f"{self.path}: ONNX Runtime cannot load this model ({first_line(exc)})") from None
        self.provider = self.session.get_providers()[0]
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        self.kv_dtype = self._check_contract()

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
            if len(kv_types) > 1 or not kv_types <= {"tensor(float)", "tensor(float16)"}:
                problems.append("the cache tensors must all be float32 or all float16")
        if problems:
            raise ModelError(f"{self.path}: the ONNX graph does not match Inkwell's decoder contract: "
                             + "; ".join(problems))
        return _ONNX_TYPES[kv_types.pop()]

    def empty_cache(self, batch: int = 1) -> list[ort.OrtValue]:
        empty = np.zeros((batch, self.n_head, 0, self.head_dim), dtype=self.kv_dtype)
        return [self.to_device(empty) for _ in self.past_names]

    def to_device(self, array: np.ndarray) -> ort.OrtValue:
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self.device, 0)

    def run(
        self, input_ids: np.ndarray, position_ids: np.ndarray, past: list[ort.OrtValue]
    ) -> tuple[np.ndarray, list[ort.OrtValue]]:
        """Logits [batch, vocab] of the last position, and the cache including these tokens."""
        binding = self.session.io_binding()
        binding.bind_cpu_input("input_ids", np.ascontiguousarray(input_ids, dtype=np.int64))
        binding.bind_cpu_input("position_ids", np.ascontiguousarray(position_ids, dtype=np.int64))
        for name, value in zip(self.past_names, past):
            binding.bind_ortvalue_input(name, value)
        binding.bind_output("logits", "cpu")
        for name in self.present_names:
            binding.bind_output(name, self.device)
        self.session.run_with_iobinding(binding)
        outputs = binding.get_outputs()
        return outputs[0].numpy(), list(outputs[1:])


def cache_to_numpy(cache: list[ort.OrtValue]) -> list[np.ndarray]:
    """Host arrays of the cache (views on CPU, copies from a device)."""
    return [value.numpy() for value in cache]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
