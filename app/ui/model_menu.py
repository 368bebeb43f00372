"""The Model menu, filled afresh each time it opens: the installed models (the active one
checked), where to run them, and the ways to get, reload or fine-tune one."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QUrl
from PySide6.QtGui import QActionGroup, QDesktopServices
from PySide6.QtWidgets import QMenu

from app import models
from app.settings import PROVIDERS, Settings
from core import paths


def fill_model_menu(menu: QMenu, settings: Settings, manage: Callable[[], None], reload: Callable[[], None],
                    finetune: Callable[[], None]) -> None:
    menu.clear()
    group = QActionGroup(menu)
    active, _ = models.active_model(settings["model"])
    default = models.default_model()
    installed = models.installed_models()
    for model in installed:
        action = menu.addAction(model.label)
        action.setCheckable(True)
        action.setEnabled(model.problem is None)
        if model.problem:
            action.setToolTip(model.problem)
        action.setChecked(active is not None and model.folder == active.folder)
        value = "" if model == default else str(model.folder)
        action.triggered.connect(lambda _=False, v=value: settings.set("model", v))
        group.addAction(action)
    if not installed:
        menu.addAction("No models installed").setEnabled(False)
    menu.addSeparator()
    run_on = menu.addMenu("Run on")
    providers = QActionGroup(run_on)
    for value, label in PROVIDERS.items():
        action = run_on.addAction(label)
        action.setCheckable(True)
        action.setChecked(settings["provider"] == value)
        action.triggered.connect(lambda _=False, v=value: settings.set("provider", v))
        providers.addAction(action)
    menu.addAction("Manage models…", manage)
    menu.addAction("Reload model", reload)
    menu.addAction("Open models folder", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.models_dir()))))
    menu.addSeparator()
    menu.addAction("Fine-tune on your texts…", finetune)
