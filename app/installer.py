"""Installing models: import from disk or download from the Hugging Face Hub.

SRC is a Hugging Face GPT-2 folder (config.json with model.safetensors or pytorch_model.bin), a
bare weights file (.safetensors or .bin) of a GPT-2 size, an ONNX decoder graph following
Inkwell's contract, or an Inkwell model folder. Checkpoints are exported to ONNX (this process
then imports torch; the editor runs it as a subprocess). The result is a bundle in the models
folder of the platformdirs data dir, written under a hidden name and moved into place only when
complete, so nothing half-installed is ever listed.

Progress goes to an ``emit`` callback as events (dicts): ``plan`` (a download's files, sizes,
bytes already here, disk needed and free); ``download`` (done, total, bytes_per_s, eta_s);
``verify``/``verified`` (a file's checksum); ``stage`` (a slow part begins: message); ``export``
(step, total_steps, message); ``installed`` (folder, name). Failures raise ModelError or
hub.HubError. Partial downloads stay in the data dir's ``downloads`` folder and the same call
continues them; a finished install removes them. The command line (``inkwell models``) is
app.models_cli.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from app import hub
from core import onnx_info, paths
from core.bundle import (
    ARCHITECTURE_KEYS,
    MANIFEST,
    VARIANT_FILES,
    Bundle,
    BundleWriter,
    check_file,
    clear_abandoned,
    graph_architecture,
)
from core.config import PRESETS, GPT2Config
from core.errors import ModelError
from core.events import Emit
from core.locks import FileLock
from core.machine import memory_problem
from core.names import folder_name
from core.units import human_bytes, human_duration
from core.weights import export_memory, tensor_shapes

SIZES = tuple(PRESETS)  # distilgpt2, gpt2, gpt2-medium, gpt2-large, gpt2-xl
# What an import writes: int8 runs on CPUs, fp16 on GPUs; the fp32 graph is still built to check
# the export, then dropped. The Hugging Face checkpoint in hf/ (for fine-tuning) is kept in fp16.
INSTALL_VARIANTS = ("int8", "fp16")
INSTALL_HF_DTYPE = "float16"
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def downloads_dir() -> Path:
    return paths.downloads_dir()


# --- what is being imported ---------------------------------------------------------------------


def detect(src: str | Path) -> str:
    """``bundle``, ``hf`` (checkpoint folder), ``weights`` (a bare weights file) or ``onnx``."""
    src = Path(src)
    if not src.exists():
        raise ModelError(f"{src}: no such file or folder")
    if not (src.is_dir() or src.is_file()):
        # A named pipe would block the reader for ever, a device such as /dev/zero never ends.
        raise ModelError(f"{src}: not a regular file or folder (a named pipe, socket or device?)")
    if src.is_dir():
        if (src / MANIFEST).is_file():
            return "bundle"
        if (src / "config.json").is_file():
            return "hf"
        raise ModelError(f"{src}: neither a Hugging Face checkpoint folder (no config.json) nor an "
                         f"Inkwell model ({MANIFEST})")
    if src.suffix == ".onnx":
        return "onnx"
    if src.suffix in WEIGHT_SUFFIXES:
        return "weights"
    raise ModelError(f"{src}: not a model file Inkwell can import (expected a folder, .safetensors, "
                     ".bin or .onnx)")


def guess_size(path: str | Path) -> str | None:
    """The GPT-2 size whose shapes a ``.safetensors`` file has, read from its header (torch-free);
    None when it matches none or is not a safetensors file."""
    try:
        shapes = tensor_shapes(path) if Path(path).suffix == ".safetensors" else None
    except ModelError:
        return None
    if not shapes:
        return None
    wte, wpe = shapes.get("wte.weight"), shapes.get("wpe.weight")
    layers = {int(m[1]) for k in shapes if (m := re.match(r"h\.(\d{1,6})\.", k))}
    if not (wte and wpe and len(wte) == 2 and len(wpe) == 2):
        return None
    for name, cfg in PRESETS.items():
        if (wte[1], wpe[0], len(layers)) == (cfg.n_embd, cfg.n_positions, cfg.n_layer):
            return name
    return None


def default_name(src: str | Path, kind: str) -> str:
    src = Path(src)
    if kind == "bundle":
        try:
            return Bundle.load(src).name
        except ModelError:
            return src.name
    return src.stem if kind in ("weights", "onnx") else src.absolute().name


def target_folder(name: str) -> Path:
    """A new folder in the models dir for ``name``: core.names.folder_name (the rule fine-tunes
    follow too), numbered if taken."""
    slug = folder_name(name) or "model"
    root = paths.models_dir()
    folder, n = root / slug, 2
    while folder.exists():
        folder, n = root / f"{slug}-{n}", n + 1
    return folder


# --- installing -----------------------------------------------------------------------------------


class _InstallLock:
    """One install at a time per data dir; the holder may clear leftovers of killed installs."""

    def __enter__(self) -> _InstallLock:
        self.lock = FileLock(paths.install_lock_file())
        if not self.lock.try_acquire():
            raise ModelError("another model is being installed; wait until it is done")
        _clear_leftovers()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _clear_leftovers() -> None:
    """What killed installs and deletions left. Only what is provably abandoned: a partial bundle
    that no living process holds (an `inkwell export` into the models folder or a fine-tune's
    install may be writing one right now), a deletion's doomed folder, and the staging folders
    that only the holder of this lock uses."""
    clear_abandoned(paths.models_dir())
    for p in paths.models_dir().iterdir():
        if p.name.startswith(".") and p.name.endswith(".deleting") and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
    staging = paths.staging_dir()
    if staging.is_dir():
        for p in staging.iterdir():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)


def install(src: str | Path, size: str | None = None, name: str | None = None, emit: Emit | None = None,
            variants: tuple[str, ...] = INSTALL_VARIANTS) -> Path:
    """Import ``src`` into the models folder; returns the new bundle's folder."""
    emit = emit or (lambda e: None)
    src = Path(src).expanduser()
    kind = detect(src)
    if size is not None and size not in PRESETS and not Path(size).is_file():
        raise ModelError(f"--size: expected one of {', '.join(SIZES)} or a config.json file, got {size!r}")
    name = (name or "").strip() or default_name(src, kind)
    with _InstallLock():
        dest = target_folder(name)
        if kind == "hf":
            _export(src, dest, name, emit, variants=variants)
        elif kind == "weights":
            _import_weights(src, dest, name, size, emit, variants)
        elif kind == "onnx":
            _import_onnx(src, dest, name, size, emit)
        else:
            _import_bundle(src, dest, name, emit)
    emit({"event": "installed", "folder": str(dest), "name": name})
    return dest


def _export(src: Path, dest: Path, name: str, emit: Emit, variants: tuple[str, ...] = INSTALL_VARIANTS,
            provenance: dict[str, Any] | None = None, licence: str = "unspecified") -> None:
    _require_torch()
    emit({"event": "stage", "message": "loading the exporter (PyTorch)"})
    from model.export import export_bundle

    def forward(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            emit({"event": "export", "step": 0, "total_steps": event["total_steps"], "message": "starting the export"})
        elif kind in ("stage", "progress"):
            emit({"event": "export", "step": event["step"], "total_steps": event["total_steps"],
                  "message": event["message"]})

    export_bundle(src, dest, variants=variants, name=name, hf_dtype=INSTALL_HF_DTYPE, progress=forward,
                  provenance=provenance, licence=licence)


def _require_torch() -> None:
    """The standalone build has no PyTorch: say what to install, before any download or traceback."""
    from app.tools import torch_missing

    if missing := torch_missing():
        raise ModelError(missing)


def _import_weights(src: Path, dest: Path, name: str, size: str | None, emit: Emit,
                    variants: tuple[str, ...]) -> None:
    """A bare weights file: put it beside the chosen size's config.json and export that. ``size``
    is a GPT-2 size name or a config.json file."""
    size = size or guess_size(src)
    if size is None:
        raise ModelError(f"{src}: choose the GPT-2 size of these weights ({', '.join(SIZES)}); "
                         "it cannot be read from the file")
    root = paths.staging_dir()
    root.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="import-", dir=root))
    try:
        config = PRESETS[size] if size in PRESETS else GPT2Config.load(size)
        config.save(staging / "config.json")
        link = staging / ("model.safetensors" if src.suffix == ".safetensors" else "pytorch_model.bin")
        try:
            os.link(src, link)  # no copy of gigabytes when on the same disk
        except OSError:
            os.symlink(src.absolute(), link)
        try:
            _export(staging, dest, name, emit, variants=variants,
                    provenance={"source": str(src.absolute()), "source_weights": src.name, "gpt2_size": size})
        except ModelError as exc:  # name the user's file, not the staging link
            raise ModelError(str(exc).replace(str(link), str(src)).replace(
                "config.json (", f"{size if size in PRESETS else 'the chosen config.json'} (")) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _onnx_architecture(path: Path, size: str | None) -> tuple[dict[str, int], str, list[str]]:
    """The architecture numbers, the variant and the external data files of an ONNX decoder
    graph, read from its inputs, outputs and embedding tables (core.onnx_info: no weights are
    loaded, and neither PyTorch nor the onnx package is needed)."""
    info = onnx_info.read(path)
    got = graph_architecture(info)
    if not got["n_layer"] or got["n_layer"] < 0 or "input_ids" not in info.inputs or "logits" not in info.outputs:
        raise ModelError(f"{path}: not an Inkwell decoder graph (needs input_ids, position_ids, "
                         "past_key_values.N.key/value inputs and logits, present.N.key/value outputs)")
    cfg = (PRESETS[size] if size in PRESETS else GPT2Config.load(size)) if size else None
    arch = {k: got[k] for k in ARCHITECTURE_KEYS}
    if cfg is not None:
        want = {"n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
                "n_positions": cfg.n_positions, "vocab_size": cfg.vocab_size}
        for key, value in want.items():
            if isinstance(arch[key], int) and arch[key] != value:
                raise ModelError(f"{path}: the graph has {key}={arch[key]}, but {size} has {value}")
        arch = want
    missing = [k for k, v in arch.items() if not isinstance(v, int) or v <= 0]
    if missing:
        raise ModelError(f"{path}: cannot read {', '.join(missing)} from the graph; choose its GPT-2 size")
    try:
        GPT2Config(**arch)  # n_embd divisible by n_head, every number positive
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    if got["kv_dtype"] == "float16":
        variant = "fp16"
    elif info.op_types & {"MatMulNBits", "MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul"}:
        variant = "int8"
    else:
        variant = "fp32"
    for rel in info.external_files:
        _inside(path.parent, rel, f"{path}: its external data")
    return arch, variant, info.external_files


def _inside(folder: Path, rel: str, what: str) -> Path:
    """``folder / rel`` when ``rel`` names a regular file inside ``folder`` (no absolute path,
    no ``..``, no link that leads out), else a ModelError starting with ``what``."""
    pure = PurePosixPath(rel.replace("\\", "/"))
    if not rel or pure.is_absolute() or ".." in pure.parts or ":" in rel:
        raise ModelError(f"{what} {rel!r} is not a file inside {folder}")
    try:
        return check_file(folder, rel)
    except ModelError as exc:
        raise ModelError(f"{what}: {exc}") from None


def _check_session(path: Path, arch: dict[str, int]) -> None:
    """Open the graph with ONNX Runtime, check its inputs and outputs against the contract and
    run it once on a few tokens: a graph that passes is one the editor can use."""
    from app.engine.session import Decoder, check_in_place

    head_dim = arch["n_embd"] // arch["n_head"]
    cache = 2 * arch["n_layer"] * arch["n_embd"] * arch["n_positions"] * 4  # the check's cache, float32
    if problem := memory_problem(cache + path.stat().st_size, f"checking {path.name}"):
        raise ModelError(f"{path}: {problem}")
    decoder = Decoder(path, ["CPUExecutionProvider"], 0, arch["n_layer"], arch["n_head"], head_dim,
                      arch["vocab_size"], arch["n_positions"])
    check_in_place(decoder, [464, 3290, 318, 257])


def _import_onnx(src: Path, dest: Path, name: str, size: str | None, emit: Emit) -> None:
    emit({"event": "stage", "message": f"checking {src.name}"})
    if not src.is_file():
        raise ModelError(f"{src}: not a regular file")
    arch, variant, externals = _onnx_architecture(src, size)
    _check_session(src, arch)
    with BundleWriter(dest) as writer:
        emit({"event": "stage", "message": f"copying {src.name}"})
        shutil.copyfile(src, writer.path(VARIANT_FILES[variant]))
        for rel in externals:
            shutil.copyfile(src.parent / rel, writer.path(rel))
            writer.add_file(rel)
        writer.add_variant(variant)
        cfg = GPT2Config(**arch)
        writer.commit({
            "name": name, "architecture": arch, "tokenizer": "gpt2", "context_length": arch["n_positions"],
            "provenance": {"imported_from": str(src.absolute()), "imported": _now(),
                           "note": "imported ONNX graph; no Hugging Face checkpoint, so it cannot be fine-tuned"},
            "perplexity": None, "licence": "unspecified", "parameters": cfg.num_parameters(),
        })


def _import_bundle(src: Path, dest: Path, name: str, emit: Emit) -> None:
    bundle = Bundle.load(src)
    for rel in [MANIFEST, *(rel for rel, _ in bundle.entries())]:
        check_file(src, rel)  # a link out of the folder would copy someone else's file in
    for variant in bundle.variants:
        info = bundle.check_graph(variant)
        unlisted = [rel for rel in info.external_files if rel not in bundle.manifest.get("files", {})]
        if unlisted:
            raise ModelError(f"{bundle.variant_path(variant)}: its external data {unlisted[0]!r} is not listed "
                             f"in {MANIFEST}, so it cannot be checked")
    emit({"event": "stage", "message": f"verifying {bundle.name}"})
    total = [0]

    def progress(done: int, all_: int) -> None:
        if done - total[0] >= 8 << 20 or done == all_:
            total[0] = done
            emit({"event": "export", "step": done, "total_steps": all_, "message": "verifying checksums"})

    bundle.verify(progress)
    for variant in bundle.variants:
        emit({"event": "stage", "message": f"checking the {variant} graph with ONNX Runtime"})
        _check_session(bundle.variant_path(variant), bundle.architecture)
    with BundleWriter(dest) as writer:
        emit({"event": "stage", "message": "copying the model"})
        for variant, info in bundle.manifest["variants"].items():
            shutil.copyfile(src / info["file"], writer.path(info["file"]))
            extra = {k: v for k, v in info.items() if k not in ("file", "sha256", "bytes", "kv_dtype")}
            writer.add_variant(variant, info["kv_dtype"], **extra)
        for rel in bundle.manifest.get("files", {}):
            shutil.copyfile(src / rel, writer.path(rel))
            writer.add_file(rel)
        manifest = {k: v for k, v in bundle.manifest.items() if k not in ("format", "format_version", "variants", "files")}
        manifest["name"] = name
        manifest["provenance"] = {**(manifest.get("provenance") or {}), "imported_from": str(src.absolute()),
                                  "imported": _now()}
        writer.commit(manifest)


def download(name: str, revision: str = "main", display_name: str | None = None, emit: Emit | None = None,
             plan_only: bool = False, variants: tuple[str, ...] = INSTALL_VARIANTS) -> Path | None:
    """Download ``name`` from the hub (continuing an earlier attempt) and install it."""
    emit = emit or (lambda e: None)
    repo = hub.repo_id(name)
    folder = hub.download_folder(downloads_dir(), repo)
    plan = hub.plan(name, revision, folder)
    emit(plan.to_event(folder))
    if plan_only:
        return None
    _require_torch()  # every hub checkpoint is exported to ONNX once downloaded
    # The export after the download must fit in memory: say so before gigabytes are fetched.
    parameters = plan.weights.size // 4
    if problem := memory_problem(export_memory(parameters), f"installing {repo} ({parameters / 1e6:.0f}M parameters)"):
        raise ModelError(problem)
    with _InstallLock():
        def check_config(path: Path) -> None:
            if path.name == "config.json":  # before the big file: is this GPT-2 at all?
                GPT2Config.load(path)

        hub.download(plan, folder, emit, on_file=check_config)
        display_name = (display_name or "").strip() or (name if name in hub.KNOWN else repo.split("/")[-1])
        dest = target_folder(display_name)
        provenance = {"source": f"{plan.endpoint}/{repo}", "hub_repo": repo, "hub_revision": revision,
                      "hub_commit": plan.commit, "downloaded": _now(),
                      "hub_sha256": {f.name: f.sha256 for f in plan.files if f.sha256}}
        _export(folder, dest, display_name, emit, variants=variants, provenance=provenance,
                licence=plan.licence or "unspecified")
        shutil.rmtree(folder, ignore_errors=True)  # the bundle keeps the checkpoint in hf/
    emit({"event": "installed", "folder": str(dest), "name": display_name})
    return dest


def discard_download(name: str) -> bool:
    folder = hub.download_folder(downloads_dir(), hub.repo_id(name))
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def progress_text(event: dict[str, Any]) -> str:
    """``12.0 MB of 548.1 MB · 10.2 MB/s · 52 s left`` for a ``download`` event."""
    parts = [f"{human_bytes(event['done'])} of {human_bytes(event['total'])}"]
    if event.get("bytes_per_s"):
        parts.append(f"{human_bytes(event['bytes_per_s'])}/s")
    if event.get("eta_s") is not None and event["done"] < event["total"]:
        parts.append(f"{human_duration(event['eta_s'])} left")
    return " · ".join(parts)
