"""Inkwell model bundles: a folder with ``inkwell-model.json`` beside the ONNX file(s).

Torch-free: the editor imports this module. ``Bundle`` reads and checks a bundle;
``BundleWriter`` builds one in a temporary folder next to the destination and moves it into
place only when it is complete, so a failed or interrupted export leaves nothing half-written.
The manifest schema is in CONTRACTS.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from model.config import read_json
from model.fileio import open_regular
from model.errors import ModelError

MANIFEST = "inkwell-model.json"
FORMAT = "inkwell-model"
# 2: the decoder graph updates a fixed-size cache in place (GroupQueryAttention); 1 returned a new
# cache every step.
FORMAT_VERSION = 2
VARIANT_FILES = {"int8": "model.int8.onnx", "fp16": "model.fp16.onnx", "fp32": "model.fp32.onnx"}
KV_DTYPES = {"int8": "float32", "fp32": "float32", "fp16": "float16"}
# Which variant each kind of device runs when the bundle has several.
PREFERENCE = {"cpu": ("int8", "fp32", "fp16"), "cuda": ("fp16", "fp32", "int8")}
ARCHITECTURE_KEYS = ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size")
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
    def load(cls, folder: str | Path) -> "Bundle":
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
        for rel, entry in bundle._entries():
            file = folder / rel
            if not file.is_file():
                raise ModelError(f"{file}: file listed in {MANIFEST} is missing")
            size = file.stat().st_size
            if size != entry["bytes"]:
                raise ModelError(
                    f"{file}: file is {size} bytes but {MANIFEST} says {entry['bytes']} "
                    "(truncated or replaced)"
                )
        return bundle

    def _entries(self) -> list[tuple[str, dict[str, Any]]]:
        entries = [(v["file"], v) for v in self.manifest["variants"].values()]
        entries += list(self.manifest.get("files", {}).items())
        return entries

    def verify(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Check the sha256 of every file; ``progress(done_bytes, total_bytes)`` if given."""
        entries = self._entries()
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

    def variant_info(self, name: str) -> dict[str, Any]:
        self.variant_path(name)
        return dict(self.manifest["variants"][name])

    def preferred_variant(self, device: str = "cpu") -> str:
        """The variant to run on ``device`` ("cpu" or "cuda"), among those the bundle has."""
        for name in PREFERENCE.get(device, PREFERENCE["cpu"]):
            if name in self.manifest["variants"]:
                return name
        return self.variants[0]


def _check_manifest(m: Any, source: str) -> None:
    def bad(problem: str) -> ModelError:
        return ModelError(f"{source}: {problem}")

    if not isinstance(m, dict):
        raise bad("expected a JSON object")
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
    if not isinstance(m.get("name"), str) or not m["name"].strip():
        raise bad("name is missing")
    arch = m.get("architecture")
    if not isinstance(arch, dict):
        raise bad("architecture is missing")
    for key in ARCHITECTURE_KEYS:
        if not _positive_int(arch.get(key)):
            raise bad(f"architecture.{key} must be a positive integer, got {arch.get(key)!r}")
    if arch["n_embd"] % arch["n_head"]:
        raise bad("architecture.n_embd must be divisible by architecture.n_head")
    if m.get("tokenizer") != "gpt2":
        raise bad(f"tokenizer {m.get('tokenizer')!r} is not supported (only 'gpt2')")
    if not _positive_int(m.get("context_length")):
        raise bad(f"context_length must be a positive integer, got {m.get('context_length')!r}")
    variants = m.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise bad("variants is missing or empty")
    for name, v in variants.items():
        if name not in VARIANT_FILES:
            raise bad(f"unknown variant {name!r} (expected {', '.join(VARIANT_FILES)})")
        if not isinstance(v, dict):
            raise bad(f"variants.{name} must be an object")
        _check_entry(v, f"variants.{name}", bad)
        _check_relative(v.get("file"), f"variants.{name}.file", bad)
        if v.get("kv_dtype") not in ("float32", "float16"):
            raise bad(f"variants.{name}.kv_dtype must be 'float32' or 'float16', got {v.get('kv_dtype')!r}")
    files = m.get("files", {})
    if not isinstance(files, dict):
        raise bad("files must be an object")
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


class BundleWriter:
    """Builds a bundle in a hidden temporary folder beside ``dest``; ``commit`` moves it into place.

    Use as a context manager: leaving the block without ``commit`` (an error, Ctrl+C) removes the
    temporary folder, and ``dest`` is untouched. With ``force`` an existing bundle at ``dest`` is
    replaced, but never a folder that is not an Inkwell bundle (a mistyped path must not delete
    someone's documents).
    """

    def __init__(self, dest: str | Path, force: bool = False):
        self.dest = Path(dest).absolute()
        self.force = force
        check_destination(self.dest, force)
        parent = self.dest.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.", suffix=".partial", dir=parent))
        except OSError as exc:
            raise ModelError(f"{self.dest}: cannot write the model here ({exc.strerror or exc})") from None
        self.variants: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.committed = False

    def __enter__(self) -> "BundleWriter":
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
        (self.tmp / MANIFEST).write_text(json.dumps(ordered, indent=2) + "\n", encoding="utf-8")
        Bundle.load(self.tmp)
        _apply_umask(self.tmp)
        check_destination(self.dest, self.force)
        backup = None
        if self.dest.exists():
            backup = self.dest.with_name(f".{self.dest.name}.{os.getpid()}.old")
            os.replace(self.dest, backup)
        try:
            os.replace(self.tmp, self.dest)
        except OSError:
            if backup is not None:
                os.replace(backup, self.dest)
            raise
        self.committed = True
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
        return Bundle.load(self.dest)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _apply_umask(folder: Path) -> None:
    """mkdtemp makes a private folder; the finished bundle gets the user's usual permissions."""
    mask = os.umask(0)
    os.umask(mask)
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
