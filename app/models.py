"""The installed models: bundles shipped under resources/models and the user's in models_dir().

The active model is the ``model`` setting (a bundle folder); empty means the bundled default.
Torch-free: bundles are read with core.bundle (manifest and file sizes); the engine loads them.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import paths
from core.bundle import MANIFEST, Bundle
from core.config import read_json
from core.errors import ModelError
from core.fileio import atomic_write_text, is_finite_number


@dataclass(frozen=True)
class InstalledModel:
    folder: Path
    name: str
    bundled: bool
    manifest: dict = field(default_factory=dict, compare=False, repr=False)
    problem: str | None = None  # why it cannot be used, when its manifest is unreadable

    @property
    def label(self) -> str:
        params = self.parameters
        size = f" · {params / 1e6:.0f}M" if params is not None and params >= 1e6 else ""
        return f"{self.name}{size}" + (" (bundled)" if self.bundled else "")

    @property
    def parameters(self) -> int | None:
        """The manifest's parameter count when it is a plausible one (a whole number up to
        10**13: a damaged or hostile manifest's 10**300, -5 or "lots" is unknown)."""
        value = self.manifest.get("parameters")
        plausible = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 10**13
        return value if plausible else None

    @property
    def variants(self) -> list[str]:
        return list(self.manifest.get("variants", {}))

    @property
    def size_bytes(self) -> int:
        """What the model takes on disk: every file in its folder."""
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    @property
    def perplexity(self) -> float | None:
        ppl = self.manifest.get("perplexity")
        value = ppl.get("value") if isinstance(ppl, dict) else None
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def perplexity_text(self) -> str:
        """What the perplexity was measured on, as the manifest says ("" when it does not)."""
        ppl = self.manifest.get("perplexity")
        text = ppl.get("dataset") if isinstance(ppl, dict) else None
        return text.strip() if isinstance(text, str) else ""

    @property
    def compression(self) -> str:
        """A faster copy's measured figures against its original, in words ("" for other models)."""
        c = self.manifest.get("compression")
        if not isinstance(c, dict) or not _numbers(c, "keystroke_ms_copy", "keystroke_ms_original", "speedup"):
            return ""
        words = (f"a faster copy of {c.get('original', 'another model')}: {c['speedup']:.2f}× as fast per keystroke "
                 f"({c['keystroke_ms_copy']:.0f} ms against {c['keystroke_ms_original']:.0f} ms)")
        if _numbers(c, "parameters_copy", "parameters_original"):
            words += f", {c['parameters_copy'] / 1e6:.1f}M of {c['parameters_original'] / 1e6:.1f}M parameters"
        if _numbers(c, "perplexity_copy", "perplexity_original"):
            words += (f", held-out perplexity {c['perplexity_copy']:.1f} against {c['perplexity_original']:.1f} "
                      "on the text the training held out")
        return words

    @property
    def provenance(self) -> str:
        """Where the model came from, in a few words."""
        prov = self.manifest.get("provenance") or {}
        if self.bundled:
            return "bundled with Inkwell"
        if prov.get("hub_repo"):
            return f"downloaded: {prov['hub_repo']}"
        c = self.manifest.get("compression")
        if self.compression and isinstance(c, dict):
            return f"faster copy of {c.get('original', 'a model')} ({c['speedup']:.1f}× as fast)"
        if prov.get("training"):
            return "fine-tuned in Inkwell"
        source = prov.get("imported_from") or prov.get("source")
        return f"imported: {Path(source).name}" if source else "unknown"


def _numbers(d: dict, *keys: str) -> bool:
    return all(is_finite_number(d.get(k)) and d[k] > 0 for k in keys)


def _read(folder: Path, bundled: bool) -> InstalledModel:
    try:
        bundle = Bundle.load(folder)  # manifest and files checked; checksums only when loaded
    except ModelError as exc:
        return InstalledModel(folder, folder.name, bundled, {}, str(exc))
    return InstalledModel(folder, bundle.name, bundled, bundle.manifest)


def installed_models() -> list[InstalledModel]:
    """Bundled models first, then the user's, each sorted by folder name."""
    found = []
    for root, bundled in ((paths.bundled_models_dir(), True), (paths.models_dir(), False)):
        if root.is_dir():
            # Hidden folders are models being written or deleted: never list them.
            found += [_read(m.parent, bundled) for m in sorted(root.glob(f"*/{MANIFEST}"))
                      if not m.parent.name.startswith(".")]
    return found


def default_model() -> InstalledModel | None:
    models = installed_models()
    usable = [m for m in models if m.problem is None]
    bundled = [m for m in usable if m.bundled]
    found = bundled or usable
    return found[0] if found else None


def active_model(setting: str) -> tuple[InstalledModel | None, str | None]:
    """The model the ``model`` setting names, or the default; plus a notice when it fell back."""
    if setting:
        folder = Path(setting)
        if (folder / MANIFEST).is_file():
            chosen = _read(folder, folder.resolve().parent == paths.bundled_models_dir().resolve())
            if chosen.problem is None:
                return chosen, None
            notice = chosen.problem
        else:
            notice = f"{folder}: model folder not found (no {MANIFEST})"
        fallback = default_model()
        if fallback is not None:
            notice += f"; using {fallback.name} instead"
        return fallback, notice
    return default_model(), None


def rename(model: InstalledModel, name: str) -> InstalledModel:
    """Give a user model a new display name (the folder keeps its name); the manifest is
    replaced atomically, so a crash leaves the old name or the new one."""
    name = name.strip()
    if not name:
        raise ModelError("a model's name cannot be empty")
    if model.bundled:
        raise ModelError(f"{model.name} comes with Inkwell and cannot be renamed")
    path = model.folder / MANIFEST
    manifest = read_json(path)
    manifest["name"] = name
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
    return _read(model.folder, False)


def record(folder: Path, key: str, value: Any) -> None:
    """Set ``key`` of a user model's manifest (measured figures, added after the install); the
    manifest is replaced atomically, like a rename's."""
    path = folder / MANIFEST
    manifest = read_json(path)
    manifest[key] = value
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")


def remove(model: InstalledModel) -> None:
    """Delete a user model. The folder is first renamed to a hidden one, so that a deletion
    interrupted half-way never leaves a broken model in the list."""
    if model.bundled:
        raise ModelError(f"{model.name} comes with Inkwell and cannot be deleted")
    if model.folder.resolve().parent != paths.models_dir().resolve():
        raise ModelError(f"{model.folder}: not in Inkwell's models folder; not deleting it")
    doomed = model.folder.with_name(f".{model.folder.name}.{os.getpid()}.deleting")
    try:
        os.replace(model.folder, doomed)
    except OSError as exc:
        raise ModelError(f"{model.folder}: cannot delete ({exc.strerror or exc})") from None
    shutil.rmtree(doomed, ignore_errors=True)


def find(key: str) -> InstalledModel:
    """An installed model by folder path, folder name or display name (for the command line)."""
    models = installed_models()
    for test in (lambda m: str(m.folder) == key or m.folder == Path(key).absolute(),
                 lambda m: m.folder.name == key, lambda m: m.name == key):
        hits = [m for m in models if test(m)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ModelError(f"{key!r} names {len(hits)} models; give the folder instead: "
                             + ", ".join(str(m.folder) for m in hits))
    raise ModelError(f"{key!r}: no such installed model (see `inkwell models list`)")
