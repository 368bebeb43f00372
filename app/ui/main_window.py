"""The main window: it puts the editor, the bars, the settings dock and the status bar together,
makes the menus from the action table (app.ui.actions) and wires them to the editor and the two
controllers: app.ui.suggestions (the model, suggestions, story mode) and app.ui.files (opening,
saving, watching, autosave, recovery). It owns no suggestion or file state of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QByteArray, QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QActionGroup, QCloseEvent, QColor, QDesktopServices, QFont, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFontDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from app.bigtext import LONG_LINE
from app.markdown import is_markdown
from app.settings import Settings
from app.ui import theme as themes
from app.ui.actions import DEFAULT_KEYS, GHOST_ACTIONS, KEY_LABELS, PANEL_KEY, ActionRegistry, resolve_keys
from app.ui.bars import NoticeBar, StoryBar
from app.ui.editor import GhostEditor
from app.ui.files import DocumentFiles
from app.ui.find_replace import FindBar
from app.ui.highlighter import TextHighlighter
from app.ui.model_menu import fill_model_menu
from app.ui.settings_panel import SettingsPanel
from app.ui.spell_check import SpellCheck
from app.ui.status import StatusFields
from app.ui.suggestions import MODEL_KEYS, SuggestionController
from app.ui.view_modes import CtrlWheelZoom, FullScreen, zoom_step
from app.ui.wordcount import WordCounter
from core import paths

if TYPE_CHECKING:
    from app.ui.finetune_wizard import FinetuneWizard

# Settings changes are written to disk once they have settled (a spin box held down makes dozens).
SETTINGS_SAVE_MS = 400


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self._closing = False  # the writer closed the window; it closes once the fine-tune has stopped
        self.finetune_wizard: FinetuneWizard | None = None  # made when first opened
        self._keep_settings(settings or Settings.load())
        self.setObjectName("inkwell")
        self._build_editor()
        self._build_controllers()
        self._build_panel()
        self.status = StatusFields(self.statusBar())
        self._build_commands()
        self._connect_editor()
        self._connect_files()
        self._connect_suggestions()
        self._follow_settings()
        self._show_first_state()

    # construction ----------------------------------------------------------------------------

    def _keep_settings(self, settings: Settings) -> None:
        """Changes are written once they settle, and at the latest when Inkwell quits."""
        self.settings = settings
        self.settings.save_later = self._save_settings_soon
        self._settings_timer = QTimer(self, singleShot=True, interval=SETTINGS_SAVE_MS)
        self._settings_timer.timeout.connect(self.settings.flush)
        cast(QApplication, QApplication.instance()).aboutToQuit.connect(self.settings.flush)

    def _build_editor(self) -> None:
        """The editor in a column: the notices above it, the find bar and the story bar below."""
        self.editor = GhostEditor()
        self.editor.setObjectName("editor")
        self.story_bar = StoryBar()
        self.notice_bar = NoticeBar()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.notice_bar)
        column.addWidget(self.editor, 1)
        self.find_bar = FindBar(self.editor)
        column.addWidget(self.find_bar)
        column.addWidget(self.story_bar)
        self.setCentralWidget(central)

    def _build_controllers(self) -> None:
        """The owners of what goes on in the editor: words, highlighting, spelling, the file, suggestions."""
        self.words = WordCounter(self.editor.document())
        # One highlighter for the document: Markdown's shape in .md files, and spelling.
        self.highlighter = TextHighlighter(self.editor.document(), self.editor)
        self.editor.highlighter = self.highlighter
        self.spelling = SpellCheck(self.settings, self.editor, self.highlighter, self)
        self.files = DocumentFiles(self.editor, self.settings, self)
        self.suggestions = SuggestionController(self.editor, self.settings, self)

    def _build_panel(self) -> None:
        self.panel = SettingsPanel(self.settings, DEFAULT_KEYS, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.panel)
        self.panel.hide()

    def _build_commands(self) -> None:
        """The actions, the menus that show them, and the view modes (full screen, Ctrl+wheel zoom)."""
        self.commands = ActionRegistry(self, self._handlers())
        self._build_menus()
        self.full_screen = FullScreen(self)
        self.full_screen.toggled.connect(self.commands["full_screen"].setChecked)
        self.wheel_zoom = CtrlWheelZoom(self.editor.viewport(), self.zoom)

    def _follow_settings(self) -> None:
        self._apply_setting = self._appliers()
        for key in ("theme", "font_family", "wrap", "column_chars", "delay_ms", "auto_suggest", "keys",
                    "autosave_s", "recent_files", "spell_check", "confidence_shading"):
            self._apply(key)
        self.settings.on_change(self._setting_changed)
        self.settings.on_problem(self.show_notice)

    def _show_first_state(self) -> None:
        self._restore_geometry()
        self._update_title()
        self._update_format_label()
        self._update_cursor_label()
        self._show_words(self.words.total)
        self._story_changed()
        for notice in (self.settings.notice, self.files.problem):
            if notice:
                self.show_notice(notice)

    def _handlers(self) -> dict:
        e, f, s = self.editor, self.files, self.suggestions
        return {
            "new_file": f.new_file, "open_file": lambda: f.open_file(), "save": f.save, "save_as": f.save_as,
            "quit": self.close,
            "undo": e.undo, "redo": e.redo, "cut": e.cut, "copy": e.copy, "paste": e.paste,
            "select_all": e.selectAll,
            "find": self.find_bar.show_find, "replace": lambda: self.find_bar.show_find(replace=True),
            "find_next": self.find_bar.find_next, "find_previous": self.find_bar.find_previous,
            "choose_font": self._choose_font, "set_wrap": lambda on: self.settings.set("wrap", on),
            "suggest_now": s.suggest_now, **e.ghost_commands(), "show_alternatives": self.show_alternatives,
            "toggle_auto": self._toggle_auto,
            "story_continue": s.story_continue, "story_retry": s.story_retry, "story_stop": s.story_stop,
            "zoom_in": lambda: self.zoom(1), "zoom_out": lambda: self.zoom(-1), "zoom_reset": lambda: self.zoom(0),
            "full_screen": lambda on: self.full_screen.set_active(on),
            "show_user_guide": self.show_user_guide, "show_keys": self._show_keys, "open_log_folder": self.open_log_folder,
            "show_about": self._show_about,
        }

    def _build_menus(self) -> None:
        def recent(menu: QMenu) -> None:
            self.recent_menu = menu.addMenu("Open &Recent")

        def panel(menu: QMenu) -> None:
            action = self.panel.toggleViewAction()
            action.setText("&Settings panel")
            action.setShortcut(QKeySequence(PANEL_KEY))
            menu.addAction(action)

        def theme(menu: QMenu) -> None:
            self.theme_actions = self.commands.group("theme", {"light": "&Light", "dark": "&Dark"},
                                                    lambda name: self.settings.set("theme", name))
            menu.addMenu("&Theme").addActions(list(self.theme_actions.values()))

        def model(menu: QMenu) -> None:
            self.model_menu = menu
            menu.aboutToShow.connect(self._fill_model_menu)
            self._fill_model_menu()

        self.commands.build_menus(self.menuBar(), {"recent": recent, "panel": panel, "theme": theme, "model": model})

    def _connect_editor(self) -> None:
        e, a = self.editor, self.commands
        e.ghost_changed.connect(self._ghost_shown)
        e.cursorPositionChanged.connect(self._update_cursor_label)
        e.long_lines_broken.connect(self._pasted_long_lines)
        e.document().modificationChanged.connect(self._update_title)
        for name, available in (("undo", e.undoAvailable), ("redo", e.redoAvailable), ("cut", e.copyAvailable),
                                ("copy", e.copyAvailable)):
            available.connect(a[name].setEnabled)
            a[name].setEnabled(False)
        self._ghost_shown(False)
        self.words.changed.connect(self._show_words)
        self.spelling.problem.connect(self.show_notice)

    def _connect_files(self) -> None:
        f = self.files
        f.changed.connect(self._update_title)
        f.changed.connect(self._update_format_label)
        f.busy_changed.connect(self.status.load_label.setVisible)
        f.progress.connect(self.status.load_label.setText)
        f.ready.connect(lambda: self._show_words(self.words.total))
        f.replacing.connect(self.suggestions.reset)
        f.replacing.connect(self.find_bar.document_replaced)
        f.replacing.connect(self._text_replacing)
        f.replacing.connect(self.notice_bar.document_replaced)
        f.ready.connect(self._text_ready)
        f.changed.connect(lambda: self.highlighter.set_markdown(is_markdown(f.path)))
        f.notice.connect(self._file_notice)
        f.lasting_notice.connect(self.notice_bar.set_lasting)
        f.message.connect(self.statusBar().showMessage)

    def _connect_suggestions(self) -> None:
        s = self.suggestions
        s.model_status.connect(self._set_model_label)
        s.notice.connect(self.show_notice)
        s.message.connect(self.statusBar().showMessage)
        s.speed.connect(self.status.show_speed)
        s.story_changed.connect(self._story_changed)
        self.story_bar.stop_button.clicked.connect(s.story_stop)
        self.story_bar.retry_button.clicked.connect(s.story_retry)
        self.story_bar.keep_button.clicked.connect(s.story_keep)

    # start-up ----------------------------------------------------------------------------------

    def start(self, file: str | None = None) -> None:
        """After the window is shown: load the model in the background, open a file, offer recovery."""
        self.suggestions.load_model()
        if file:
            self.files.open_or_create(file)
        QTimer.singleShot(0, self.files.offer_recovery)

    def _restore_geometry(self) -> None:
        geometry = self.settings["geometry"]
        if not (geometry and self.restoreGeometry(QByteArray.fromHex(geometry.encode()))):
            self.resize(1100, 760)
        state = self.settings["window_state"]
        if state:
            self.restoreState(QByteArray.fromHex(state.encode()))

    def _save_geometry(self) -> None:
        self.settings.set("geometry", bytes(self.saveGeometry().toHex().data()).decode())
        self.settings.set("window_state", bytes(self.saveState().toHex().data()).decode())

    # settings ------------------------------------------------------------------------------------

    def _save_settings_soon(self) -> None:
        self._settings_timer.start()

    def _setting_changed(self, key: str, _value) -> None:
        self._apply(key)

    def _appliers(self) -> dict[str, Callable[[], None]]:
        """Setting -> what makes the window follow it."""
        s, e = self.settings, self.editor
        return {
            "theme": self._apply_theme,
            **dict.fromkeys(("font_family", "font_size", "zoom"), self._apply_font),
            "wrap": self._apply_wrap,
            "column_chars": lambda: e.set_column(s["column_chars"]),
            "delay_ms": lambda: e.set_delay(s["delay_ms"]),
            "auto_suggest": self._apply_auto_suggest,
            "confidence_shading": lambda: e.set_confidence_shading(s["confidence_shading"]),
            "keys": self._apply_keys,
            "autosave_s": lambda: self.files.set_autosave_interval(s["autosave_s"]),
            "recent_files": self._fill_recent_menu,
            # Looked up when applied, not when the table is made: a replaced method is the one called.
            **dict.fromkeys(("spell_check", "spell_language"), lambda: self.spelling.apply()),
            **dict.fromkeys(MODEL_KEYS, lambda: self.suggestions.load_model()),
        }

    def _apply(self, key: str) -> None:
        apply = self._apply_setting.get(key)
        if apply is not None:
            apply()

    def _apply_theme(self) -> None:
        theme = themes.apply(cast(QApplication, QApplication.instance()), self.settings["theme"])
        self.editor.set_colors(QColor(theme.ghost), QColor(theme.mark))
        self.highlighter.set_colors(QColor(theme.muted), QColor(theme.mark))
        self.theme_actions[self.settings["theme"]].setChecked(True)
        self.statusBar().setStyleSheet(f"QStatusBar {{ color: {theme.muted}; }}")
        self.story_bar.setStyleSheet(f"#storyBar {{ background: {theme.mark}; }}")
        self.notice_bar.setStyleSheet(f"#noticeBar {{ background: {theme.mark}; }}")

    def _apply_font(self) -> None:
        s = self.settings
        font = QFont(s["font_family"], s["font_size"]) if s["font_family"] else themes.default_editor_font(s["font_size"])
        font.setPointSizeF(s["font_size"] * s["zoom"] / 100)
        self.editor.setFont(font)
        self.commands["zoom_reset"].setText(f"&Reset zoom ({s['zoom']}%)")

    def _apply_wrap(self) -> None:
        mode = GhostEditor.LineWrapMode
        self.editor.setLineWrapMode(mode.WidgetWidth if self.settings["wrap"] else mode.NoWrap)
        self.commands["wrap"].setChecked(self.settings["wrap"])
        self.editor.set_column(self.settings["column_chars"])

    def _apply_auto_suggest(self) -> None:
        on = self.settings["auto_suggest"]
        self.editor.auto_suggest = on
        self.commands["toggle_auto"].setChecked(on)
        if not on:
            self.editor.clear_ghost()

    def _text_replacing(self) -> None:
        self.highlighter.paused = True  # spelling is checked once the text is in, screen first

    def _text_ready(self) -> None:
        self.highlighter.paused = False
        self.highlighter.markdown = is_markdown(self.files.path)
        self.highlighter.recheck()

    def key(self, name: str) -> str:
        return resolve_keys(self.settings["keys"])[0].get(name, "")

    def _apply_keys(self) -> None:
        keys, problems = resolve_keys(self.settings["keys"])
        for name in GHOST_ACTIONS:
            self.editor.keymap[name] = QKeySequence(keys[name])
        self.commands.apply_keys(keys)
        # (until the writer's keys no longer clash: a key taken twice would trigger neither command)
        self.notice_bar.set_lasting("keys", "\n".join(
            f"{why}: it keeps {self._key_text(name)}." if keys[name] else f"{why}: it has no key for now."
            for name, why in problems.items()))

    def _key_text(self, name: str) -> str:
        return QKeySequence(self.key(name)).toString(QKeySequence.SequenceFormat.NativeText)

    # model ---------------------------------------------------------------------------------------

    def _set_model_label(self, text: str, detail: str) -> None:
        self.status.show_model(text, detail)
        self.panel.set_model_status(detail)

    def _fill_model_menu(self) -> None:
        fill_model_menu(self.model_menu, self.settings, self.manage_models, self.suggestions.load_model,
                        self.open_finetune_wizard)

    def open_log_folder(self) -> None:
        """Show the log folder in the file manager (warnings and errors: core.logs)."""
        try:
            folder = paths.log_dir()
        except OSError as exc:
            self.statusBar().showMessage(f"The log folder cannot be created ({exc.strerror or exc})", 10000)
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.statusBar().showMessage(f"No program could open the log folder {folder}", 10000)

    def open_finetune_wizard(self) -> None:
        from app.ui.finetune_wizard import FinetuneWizard  # torch-free; training runs in a child process

        if self.finetune_wizard is not None and self.finetune_wizard.isVisible():
            self.finetune_wizard.raise_()
            return

        def document() -> tuple[str, str]:
            return self.files.name, self.files.document_text()

        self.finetune_wizard = FinetuneWizard(self.settings, document, self)
        self.finetune_wizard.show()

    def download_model(self, name: str) -> None:
        """The models dialog, downloading ``name`` from the hub (the welcome's offer)."""
        from app.ui.models_dialog import ModelsDialog

        dialog = ModelsDialog(self.settings, self)
        QTimer.singleShot(0, lambda: dialog.start_download(name))
        dialog.exec()
        self.panel.refresh_models()

    def manage_models(self) -> None:
        from app.ui.models_dialog import ModelsDialog

        ModelsDialog(self.settings, self).exec()
        self.panel.refresh_models()  # installs, renames and deletions show in the panel's list

    # suggestions and story mode ------------------------------------------------------------------

    def _ghost_shown(self, shown: bool) -> None:
        for name in GHOST_ACTIONS:
            self.commands[name].setEnabled(shown)
        self.commands["show_alternatives"].setEnabled(shown and len(self.editor.ghost_alternatives) > 1)

    def show_alternatives(self) -> None:
        alternatives = self.editor.ghost_alternatives
        if not alternatives:
            return
        menu = QMenu(self)
        menu.setObjectName("alternativesMenu")
        metrics = menu.fontMetrics()
        group = QActionGroup(menu)  # one of them is the shown one: radio marks, not check boxes
        for index, text in enumerate(alternatives):
            shown = metrics.elidedText(text.strip().replace("\n", " ⏎ "), Qt.TextElideMode.ElideRight, 480)
            # "&1".."&9": the digit picks the item directly (the menu's own mnemonics)
            number = f"&{index + 1}  " if index < 9 else "    "
            action = menu.addAction(number + shown.replace("&", "&&"))
            action.setCheckable(True)
            action.setChecked(index == self.editor.ghost_index)
            action.triggered.connect(lambda _=False, i=index: self.suggestions.pick_alternative(i))
            group.addAction(action)
        menu.aboutToHide.connect(menu.deleteLater)
        # below the paragraph, so that the suggestion itself stays readable
        e = self.editor
        block = e.textCursor().block()
        top = e.blockBoundingGeometry(block).translated(e.contentOffset()).top()
        bottom = int(top + block.layout().boundingRect().bottom()) + 6
        self.alternatives_menu = menu
        menu.popup(e.viewport().mapToGlobal(QPoint(e.cursorRect().left(), bottom)))
        # The first item under the keyboard at once: Down, Down, Enter picks the third.
        menu.setActiveAction(menu.actions()[0])

    def _toggle_auto(self, on: bool) -> None:
        self.settings.set("auto_suggest", on)
        self.statusBar().showMessage("Automatic suggestions on" if on else "Automatic suggestions off", 3000)

    def _story_changed(self) -> None:
        s = self.suggestions
        if s.writing:
            self.story_bar.writing(self._key_text("story_stop"))
        elif s.story_span is not None:
            self.story_bar.written(self._key_text("story_retry"))
        else:
            self.story_bar.hide()
        self.commands["story_stop"].setEnabled(s.writing)
        self.commands["story_continue"].setEnabled(not s.writing)
        self.commands["story_retry"].setEnabled(not s.writing and s.story_span is not None)

    # files ---------------------------------------------------------------------------------------

    def _update_title(self, *_args) -> None:
        self.setWindowTitle(f"{self.files.name}[*] — Inkwell")
        self.setWindowModified(self.editor.document().isModified())

    def _update_format_label(self) -> None:
        self.status.show_format(self.files.format)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings["recent_files"]
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.files.open_file(p))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", lambda: self.settings.set("recent_files", []))
        self.recent_menu.setEnabled(bool(recent))

    def _pasted_long_lines(self, broken: int) -> None:
        self.notice_bar.add(f"The pasted text had {broken:,} line{'s' if broken > 1 else ''} longer than "
                            f"{LONG_LINE:,} characters; they were broken into shorter lines.", about_document=True)

    # status bar ----------------------------------------------------------------------------------

    def show_notice(self, text: str) -> None:
        self.notice_bar.add(text)

    def _file_notice(self, text: str) -> None:
        # How the open file was read, or changed on disk, is said of it alone: it goes with it.
        # An autosaved text that could not be recovered is no part of the open one.
        self.notice_bar.add(text, about_document=not self.files.recovering)

    def _update_cursor_label(self) -> None:
        self.status.show_cursor(self.editor.textCursor())

    def _show_words(self, count: int) -> None:
        if self.files.loading:
            return  # shown once the text is all in (a new number each slice is a repaint each)
        self.status.show_words(count)

    # misc ----------------------------------------------------------------------------------------

    def zoom(self, direction: int) -> None:
        """One step larger (1) or smaller (-1), or back to the font size setting (0)."""
        zoom = zoom_step(self.settings["zoom"], direction) if direction else 100
        self.settings.set("zoom", zoom)
        self.statusBar().showMessage(f"Zoom {zoom}%", 2000)

    def _choose_font(self) -> None:
        ok, font = QFontDialog.getFont(self.editor.font(), self, "Editor font")
        if ok:
            self.settings.update({"font_family": font.family(), "font_size": max(6, font.pointSize())})

    def show_user_guide(self) -> None:
        from app.ui.user_guide import UserGuide

        if getattr(self, "user_guide", None) is None:
            self.user_guide = UserGuide(self)
        self.user_guide.show()
        self.user_guide.raise_()

    def _show_keys(self) -> None:
        rows = "".join(f"<tr><td>{label}</td><td>&nbsp;&nbsp;<b>{self._key_text(name) or '—'}</b></td></tr>"
                       for name, label in KEY_LABELS.items())
        QMessageBox.information(self, "Keyboard shortcuts",
                                f"<table>{rows}</table><p>Change them in the settings panel.</p>")

    def _show_about(self) -> None:
        from app.ui.about import show_about

        show_about(self)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing and not self.files.maybe_save():
            event.ignore()
            return
        wizard = self.finetune_wizard
        if wizard is not None:
            wizard.shut_down()  # a running fine-tune writes its checkpoint first
            if wizard.stopping:
                # Inkwell closes once it has; the window answers meanwhile, its text no longer changes.
                if not self._closing:
                    self._closing = True
                    self.editor.set_locked("closing", True)
                    wizard.stopped.connect(self.close)
                    self.statusBar().showMessage("Stopping the fine-tune (it keeps a checkpoint); Inkwell then "
                                                 "closes…")
                event.ignore()
                return
        self.full_screen.set_active(False)  # the next start opens as a window, with its menus
        self._save_geometry()
        self.suggestions.shutdown()
        self.files.close()
        self.settings.flush()
        self.settings.save_later = None
        event.accept()
