"""Inkwell model bundles: a folder with ``inkwell-model.json`` beside the ONNX file(s).

Torch-free: the editor imports this module. ``Bundle`` reads and checks a bundle;
``BundleWriter`` builds one in a temporary folder next to the destination and moves it into
place only when it is complete, so a failed or interrupted export leaves nothing half-written.
The manifest is described in docs/architecture.md (Model bundle).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from core import onnx_info
from core.config import read_json
from core.errors import ModelError
from core.fileio import atomic_write_text, open_regular, publish_folder, umask
from core.locks import FileLock, try_lock

MANIFEST = "inkwell-model.json"
FORMAT = "inkwell-model"
# 2: the decoder graph updates a fixed-size cache in place (GroupQueryAttention); 1 returned a new
# cache every step.
FORMAT_VERSION = 2
VARIANT_FILES = {"int8": "model.int8.onnx", "fp16": "model.fp16.onnx", "fp32": "model.fp32.onnx"}
# The cache's element type for each variant a bundle writes now (core/onnx_graph.py: int8 weights
# go with an int8 cache); older bundles' int8 graphs have a float32 cache, and their manifests say so.
KV_DTYPES = {"int8": "int8", "fp32": "float32", "fp16": "float16"}
KV_BYTES = {"float32": 4, "float16": 2, "int8": 1}
# Which variant each kind of device runs when the bundle has several.
PREFERENCE = {"cpu": ("int8", "fp32", "fp16"), "cuda": ("fp16", "fp32", "int8")}
ARCHITECTURE_KEYS = ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size")
# Far above any GPT-2 (48 layers, 25 heads, width 1600, 1024 positions, 50257 tokens): a number
# beyond these is a damaged or hostile manifest, refused before anything is sized by it.
ARCHITECTURE_MAX = {"n_layer": 1024, "n_head": 1024, "n_embd": 1 << 16, "n_positions": 1 << 31, "vocab_size": 1 << 22}
TOKENIZER_VOCAB = 50257  # the gpt2 tokenizer's ids: 0 .. 50256 (core.tokenizer, <|endoftext|> last)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_file(path: str | Path, on_bytes: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as f:  # never a FIFO or a device (either would not end)
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            if on_bytes:
                on_bytes(len(chunk))
    return digest.hexdigest()


def _file_entry(folder: Path, rel: str) -> dict[str, Any]:
    path = folder / rel
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


class Bundle:
    """A model bundle on disk. ``load`` checks the manifest and that every listed file is there
    with its recorded size; ``verify`` also checks every file's sha256."""

    def __init__(self, folder: Path, manifest: dict[str, Any]):
        self.folder = folder
        self.manifest = manifest

    # --- reading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, folder: str | Path) -> Bundle:
        folder = Path(folder)
        path = folder / MANIFEST
        if not folder.is_dir():
            raise ModelError(f"{folder}: no such model folder")
        try:
            manifest = read_json(path)
        except FileNotFoundError:
            raise ModelError(f"{folder}: not an Inkwell model ({MANIFEST} is missing)") from None
        _check_manifest(manifest, str(path))
        bundle = cls(folder, manifest)
        for rel, entry in bundle.entries():
            file = folder / rel
            if not file.is_file():
                if file.exists():  # never opened: a pipe would block, a device never end
                    raise ModelError(f"{file}: file listed in {MANIFEST} is not a regular file")
                raise ModelError(f"{file}: file listed in {MANIFEST} is missing")
            size = file.stat().st_size
            if size != entry["bytes"]:
                raise ModelError(
                    f"{file}: file is {size} bytes but {MANIFEST} says {entry['bytes']} "
                    "(truncated or replaced)"
                )
        return bundle

    def entries(self) -> list[tuple[str, dict[str, Any]]]:
        """(path inside the bundle, manifest entry) of every file the manifest lists."""
        entries = [(v["file"], v) for v in self.manifest["variants"].values()]
        entries += list(self.manifest.get("files", {}).items())
        return entries

    def verify(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Check the sha256 of every file; ``progress(done_bytes, total_bytes)`` if given."""
        entries = self.entries()
        total = sum(e["bytes"] for _, e in entries)
        done = 0

        def on_bytes(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, total)

        for rel, entry in entries:
            path = self.folder / rel
            try:
                digest = sha256_file(path, on_bytes)
            except OSError as exc:
                raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
            if digest != entry["sha256"]:
                raise ModelError(f"{path}: checksum mismatch, the file is corrupt or was modified")

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def architecture(self) -> dict[str, int]:
        return dict(self.manifest["architecture"])

    @property
    def context_length(self) -> int:
        return self.manifest["context_length"]

    @property
    def variants(self) -> list[str]:
        return list(self.manifest["variants"])

    @property
    def has_hf(self) -> bool:
        files = self.manifest.get("files", {})
        return "hf/config.json" in files and any(k.startswith("hf/") and k != "hf/config.json" for k in files)

    @property
    def hf_path(self) -> Path:
        return self.folder / "hf"

    def variant_path(self, name: str) -> Path:
        variant = self.manifest["variants"].get(name)
        if variant is None:
            raise ModelError(
                f"{self.folder / MANIFEST}: the model has no {name!r} variant "
                f"(it has {', '.join(self.variants)})"
            )
        return self.folder / variant["file"]

    def check_graph(self, name: str) -> onnx_info.GraphInfo:
        """Read the variant's ONNX graph (its declared inputs and initializers, not its weights)
        and check every manifest number against it; ModelError naming each disagreement.
        Returns what was read."""
        return self.check_graph_file(self.variant_path(name), self.manifest["variants"][name]["kv_dtype"])

    def check_graph_file(self, path: Path, kv_dtype: str) -> onnx_info.GraphInfo:
        """``check_graph`` for a graph file of this model kept elsewhere (one built from hf/)."""
        info = onnx_info.read(path)
        problems = graph_problems(info, self.architecture, self.context_length, kv_dtype)
        if problems:
            raise ModelError(f"{path}: " + "; ".join(problems) + f" ({MANIFEST} does not describe this graph)")
        return info

    def variant_info(self, name: str) -> dict[str, Any]:
        self.variant_path(name)
        return dict(self.manifest["variants"][name])

    def preferred_variant(self, device: str = "cpu") -> str:
        """The variant to run on ``device`` ("cpu" or "cuda"), among those the bundle has; for a
        bundle of weights only (no graphs), the one to build from hf/ for that device."""
        preference = PREFERENCE.get(device, PREFERENCE["cpu"])
        for name in preference:
            if name in self.manifest["variants"]:
                return name
        return preference[0]


_PAST_KEY = re.compile(r"past_key_values\.(\d+)\.key")


def graph_architecture(info: onnx_info.GraphInfo) -> dict[str, Any]:
    """The architecture numbers an ONNX decoder graph itself declares, from its inputs, outputs
    and embedding tables: n_layer, n_head, n_embd, n_positions, vocab_size and kv_dtype, each
    None where the graph does not fix it (a dynamic dimension, a table under another name)."""
    layers = sorted(int(m[1]) for n in info.inputs if (m := _PAST_KEY.fullmatch(n)))
    arch: dict[str, Any] = dict.fromkeys(("n_layer", "n_head", "n_embd", "n_positions", "vocab_size", "kv_dtype"))
    if layers:
        arch["n_layer"] = len(layers) if layers == list(range(len(layers))) else -1
        kv = info.inputs["past_key_values.0.key"]
        arch["kv_dtype"] = onnx_info.TYPE_NAMES.get(kv.elem_type, f"type {kv.elem_type}")
        if len(kv.shape) == 4 and isinstance(kv.shape[1], int) and isinstance(kv.shape[3], int):
            arch["n_head"], arch["n_embd"] = kv.shape[1], kv.shape[1] * kv.shape[3]
    logits = info.outputs.get("logits")
    if logits is not None and logits.shape and isinstance(logits.shape[-1], int):
        arch["vocab_size"] = logits.shape[-1]
    inits = info.initializers
    if (wpe := inits.get("wpe.weight")) is not None and len(wpe.dims) == 2:
        arch["n_positions"] = wpe.dims[0]
        arch["n_embd"] = arch["n_embd"] or wpe.dims[1]
    # The token table, in the layouts the exporter writes: fp32/fp16 [vocab, n_embd], int8
    # blocks [vocab, blocks, block], int8 per channel [n_embd, vocab].
    if ((wte := inits.get("wte.weight")) is not None and len(wte.dims) == 2
            or (wte := inits.get("wte.weight.q")) is not None and len(wte.dims) == 3):
        arch["vocab_size"] = arch["vocab_size"] or wte.dims[0]
    elif (wte := inits.get("wte.q")) is not None and len(wte.dims) == 2:
        arch["vocab_size"] = arch["vocab_size"] or wte.dims[1]
    return arch


def graph_problems(info: onnx_info.GraphInfo, arch: dict[str, Any], context_length: int,
                   kv_dtype: str | None = None) -> list[str]:
    """What in a manifest (``arch``, ``context_length``, ``kv_dtype``) the graph contradicts."""
    got = graph_architecture(info)
    problems = []
    if got["n_layer"] is None:
        problems.append("it has no past_key_values.N.key inputs (not an Inkwell decoder graph)")
    elif got["n_layer"] < 0:
        problems.append("its past_key_values inputs are not numbered 0, 1, 2, ...")
    if got["n_positions"] is not None and context_length > got["n_positions"]:
        problems.append(f"the graph has positions for {got['n_positions']} tokens, the manifest's "
                        f"context_length is {context_length}")
    for key in ARCHITECTURE_KEYS:
        if got[key] is not None and got[key] >= 0 and got[key] != arch.get(key):
            problems.append(f"the graph has {key} {got[key]}, the manifest says {arch.get(key)}")
    if kv_dtype is not None and got["kv_dtype"] is not None and got["kv_dtype"] != kv_dtype:
        problems.append(f"the graph's cache is {got['kv_dtype']}, the manifest says {kv_dtype}")
    return problems


def check_file(folder: Path, rel: str) -> Path:
    """``folder / rel`` when it is a regular file that stays inside ``folder`` (a link must
    not lead out of it, say to another user's file or a device); else a ModelError."""
    path = folder / rel
    try:
        real, root = path.resolve(strict=True), folder.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a loop of links
        raise ModelError(f"{path}: file listed in {MANIFEST} is missing") from None
    if real != root and root not in real.parents:
        raise ModelError(f"{path}: a link that leads out of the model folder (to {real}); "
                         "Inkwell only reads files inside a model's folder")
    if not real.is_file():
        raise ModelError(f"{path}: not a regular file (a folder, device or pipe)")
    return path


def _check_manifest(m: Any, source: str) -> None:
    def bad(problem: str) -> ModelError:
        return ModelError(f"{source}: {problem}")

    if not isinstance(m, dict):
        raise bad("expected a JSON object")
    _check_format(m, bad)
    if not isinstance(m.get("name"), str) or not m["name"].strip():
        raise bad("name is missing")
    arch = _check_architecture(m.get("architecture"), bad)
    if m.get("tokenizer") != "gpt2":
        raise bad(f"tokenizer {m.get('tokenizer')!r} is not supported (only 'gpt2')")
    if not _positive_int(m.get("context_length")):
        raise bad(f"context_length must be a positive integer, got {m.get('context_length')!r}")
    if m["context_length"] > arch["n_positions"]:
        raise bad(f"context_length {m['context_length']} is more than the model's {arch['n_positions']} "
                  "positions (architecture.n_positions)")
    _check_contents(m, bad)


def _check_format(m: dict[str, Any], bad: Callable[[str], ModelError]) -> None:
    if m.get("format") != FORMAT:
        raise bad(f"not an Inkwell model manifest (format is {m.get('format')!r}, expected {FORMAT!r})")
    version = m.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad("format_version is missing or not an integer")
    if version > FORMAT_VERSION:
        raise bad(f"format_version {version} is newer than this Inkwell understands ({FORMAT_VERSION}); update Inkwell")
    if version < FORMAT_VERSION:
        raise bad(f"format_version {version}: exported by an earlier Inkwell whose ONNX graph this version no "
                  "longer runs; export the model again from its Hugging Face checkpoint (inkwell export)")


def _check_architecture(arch: Any, bad: Callable[[str], ModelError]) -> dict[str, Any]:
    if not isinstance(arch, dict):
        raise bad("architecture is missing")
    for key in ARCHITECTURE_KEYS:
        if not _positive_int(arch.get(key)):
            raise bad(f"architecture.{key} must be a positive integer, got {arch.get(key)!r}")
        if arch[key] > ARCHITECTURE_MAX[key]:  # before anything is sized by it
            raise bad(f"architecture.{key} must be at most {ARCHITECTURE_MAX[key]:,}, got {arch[key]:,}")
    if arch["vocab_size"] < TOKENIZER_VOCAB:
        # The tokenizer's ids reach TOKENIZER_VOCAB - 1: a smaller token table fails in ONNX
        # Runtime ("Gather out of bounds") at the first suggestion.
        raise bad(f"the model has a vocabulary of {arch['vocab_size']} tokens (architecture.vocab_size), but its "
                  f"tokenizer (gpt2) has {TOKENIZER_VOCAB}: it was not trained with this tokenizer")
    if arch["n_embd"] % arch["n_head"]:
        raise bad("architecture.n_embd must be divisible by architecture.n_head")
    return arch


def _check_contents(m: dict[str, Any], bad: Callable[[str], ModelError]) -> None:
    """The manifest's variants and files: names, paths, checksums and sizes."""
    variants = m.get("variants")
    files = m.get("files", {})
    if not isinstance(files, dict):
        raise bad("files must be an object")
    # A bundle may ship its weights only (hf/): its graphs are built on first use.
    weights_only = "hf/config.json" in files and any(k.startswith("hf/") and k != "hf/config.json" for k in files)
    if not isinstance(variants, dict) or not (variants or weights_only):
        raise bad("variants is missing or empty (and there is no hf/ checkpoint to build them from)")
    for name, v in variants.items():
        if name not in VARIANT_FILES:
            raise bad(f"unknown variant {name!r} (expected {', '.join(VARIANT_FILES)})")
        if not isinstance(v, dict):
            raise bad(f"variants.{name} must be an object")
        _check_entry(v, f"variants.{name}", bad)
        _check_relative(v.get("file"), f"variants.{name}.file", bad)
        if not isinstance(v.get("kv_dtype"), str) or v["kv_dtype"] not in KV_BYTES:  # (a list is unhashable)
            raise bad(f"variants.{name}.kv_dtype must be one of {', '.join(KV_BYTES)}, got {v.get('kv_dtype')!r}")
    for rel, entry in files.items():
        _check_relative(rel, f"files[{rel!r}]", bad)
        if not isinstance(entry, dict):
            raise bad(f"files[{rel!r}] must be an object")
        _check_entry(entry, f"files[{rel!r}]", bad)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_entry(entry: dict, where: str, bad: Callable[[str], ModelError]) -> None:
    if not isinstance(entry.get("sha256"), str) or not _SHA256.match(entry["sha256"]):
        raise bad(f"{where}.sha256 must be 64 lowercase hex digits")
    if not isinstance(entry.get("bytes"), int) or isinstance(entry["bytes"], bool) or entry["bytes"] < 0:
        raise bad(f"{where}.bytes must be a non-negative integer")


def _check_relative(rel: Any, where: str, bad: Callable[[str], ModelError]) -> None:
    """Files must stay inside the bundle: a manifest must not point at /etc/passwd or ../x."""
    if not isinstance(rel, str) or not rel:
        raise bad(f"{where} must be a file name")
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or "\\" in rel or ":" in rel:
        raise bad(f"{where} {rel!r} must be a path inside the bundle folder")


# --- writing ------------------------------------------------------------------------------------


# A partial bundle holds this file, locked (flock / LockFile) by the process writing it for as
# long as it lives: the lock goes with the process however it ends, even kill -9, so a partial
# folder whose file nobody holds is provably abandoned and anyone may remove it.
OWNER_FILE = ".inkwell-owner"
# A partial folder without that file is either from an Inkwell before it, or one whose writer has
# just created it: removed only once it is this old.
UNOWNED_GRACE_S = 600


class _Owner:
    """The lock that says: this process is writing ``folder``."""

    def __init__(self, folder: Path):
        self.lock = try_lock(folder / OWNER_FILE)
        if self.lock is None:
            raise ModelError(f"{folder}: another process is writing this folder")
        with contextlib.suppress(OSError):  # for a person looking: who writes it
            (folder / OWNER_FILE).write_text(f"pid {os.getpid()}\n", encoding="ascii")

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release(remove=True)
            self.lock = None


def clear_abandoned(root: Path, prefix: str = ".") -> list[Path]:
    """Remove the partial bundles in ``root`` (hidden ``*.partial`` folders whose name starts with
    ``prefix``) that no living process is writing; returns those removed. Another process's
    export, fine-tune install or import in progress is left alone."""
    removed: list[Path] = []
    try:
        candidates = [p for p in Path(root).iterdir() if p.name.startswith(prefix) and p.name.endswith(".partial")]
    except OSError:
        return removed
    for folder in candidates:
        if folder.is_symlink() or not folder.is_dir():
            continue
        owner = folder / OWNER_FILE
        try:
            before = os.stat(owner)
        except FileNotFoundError:
            try:
                young = time.time() - folder.stat().st_mtime < UNOWNED_GRACE_S
            except OSError:
                continue
            if not young:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            continue
        except OSError:
            continue
        lock = FileLock(owner)
        try:
            if not lock.try_acquire():
                continue  # its writer is alive
            if os.stat(owner).st_ino != before.st_ino:
                lock.release(remove=True)  # its writer let go just now, to publish it: not ours
                continue
            if os.name == "nt":  # Windows deletes no open file
                lock.release()
            shutil.rmtree(folder, ignore_errors=True)  # holding the lock: no one can claim it now
            removed.append(folder)
        except OSError:
            continue
        finally:
            lock.release()
    return removed


class BundleWriter:
    """Builds a bundle in a hidden temporary folder beside ``dest``; ``commit`` moves it into place.

    Use as a context manager: leaving the block without ``commit`` (an error, Ctrl+C) removes the
    temporary folder, and ``dest`` is untouched. With ``force`` an existing bundle at ``dest`` is
    replaced, but never a folder that is not an Inkwell bundle (a mistyped path must not delete
    someone's documents). The temporary folder carries an owner lock (``OWNER_FILE``), so that a
    killed writer's folder can be told from a living one's: a new writer for the same ``dest``
    first removes those of killed writers (``clear_abandoned``).
    """

    def __init__(self, dest: str | Path, force: bool = False):
        self.dest = Path(dest).absolute()
        self.force = force
        check_destination(self.dest, force)
        parent = self.dest.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            clear_abandoned(parent, prefix=f".{self.dest.name}.")
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.", suffix=".partial", dir=parent))
            self._owner = _Owner(self.tmp)
        except OSError as exc:
            raise ModelError(f"{self.dest}: cannot write the model here ({exc.strerror or exc})") from None
        self.variants: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.committed = False

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            self.abort()

    def path(self, rel: str) -> Path:
        """Where to write ``rel`` (a path inside the bundle) before the commit."""
        p = self.tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def add_variant(self, name: str, kv_dtype: str | None = None, **extra: Any) -> dict[str, Any]:
        rel = VARIANT_FILES[name]
        entry = {"file": rel, **_file_entry(self.tmp, rel), "kv_dtype": kv_dtype or KV_DTYPES[name], **extra}
        self.variants[name] = entry
        return entry

    def add_file(self, rel: str) -> dict[str, Any]:
        self.files[rel] = _file_entry(self.tmp, rel)
        return self.files[rel]

    def commit(self, manifest: dict[str, Any]) -> Bundle:
        """Write the manifest (``variants`` and ``files`` filled in from what was added), check
        the result loads, and move it to ``dest``."""
        ordered = {"format": FORMAT, "format_version": FORMAT_VERSION}
        ordered.update(manifest)
        ordered["variants"] = {k: self.variants[k] for k in VARIANT_FILES if k in self.variants}
        ordered["files"] = dict(sorted(self.files.items()))
        atomic_write_text(self.tmp / MANIFEST, json.dumps(ordered, indent=2) + "\n")
        Bundle.load(self.tmp)
        self._owner.release()  # not part of the bundle; the folder is young, so still left alone
        _apply_umask(self.tmp)
        check_destination(self.dest, self.force)
        publish_folder(self.tmp, self.dest)
        self.committed = True
        return Bundle.load(self.dest)

    def abort(self) -> None:
        self._owner.release()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _apply_umask(folder: Path) -> None:
    """mkdtemp makes a private folder; the finished bundle gets the user's usual permissions."""
    mask = umask()
    os.chmod(folder, 0o777 & ~mask)
    for path in folder.rglob("*"):
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def check_destination(dest: Path, force: bool) -> None:
    """Fail early, before any work, when ``dest`` cannot receive a bundle."""
    if dest.exists() or dest.is_symlink():
        if not force:
            raise ModelError(f"{dest}: already exists (use --force to replace it)")
        if not dest.is_dir() or dest.is_symlink():
            raise ModelError(f"{dest}: exists and is not a folder; not replacing it")
        if not (dest / MANIFEST).is_file() and any(dest.iterdir()):
            raise ModelError(f"{dest}: exists and is not an Inkwell model; not replacing it")
    parent = dest.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ModelError(f"{dest}: cannot write the model here ({parent} is not a folder)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ModelError(f"{dest}: cannot write the model here ({parent} is not writable)")
