"""The installed models: bundles shipped under resources/models and the user's in models_dir().

The active model is the ``model`` setting (a bundle folder); empty means the bundled default.
Torch-free: bundles are read with model.bundle (manifest and file sizes); the engine loads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app import paths
from model.bundle import MANIFEST, Bundle
from model.errors import ModelError


@dataclass(frozen=True)
class InstalledModel:
    folder: Path
    name: str
    bundled: bool
    manifest: dict = field(default_factory=dict, compare=False, repr=False)
    problem: str | None = None  # why it cannot be used, when its manifest is unreadable

    @property
    def label(self) -> str:
        params = self.manifest.get("parameters")
        size = f" · {params / 1e6:.0f}M" if isinstance(params, (int, float)) and params >= 1e6 else ""
        return f"{self.name}{size}" + (" (bundled)" if self.bundled else "")


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
            found += [_read(m.parent, bundled) for m in sorted(root.glob(f"*/{MANIFEST}"))]
    return found


def default_model() -> InstalledModel | None:
    models = installed_models()
    usable = [m for m in models if m.problem is None]
    bundled = [m for m in usable if m.bundled]
    return (bundled or usable or [None])[0]


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
