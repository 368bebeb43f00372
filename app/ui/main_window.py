"""The main window: editor, menus, status bar, settings dock, files, autosave, suggestions, story."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QFileSystemWatcher, QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QColor, QDesktopServices, QFont, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFontDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import models
from app.bigtext import LONG_LINE, break_long_lines, count_words
from app.documents import (
    FILE_FILTER,
    UTF8,
    DiskState,
    DocumentError,
    FileFormat,
    UnencodableText,
    changed_on_disk,
    read_text,
    save_text,
)
from app.engine.params import GenerationParams
from app.generation import params_for
from app.recovery import Snapshot, SnapshotSlot, scan_snapshots
from app.settings import Settings
from app.ui import theme as themes
from app.ui.autosave import Autosaver
from app.ui.editor import GHOST_KEYS, GhostEditor
from app.ui.loading import FileReader, TextLoader, is_small_file, read_for_editor
from app.ui.settings_panel import KEY_LABELS, SettingsPanel
from app.ui.wordcount import WordCounter
from app.worker import Generator
from core import paths
from core.fileio import describe_os_error

DEFAULT_KEYS = {
    "accept": "Tab",
    "accept_word": "Ctrl+Right",
    "dismiss": "Esc",
    "next_alternative": "Alt+]",
    "previous_alternative": "Alt+[",
    "suggest_now": "Ctrl+Space",
    "show_alternatives": "Ctrl+Shift+Space",
    "toggle_auto": "Ctrl+Shift+A",
    "story_continue": "Ctrl+Return",
    "story_retry": "Ctrl+Shift+Return",
    "story_stop": "Esc",
}


class StoryBar(QWidget):
    """A slim bar under the text while the model writes, and after, to retry."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("storyBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 4, 16, 4)
        self.label = QLabel("")
        self.stop_button = QPushButton("Stop")
        self.retry_button = QPushButton("Retry")
        self.keep_button = QPushButton("Keep")
        for button in (self.stop_button, self.retry_button, self.keep_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the writer's focus stays in the text
        row.addWidget(self.label, 1)
        row.addWidget(self.retry_button)
        row.addWidget(self.keep_button)
        row.addWidget(self.stop_button)
        self.hide()

    def writing(self, stop_key: str) -> None:
        self.label.setText(f"Writing…   {stop_key} stops" if stop_key else "Writing…")
        self.stop_button.show()
        self.retry_button.hide()
        self.keep_button.hide()
        self.show()

    def written(self, retry_key: str) -> None:
        self.label.setText(f"Not what you wanted? Retry ({retry_key}) writes it again" if retry_key
                           else "Not what you wanted? Retry writes it again")
        self.stop_button.hide()
        self.retry_button.show()
        self.keep_button.show()
        self.show()


class NoticeBar(QWidget):
    """Messages the writer must not miss (a settings file was reset, a model failed): they stay
    above the text until closed, unlike status-bar messages."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 6, 8, 6)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("Dismiss")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.clicked.connect(self.dismiss)
        row.addWidget(self.label, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.messages: list[str] = []
        self.hide()

    def add(self, text: str) -> None:
        if text not in self.messages:
            self.messages.append(text)
        self.label.setText("\n".join(self.messages))
        self.show()

    def dismiss(self) -> None:
        self.messages = []
        self.hide()


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings.load()
        self.path: str | None = None
        self._format: FileFormat = UTF8  # how the open file is written back
        self._disk: DiskState | None = None  # the open file as last read or saved
        self._disk_notice = ""  # what the last check of the file on disk found, once said
        try:
            self._slot: SnapshotSlot | None = SnapshotSlot()
            slot_problem = None
        except OSError as exc:
            self._slot = None  # no autosave; everything else works
            slot_problem = f"Autosave is off: unsaved text cannot be kept in {paths.state_dir()} " \
                           f"({describe_os_error(exc)})."
        self._requested_at: dict[int, float] = {}
        self._first_piece_ms: dict[int, float] = {}
        self._story_request: int | None = None
        self._story_span: tuple[int, int] | None = None
        self._story_prompt_end = 0
        self._retries = 0
        self._model_name = ""

        self.setObjectName("inkwell")
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
        column.addWidget(self.story_bar)
        self.setCentralWidget(central)
        self.words = WordCounter(self.editor.document())
        self.loader = TextLoader(self.editor)
        self.reader = FileReader(self)
        self._autosaver = Autosaver(self.editor.document(), self._slot)
        self._opening = ("", 0)  # the name of the text being loaded, and its lines broken
        self._after_loading = None  # what to do once it is in (put the cursor back, after a reload)

        self.panel = SettingsPanel(self.settings, DEFAULT_KEYS, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.panel)
        self.panel.hide()

        self.generator = Generator(self)
        self._autosave = QTimer(self)
        self._autosave.timeout.connect(self.autosave)
        # The open file, watched for other programs writing it; a burst of change signals is
        # looked at once, when it has settled.
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(lambda _path: self._disk_timer.start())
        self._watcher.directoryChanged.connect(lambda _path: self._disk_timer.start())
        self._disk_timer = QTimer(self, singleShot=True, interval=150)
        self._disk_timer.timeout.connect(self._check_disk)
        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._connect()


        for key in ("theme", "font_family", "wrap", "column_chars", "delay_ms", "auto_suggest", "keys",
                    "autosave_s", "recent_files"):
            self._apply(key)
        self.settings.on_change(self._setting_changed)
        self.settings.on_problem(self.show_notice)
        self._restore_geometry()
        self._update_title()
        self._update_cursor_label()
        self._show_words(self.words.total)
        self._update_story_actions()
        if self.settings.notice:
            self.show_notice(self.settings.notice)
        if slot_problem:
            self.show_notice(slot_problem)

    # construction ----------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        self.model_label = QLabel("No model")
        self.model_label.setObjectName("modelLabel")
        self.speed_label = QLabel("")
        self.speed_label.setObjectName("speedLabel")
        self.speed_label.setToolTip("The last suggestion: time to its first word, and decoding speed")
        self.words_label = QLabel("")
        self.words_label.setObjectName("wordsLabel")
        self.cursor_label = QLabel("")
        self.cursor_label.setObjectName("cursorLabel")
        self.format_label = QLabel("")
        self.format_label.setObjectName("formatLabel")
        # (a label, not a QProgressBar: that repaints the window at once on every new value)
        self.load_label = QLabel("")
        self.load_label.setObjectName("loadLabel")
        bar.addPermanentWidget(self.load_label)
        self.load_label.hide()
        for index, label in enumerate((self.model_label, self.speed_label, self.words_label,
                                       self.cursor_label, self.format_label)):
            if index:
                dot = QLabel("·")
                dot.setObjectName("statusSeparator")
                bar.addPermanentWidget(dot)
                if label is self.speed_label:
                    self._speed_dot = dot
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)
        self._show_speed("")

    def _action(self, text: str, slot, key: str | None = None, checkable: bool = False,
                name: str | None = None) -> QAction:
        action = QAction(text, self)
        if key:
            action.setShortcut(QKeySequence(key))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        if name:
            action.setObjectName(name)
        self.addAction(action)  # shortcuts work while the menu bar is hidden too
        return action

    def _build_actions(self) -> None:
        e = self.editor
        S = QKeySequence.StandardKey
        self.act_new = self._action("&New", self.new_file)
        self.act_new.setShortcut(S.New)
        self.act_open = self._action("&Open…", lambda: self.open_file())
        self.act_open.setShortcut(S.Open)
        self.act_save = self._action("&Save", self.save)
        self.act_save.setShortcut(S.Save)
        self.act_save_as = self._action("Save &As…", self.save_as)
        self.act_save_as.setShortcut(S.SaveAs)
        self.act_quit = self._action("&Quit", self.close)
        self.act_quit.setShortcut(S.Quit)

        self.act_undo = self._action("&Undo", e.undo)
        self.act_undo.setShortcut(S.Undo)
        self.act_redo = self._action("&Redo", e.redo)
        self.act_redo.setShortcut(S.Redo)
        self.act_cut = self._action("Cu&t", e.cut)
        self.act_cut.setShortcut(S.Cut)
        self.act_copy = self._action("&Copy", e.copy)
        self.act_copy.setShortcut(S.Copy)
        self.act_paste = self._action("&Paste", e.paste)
        self.act_paste.setShortcut(S.Paste)
        self.act_select_all = self._action("Select &All", e.selectAll)
        self.act_select_all.setShortcut(S.SelectAll)
        for action in (self.act_undo, self.act_redo, self.act_cut, self.act_copy, self.act_paste,
                       self.act_select_all):
            # The editor handles these keys itself; the menu entries only show and click them.
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)

        # Keys of the shown suggestion: the editor handles them (they must fall through to their
        # usual meaning when nothing is shown), so these entries only display the key.
        self.ghost_actions = {
            "accept": self._action("Accept suggestion", e.accept, name="accept"),
            "accept_word": self._action("Accept next word", e.accept_word, name="accept_word"),
            "dismiss": self._action("Dismiss suggestion", e.clear_ghost, name="dismiss"),
            "next_alternative": self._action("Next alternative", lambda: e.cycle(1), name="next_alternative"),
            "previous_alternative": self._action("Previous alternative", lambda: e.cycle(-1),
                                                 name="previous_alternative"),
        }
        self.act_suggest = self._action("&Suggest now", self.suggest_now, name="suggest_now")
        self.act_alternatives = self._action("&List alternatives…", self.show_alternatives,
                                             name="show_alternatives")
        self.act_auto = self._action("&Automatic suggestions", self._toggle_auto, checkable=True,
                                     name="toggle_auto")
        self.act_story = self._action("&Continue the story", self.story_continue, name="story_continue")
        self.act_retry = self._action("&Retry the continuation", self.story_retry, name="story_retry")
        self.act_stop = self._action("S&top writing", self.story_stop, name="story_stop")
        self.key_actions = {
            "suggest_now": self.act_suggest, "show_alternatives": self.act_alternatives,
            "toggle_auto": self.act_auto, "story_continue": self.act_story, "story_retry": self.act_retry,
            "story_stop": self.act_stop,
        }

        self.act_wrap = self._action("&Wrap lines", lambda on: self.settings.set("wrap", on), checkable=True)
        self.act_font = self._action("&Font…", self._choose_font)
        self.act_panel = self.panel.toggleViewAction()
        self.act_panel.setText("&Settings panel")
        self.act_panel.setShortcut(QKeySequence("Ctrl+,"))
        self.theme_group = QActionGroup(self)
        self.theme_actions = {}
        for name, label in (("light", "&Light"), ("dark", "&Dark")):
            action = self._action(label, lambda _=False, n=name: self.settings.set("theme", n), checkable=True)
            self.theme_group.addAction(action)
            self.theme_actions[name] = action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addActions([self.act_new, self.act_open])
        self.recent_menu = file.addMenu("Open &Recent")
        file.addSeparator()
        file.addActions([self.act_save, self.act_save_as])
        file.addSeparator()
        file.addAction(self.act_quit)

        edit = bar.addMenu("&Edit")
        edit.addActions([self.act_undo, self.act_redo])
        edit.addSeparator()
        edit.addActions([self.act_cut, self.act_copy, self.act_paste])
        edit.addSeparator()
        edit.addAction(self.act_select_all)

        view = bar.addMenu("&View")
        view.addAction(self.act_panel)
        view.addSeparator()
        theme_menu = view.addMenu("&Theme")
        theme_menu.addActions(list(self.theme_actions.values()))
        view.addAction(self.act_font)
        view.addAction(self.act_wrap)

        generate = bar.addMenu("&Generate")
        generate.addAction(self.act_suggest)
        generate.addActions(list(self.ghost_actions.values()))
        generate.addAction(self.act_alternatives)
        generate.addAction(self.act_auto)
        generate.addSeparator()
        generate.addActions([self.act_story, self.act_retry, self.act_stop])

        self.model_menu = bar.addMenu("&Model")
        self.model_menu.aboutToShow.connect(self._fill_model_menu)
        self._fill_model_menu()

        help_ = bar.addMenu("&Help")
        help_.addAction(self._action("&Keyboard shortcuts", self._show_keys))
        help_.addAction(self._action("Open &log folder", self.open_log_folder, name="openLogFolder"))
        help_.addAction(self._action("&About Inkwell", self._show_about))

    def _connect(self) -> None:
        e = self.editor
        e.suggestion_wanted.connect(self._request_suggestion)
        e.ghost_cleared.connect(self._ghost_cleared)
        e.ghost_changed.connect(self._ghost_shown)
        e.user_edited.connect(self._user_edited)
        e.cursorPositionChanged.connect(self._update_cursor_label)
        e.long_lines_broken.connect(self._pasted_long_lines)
        self.words.changed.connect(self._show_words)
        self.loader.progress.connect(self._load_progress)
        self.loader.finished.connect(self._document_ready)
        self.reader.done.connect(self._file_read)
        self.reader.failed.connect(self._read_failed)
        self._autosaver.failed.connect(lambda message: self.statusBar().showMessage(message, 10000))
        e.document().modificationChanged.connect(self._update_title)
        e.undoAvailable.connect(self.act_undo.setEnabled)
        e.redoAvailable.connect(self.act_redo.setEnabled)
        e.copyAvailable.connect(self.act_cut.setEnabled)
        e.copyAvailable.connect(self.act_copy.setEnabled)
        self.act_undo.setEnabled(False)
        self.act_redo.setEnabled(False)
        self.act_cut.setEnabled(False)
        self.act_copy.setEnabled(False)
        self._ghost_shown(False)
        g = self.generator
        g.loaded.connect(self._model_loaded)
        g.load_failed.connect(self._model_failed)
        g.piece.connect(self._piece)
        g.finished.connect(self._finished)
        g.failed.connect(self._failed)
        self.story_bar.stop_button.clicked.connect(self.story_stop)
        self.story_bar.retry_button.clicked.connect(self.story_retry)
        self.story_bar.keep_button.clicked.connect(self._story_keep)

    # start-up ----------------------------------------------------------------------------------

    def start(self, file: str | None = None) -> None:
        """After the window is shown: load the model in the background, open a file, offer recovery."""
        self.load_model()
        if file:
            self.load_file(file)
        QTimer.singleShot(0, self.offer_recovery)

    def _restore_geometry(self) -> None:
        geometry = self.settings["geometry"]
        if not (geometry and self.restoreGeometry(QByteArray.fromHex(geometry.encode()))):
            self.resize(1100, 760)
        state = self.settings["window_state"]
        if state:
            self.restoreState(QByteArray.fromHex(state.encode()))

    def _save_geometry(self) -> None:
        self.settings.set("geometry", bytes(self.saveGeometry().toHex()).decode())
        self.settings.set("window_state", bytes(self.saveState().toHex()).decode())

    # settings ------------------------------------------------------------------------------------

    def _setting_changed(self, key: str, _value) -> None:
        self._apply(key)

    def _apply(self, key: str) -> None:
        s = self.settings
        if key == "theme":
            theme = themes.apply(QApplication.instance(), s["theme"])
            self.editor.set_colors(QColor(theme.ghost), QColor(theme.mark))
            self.theme_actions[s["theme"]].setChecked(True)
            self.statusBar().setStyleSheet(f"QStatusBar {{ color: {theme.muted}; }}")
            self.story_bar.setStyleSheet(f"#storyBar {{ background: {theme.mark}; }}")
            self.notice_bar.setStyleSheet(f"#noticeBar {{ background: {theme.mark}; }}")
        elif key in ("font_family", "font_size"):
            font = QFont(s["font_family"], s["font_size"]) if s["font_family"] else \
                themes.default_editor_font(s["font_size"])
            self.editor.setFont(font)
        elif key == "wrap":
            mode = GhostEditor.LineWrapMode
            self.editor.setLineWrapMode(mode.WidgetWidth if s["wrap"] else mode.NoWrap)
            self.act_wrap.setChecked(s["wrap"])
            self.editor.set_column(s["column_chars"])
        elif key == "column_chars":
            self.editor.set_column(s["column_chars"])
        elif key == "delay_ms":
            self.editor.set_delay(s["delay_ms"])
        elif key == "auto_suggest":
            self.editor.auto_suggest = s["auto_suggest"]
            self.act_auto.setChecked(s["auto_suggest"])
            if not s["auto_suggest"]:
                self.editor.clear_ghost()
        elif key == "keys":
            self._apply_keys()
        elif key == "autosave_s":
            self._autosave.start(s["autosave_s"] * 1000)
        elif key == "recent_files":
            self._fill_recent_menu()
        elif key in ("model", "provider", "threads"):
            self.load_model()

    def key(self, name: str) -> str:
        return {**DEFAULT_KEYS, **self.settings["keys"]}.get(name, "")

    def _apply_keys(self) -> None:
        for name in GHOST_KEYS:
            sequence = QKeySequence(self.key(name))
            self.editor.keymap[name] = sequence
            text = self.ghost_actions[name].text().split("\t")[0]
            shown = sequence.toString(QKeySequence.SequenceFormat.NativeText)
            self.ghost_actions[name].setText(f"{text}\t{shown}" if shown else text)
        for name, action in self.key_actions.items():
            action.setShortcut(QKeySequence(self.key(name)))

    # model ---------------------------------------------------------------------------------------

    def load_model(self) -> None:
        model, notice = models.active_model(self.settings["model"])
        self.editor.clear_ghost()
        if self.editor.generating:
            self.story_stop()
        if model is None:
            self.generator.unload()
            self._model_name = ""
            self._set_model_label("No model", "No model is installed: suggestions are off. Editing and "
                                              f"files work as usual. Models go in {paths.models_dir()}.")
            self.statusBar().showMessage("No model installed: suggestions are off", 10000)
            return
        if notice:
            self.show_notice(notice)
        self._model_name = model.name
        self._set_model_label(f"{model.name} · loading…", f"Loading {model.folder}")
        self.generator.load(str(model.folder), self.settings["provider"], self.settings["threads"])

    def _set_model_label(self, text: str, detail: str) -> None:
        self.model_label.setText(text)
        self.model_label.setToolTip(detail)
        self.panel.set_model_status(detail)

    def _model_loaded(self, status) -> None:
        provider = {"cpu": "CPU", "cuda": "CUDA"}.get(status.provider, status.provider)
        detail = f"{status.model_name} runs on {provider} ({status.variant})."
        if status.message:
            detail += f" {status.message}"
            self.statusBar().showMessage(status.message, 10000)
        self._set_model_label(f"{status.model_name} · {provider} {status.variant}", detail)

    def _model_failed(self, message: str) -> None:
        self._set_model_label("Model not loaded", f"{message}. Editing and files work as usual.")
        self.show_notice(f"The model could not be loaded: {message}")

    def _fill_model_menu(self) -> None:
        menu = self.model_menu
        menu.clear()
        group = QActionGroup(menu)
        active, _ = models.active_model(self.settings["model"])
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
            action.triggered.connect(lambda _=False, v=value: self.settings.set("model", v))
            group.addAction(action)
        if not installed:
            menu.addAction("No models installed").setEnabled(False)
        menu.addSeparator()
        run_on = menu.addMenu("Run on")
        providers = QActionGroup(run_on)
        for value, label in (("auto", "Automatic"), ("cpu", "CPU"), ("cuda", "CUDA (NVIDIA GPU)")):
            action = run_on.addAction(label)
            action.setCheckable(True)
            action.setChecked(self.settings["provider"] == value)
            action.triggered.connect(lambda _=False, v=value: self.settings.set("provider", v))
            providers.addAction(action)
        menu.addAction("Manage models…", self.manage_models)
        menu.addAction("Reload model", self.load_model)
        menu.addAction("Open models folder",
                       lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.models_dir()))))
        menu.addSeparator()
        menu.addAction("Fine-tune on your texts…", self.open_finetune_wizard)

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

        if getattr(self, "finetune_wizard", None) is not None and self.finetune_wizard.isVisible():
            self.finetune_wizard.raise_()
            return

        def document() -> tuple[str, str]:
            return Path(self.path).name if self.path else "Untitled", self.document_text()

        self.finetune_wizard = FinetuneWizard(self.settings, document, self)
        self.finetune_wizard.show()

    def manage_models(self) -> None:
        from app.ui.models_dialog import ModelsDialog

        ModelsDialog(self.settings, self).exec()
        self.panel.refresh_models()  # installs, renames and deletions show in the panel's list

    # suggestions ---------------------------------------------------------------------------------

    def _params(self, kind: str) -> GenerationParams:
        return params_for(self.settings, kind, self._retries)

    def suggest_now(self) -> None:
        if not self.generator.ready:
            self.statusBar().showMessage(self._no_model_reason(), 5000)
            return
        self.editor.ask_now()

    def _no_model_reason(self) -> str:
        return f"No suggestions: {self.model_label.toolTip() or 'no model is loaded'}"

    def _request_suggestion(self) -> None:
        if not self.generator.ready or self.editor.generating:
            return
        request = self.generator.request("suggestion", self.editor.text_before_cursor(), self._params("suggestion"))
        self._requested_at = {request: time.perf_counter()}
        self.editor.expect_suggestion(request)

    def _ghost_cleared(self) -> None:
        if self._story_request is None:
            self.generator.cancel()

    def _ghost_shown(self, shown: bool) -> None:
        for action in self.ghost_actions.values():
            action.setEnabled(shown)
        self.act_alternatives.setEnabled(shown and len(self.editor.ghost_alternatives) > 1)

    def _piece(self, request_id: int, alternative: int, piece: str) -> None:
        if request_id == self._story_request:
            if alternative == 0:
                self.editor.append_generated(piece)
            return
        if request_id in self._requested_at and request_id not in self._first_piece_ms:
            self._first_piece_ms = {request_id: (time.perf_counter() - self._requested_at[request_id]) * 1e3}
        self.editor.add_piece(request_id, alternative, piece)

    def _finished(self, request_id: int, result) -> None:
        if request_id == self._story_request:
            self._story_done()
            return
        if request_id == self.editor.pending_request:
            rows = None if result.cancelled else {alt.row for alt in result.alternatives}
            self.editor.finish_suggestion(request_id, rows)
            self._ghost_shown(bool(self.editor.ghost_text))
        if not result.cancelled and request_id in self._first_piece_ms:
            first = self._first_piece_ms[request_id]
            self._show_speed(f"latency {first:.0f} ms, {result.decode_tokens_per_s:.0f} tok/s")

    def _failed(self, request_id: int, message: str) -> None:
        if request_id == self._story_request:
            self._story_done()
        elif request_id == self.editor.pending_request:
            self.editor.clear_ghost()
        self.statusBar().showMessage(message, 10000)

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
            action.triggered.connect(lambda _=False, i=index: self._pick_alternative(i))
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

    def _pick_alternative(self, index: int) -> None:
        self.editor.choose(index)
        self.editor.accept()

    def _toggle_auto(self, on: bool) -> None:
        self.settings.set("auto_suggest", on)
        self.statusBar().showMessage("Automatic suggestions on" if on else "Automatic suggestions off", 3000)

    # story mode ----------------------------------------------------------------------------------

    def story_continue(self) -> None:
        if self.editor.generating or self.editor.isReadOnly():
            return
        if not self.generator.ready:
            self.statusBar().showMessage(self._no_model_reason(), 5000)
            return
        self._retries = 0
        self._start_story(None)

    def story_retry(self) -> None:
        span = self._story_span
        if self.editor.generating or not self.generator.ready or span not in self.editor.generated_ranges():
            return
        self._retries += 1
        self._start_story(span)

    def _start_story(self, replace: tuple[int, int] | None) -> None:
        if replace is not None:
            cursor = self.editor.textCursor()
            cursor.setPosition(replace[0])
            self.editor.setTextCursor(cursor)
        prompt = self.editor.text_before_cursor()
        self.editor.begin_generated(replace)
        self._story_request = self.generator.request("story", prompt, self._params("story"))
        self.story_bar.writing(self._key_text("story_stop"))
        self._update_story_actions()

    def story_stop(self) -> None:
        if self._story_request is not None:
            self.generator.cancel()
            self._story_done()

    def _story_done(self) -> None:
        self._story_request = None
        self._story_span = self.editor.end_generated()
        if self._story_span:
            self.story_bar.written(self._key_text("story_retry"))
        else:
            self.story_bar.hide()
        self._update_story_actions()

    def _story_keep(self) -> None:
        self._story_span = None
        self.story_bar.hide()
        self._update_story_actions()

    def _user_edited(self) -> None:
        if self._story_request is not None:
            self.story_stop()
        if self._story_span is not None and self._story_span not in self.editor.generated_ranges():
            # the writer changed the continuation: it is theirs now, nothing to retry
            self._story_keep()

    def _update_story_actions(self) -> None:
        writing = self._story_request is not None
        self.act_stop.setEnabled(writing)
        self.act_story.setEnabled(not writing)
        self.act_retry.setEnabled(not writing and self._story_span is not None)

    def _key_text(self, name: str) -> str:
        return QKeySequence(self.key(name)).toString(QKeySequence.SequenceFormat.NativeText)

    # files ---------------------------------------------------------------------------------------

    def _update_title(self, *_args) -> None:
        name = Path(self.path).name if self.path else "Untitled"
        self.setWindowTitle(f"{name}[*] — Inkwell")
        self.setWindowModified(self.editor.document().isModified())

    def maybe_save(self) -> bool:
        """True when the current text may be replaced: it is saved, or the writer chose."""
        if not self.editor.document().isModified():
            return True
        name = Path(self.path).name if self.path else "Untitled"
        answer = QMessageBox.warning(
            self, "Unsaved changes", f"“{name}” has changes that are not saved. Save them first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_file(self) -> None:
        if self.maybe_save():
            self._set_document("", None)

    def open_file(self, path: str | None = None) -> None:
        if not self.maybe_save():
            return
        if path is None:
            start = str(Path(self.path).parent) if self.path else str(Path.home())
            path, _ = QFileDialog.getOpenFileName(self, "Open", start, FILE_FILTER)
            if not path:
                return
        self.load_file(path)

    def load_file(self, path: str) -> bool:
        """Open ``path``: a small file at once; a big one is read on a worker thread and goes into
        the editor in slices, with progress in the status bar (True: opened or opening)."""
        if not is_small_file(path):
            self.reader.read(path)  # answers with _file_read or _read_failed
            self.load_label.setText(f"Opening {Path(path).name}…")
            self._update_busy()
            return True
        try:
            loaded, broken = read_for_editor(path)
        except DocumentError as exc:
            self._read_failed(path, str(exc))
            return False
        self._file_read(path, loaded, broken)
        return True

    def _file_read(self, path: str, loaded, broken: int) -> None:
        self._set_document(loaded.text, str(Path(path).resolve()), loaded.format, loaded.disk, broken=broken)
        self.settings.add_recent(self.path)
        self._say_format(loaded.format)

    def _read_failed(self, _path: str, message: str) -> None:
        self._update_busy()
        QMessageBox.warning(self, "Cannot open file", message)
        self.statusBar().showMessage(message, 10000)

    def _say_format(self, fmt: FileFormat) -> None:
        name = Path(self.path).name if self.path else "Untitled"
        if fmt.encoding != "utf-8":
            guess = "" if fmt.certain else " (a guess: if the text looks wrong, close it without saving)"
            note = f"; {fmt.note}" if fmt.note else ""
            self.show_notice(f"{name} was read as {fmt.encoding_name}{guess}{note}. "
                             "Saving keeps that encoding.")
        if fmt.mixed_newlines:
            self.show_notice(f"{name} mixes different line ends; saving writes {fmt.newline_name} "
                             "line ends throughout.")
        elif fmt.newline != "\n":
            self.statusBar().showMessage(f"{name} has {fmt.newline_name} line ends; saving keeps them", 8000)

    def _set_document(self, text: str, path: str | None, fmt: FileFormat = UTF8,
                      disk: DiskState | None = None, modified: bool = False, broken: int = 0,
                      then=None) -> None:
        """Show ``text`` (its over-long lines broken already: ``broken`` of them) as the document;
        ``then`` runs once it is all in the editor."""
        self.reader.cancel()
        self.story_stop()
        self._story_keep()
        self.editor.clear_ghost()
        self.editor.clear_marks()
        self.path = path
        self._format, self._disk, self._disk_notice = fmt, disk, ""
        self._watch()
        self._autosaver.drop()
        self._opening = (Path(path).name if path else "Untitled", broken)
        self._after_loading = then
        self.loader.set_text(text, modified)  # _document_ready follows (at once for a short text)
        self._update_busy()
        self._update_title()
        self._update_format_label()

    def _load_progress(self, done: int, total: int) -> None:
        self.load_label.setText(f"Opening {self._opening[0]}… {100 * done // max(total, 1)}%")

    def _document_ready(self) -> None:
        self._update_busy()
        self._show_words(self.words.total)
        name, broken = self._opening
        if broken:
            self.show_notice(f"{name} has {broken:,} line{'s' if broken > 1 else ''} longer than "
                             f"{LONG_LINE:,} characters, shown broken into shorter lines (at spaces where "
                             "there are any); saving writes these line breaks.")
        self._update_title()
        then, self._after_loading = self._after_loading, None
        if then is not None:
            then()

    def _pasted_long_lines(self, broken: int) -> None:
        self.show_notice(f"The pasted text had {broken:,} line{'s' if broken > 1 else ''} longer than "
                         f"{LONG_LINE:,} characters; they were broken into shorter lines.")

    def _update_busy(self) -> None:
        """While a file is read or loaded the text is read-only and the status bar shows progress."""
        busy = self.reader.reading or self.loader.loading
        self.editor.setReadOnly(busy)
        self.load_label.setVisible(busy)

    @property
    def loading(self) -> bool:
        """A file is being opened (read, or put into the editor)."""
        return self.reader.reading or self.loader.loading

    def document_text(self) -> str:
        """The text as it goes into the file, also while it is still going into the editor.
        QPlainTextEdit.toPlainText() turns no-break spaces into plain ones (and U+2028 into a line
        break); the raw text keeps every character, with U+2029 between paragraphs."""
        if self.loader.loading:
            return self.loader.text
        return self.editor.document().toRawText().replace("\u2029", "\n")

    def save(self) -> bool:
        if not self.path:
            return self.save_as()
        return self._write(self.path)

    def save_as(self) -> bool:
        start = self.path or str(Path.home() / "Untitled.txt")
        path, _ = QFileDialog.getSaveFileName(self, "Save As", start, FILE_FILTER)
        if not path:
            return False
        if not Path(path).suffix:
            path += ".txt"
        return self._write(path)

    def _write(self, path: str) -> bool:
        if self.path and self._disk is not None and Path(path).resolve() == Path(self.path) \
                and changed_on_disk(path, self._disk) == "changed":
            # Another program, or another Inkwell, wrote the file since it was read or saved here.
            choice = self._ask_changed_on_disk()
            if choice == "reload":
                self._reload()
                return False
            if choice == "save_as":
                return self.save_as()
            if choice != "overwrite":
                return False
        fmt = self._format
        while True:
            try:
                disk = save_text(path, self.document_text(), fmt)
                break
            except UnencodableText as exc:
                if not self._ask_convert(str(exc), fmt):
                    return False
                fmt = fmt.as_utf8()
            except DocumentError as exc:
                QMessageBox.warning(self, "Cannot save", f"{exc}\n\nYour text is still here, unsaved.")
                return False
        self.path = str(Path(path).resolve())
        self._format, self._disk, self._disk_notice = fmt, disk, ""
        self._watch()
        self.editor.document().setModified(False)
        self.loader.modified = False  # (a recovered text still going in is saved now)
        self._autosaver.drop()
        self.settings.add_recent(self.path)
        self._update_title()
        self._update_format_label()
        self.statusBar().showMessage(f"Saved {self.path}", 4000)
        return True

    def _ask_convert(self, problem: str, fmt: FileFormat) -> bool:
        """Whether to write the file as UTF-8 because its own encoding cannot hold the text."""
        box = QMessageBox(QMessageBox.Icon.Question, "Save as UTF-8?",
                          f"{problem}.\n\nSave the file as UTF-8 instead? Programs that expect "
                          f"{fmt.encoding_name} may show its accented letters wrongly.", parent=self)
        convert = box.addButton("Save as UTF-8", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(convert)
        box.exec()
        return box.clickedButton() is convert

    def _ask_changed_on_disk(self) -> str:
        """"overwrite", "reload", "save_as" or "cancel": what to do with a file another program
        changed since Inkwell read or saved it."""
        name = Path(self.path).name
        box = QMessageBox(QMessageBox.Icon.Warning, "File changed on disk",
                          f"“{name}” was changed by another program (or another Inkwell window) "
                          "since you opened or last saved it.\n\n"
                          "Overwrite: replace it with your text (the other changes are lost).\n"
                          "Reload: show the file as it is now (your unsaved changes here are lost).\n"
                          "Save As: keep both: your text goes into a new file.", parent=self)
        overwrite = box.addButton("Overwrite", QMessageBox.ButtonRole.DestructiveRole)
        reload = box.addButton("Reload", QMessageBox.ButtonRole.ResetRole)
        save_as = box.addButton("Save As…", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(save_as)
        box.setEscapeButton(cancel)
        box.exec()
        clicked = box.clickedButton()
        return "overwrite" if clicked is overwrite else "reload" if clicked is reload else \
            "save_as" if clicked is save_as else "cancel"

    def _reload(self) -> bool:
        """Read the open file again, keeping the cursor where it was."""
        position = self.editor.textCursor().position()
        try:
            loaded, broken = read_for_editor(self.path)
        except DocumentError as exc:
            self.show_notice(f"The file could not be read again: {exc}")
            return False

        def put_cursor_back() -> None:
            cursor = self.editor.textCursor()
            cursor.setPosition(min(position, self.editor.document().characterCount() - 1))
            self.editor.setTextCursor(cursor)

        self._set_document(loaded.text, self.path, loaded.format, loaded.disk, broken=broken, then=put_cursor_back)
        return True

    def _watch(self) -> None:
        """Watch the open file, and its folder: a file deleted or renamed over drops out of a
        watch, and its folder tells when it is back."""
        watched = self._watcher.files() + self._watcher.directories()
        if watched:
            self._watcher.removePaths(watched)
        if self.path:
            self._watcher.addPaths([p for p in (self.path, str(Path(self.path).parent)) if Path(p).exists()])

    def _check_disk(self) -> None:
        """The watched file changed: say so once, or reload it when nothing here is unsaved."""
        if not self.path or self._disk is None:
            return
        if self.path not in self._watcher.files():
            self._watch()  # a file replaced by renaming drops out of the watch
        change = changed_on_disk(self.path, self._disk)
        if change is None or change == self._disk_notice:
            return
        name = Path(self.path).name
        if change == "changed" and not self.editor.document().isModified():
            if self._reload():
                self.statusBar().showMessage(f"{name} was changed by another program; reloaded", 8000)
                return
        self._disk_notice = change
        if change == "deleted":
            self.show_notice(f"{name} was deleted or moved by another program. Your text is still here; "
                             "saving writes the file again.")
        else:
            self.show_notice(f"{name} was changed by another program. Your text here is as it was; saving "
                             "will ask whether to overwrite the file, reload it or save under another name.")

    def _update_format_label(self) -> None:
        fmt = self._format
        self.format_label.setText(fmt.label)
        tip = f"Saved as {fmt.encoding_name} with {fmt.newline_name} line ends"
        if not fmt.certain:
            tip += " (the encoding was a guess)"
        self.format_label.setToolTip(tip)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings["recent_files"]
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_file(p))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", lambda: self.settings.set("recent_files", []))
        self.recent_menu.setEnabled(bool(recent))

    # autosave and recovery -----------------------------------------------------------------------

    def autosave(self) -> None:
        """Snapshot unsaved changes (a long text in slices and on a worker thread)."""
        if not self.loading:
            self._autosaver.tick(self.path or "", self._snapshot_meta())

    def _snapshot_meta(self) -> dict:
        return {"format": self._format.to_dict(), "disk": self._disk.to_dict() if self._disk else None}

    def offer_recovery(self) -> None:
        snapshots, problems = scan_snapshots()
        for problem in problems:
            self.show_notice(problem)
        for snapshot in snapshots:
            choice = self._ask_recover(snapshot)
            if choice == "recover":
                if not self.maybe_save():
                    snapshot.release()
                    continue
                text, broken = break_long_lines(snapshot.text)
                self._set_document(text, snapshot.document_path or None, *self._recovered_format(snapshot),
                                   modified=True, broken=broken)
                self._update_title()
                try:
                    # our own slot holds it now, before the old one goes
                    self._autosaver.write_now(text, self.path or "", self._snapshot_meta())
                except (OSError, ValueError) as exc:
                    self.statusBar().showMessage(f"Autosave failed: {exc}", 10000)
                    snapshot.release()
                    continue
                snapshot.discard()
            elif choice == "discard":
                snapshot.discard()
            else:
                snapshot.release()

    def _recovered_format(self, snapshot: Snapshot) -> tuple[FileFormat, DiskState | None]:
        """The file's encoding and state on disk as the snapshot recorded them; for snapshots
        of older versions, as the file is now (so that only later changes by others are asked
        about, and the file keeps its encoding)."""
        meta = snapshot.meta
        fmt = FileFormat.from_dict(meta.get("format"))
        disk = DiskState.from_dict(meta.get("disk"))
        if snapshot.document_path and (fmt is None or disk is None):
            try:
                current = read_text(snapshot.document_path)
                fmt, disk = fmt or current.format, disk or current.disk
            except DocumentError:
                pass
        return fmt or UTF8, disk

    def _ask_recover(self, snapshot: Snapshot) -> str:
        when = time.strftime("%A %H:%M", time.localtime(snapshot.saved_at))
        words = count_words(snapshot.text)
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved text",
                          f"Inkwell closed without saving “{snapshot.title}” ({words:,} words, "
                          f"autosaved {when}). Recover it?", parent=self)
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(recover)
        box.exec()
        clicked = box.clickedButton()
        return "recover" if clicked is recover else "discard" if clicked is discard else "later"

    # status bar ----------------------------------------------------------------------------------

    def show_notice(self, text: str) -> None:
        self.notice_bar.add(text)

    def _show_speed(self, text: str) -> None:
        self.speed_label.setText(text)
        self.speed_label.setVisible(bool(text))  # (no empty field between two separators)
        self._speed_dot.setVisible(bool(text))

    def _update_cursor_label(self) -> None:
        cursor = self.editor.textCursor()
        self.cursor_label.setText(f"Ln {cursor.blockNumber() + 1}, Col {cursor.positionInBlock() + 1}")

    def _show_words(self, count: int) -> None:
        if self.loader.loading:
            return  # shown once the text is all in (a new number each slice is a repaint each)
        self.words_label.setText(f"{count:,} word" + ("" if count == 1 else "s"))

    # misc ----------------------------------------------------------------------------------------

    def _choose_font(self) -> None:
        ok, font = QFontDialog.getFont(self.editor.font(), self, "Editor font")
        if ok:
            self.settings.update({"font_family": font.family(), "font_size": max(6, font.pointSize())})

    def _show_keys(self) -> None:
        rows = "".join(f"<tr><td>{label}</td><td>&nbsp;&nbsp;<b>{self._key_text(name) or '—'}</b></td></tr>"
                       for name, label in KEY_LABELS.items())
        QMessageBox.information(self, "Keyboard shortcuts",
                                f"<table>{rows}</table><p>Change them in the settings panel.</p>")

    def _show_about(self) -> None:
        from app.about import about_html

        QMessageBox.about(self, "About Inkwell", about_html())

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self._save_geometry()
        if getattr(self, "finetune_wizard", None) is not None:
            self.finetune_wizard.shut_down()  # a running fine-tune writes its checkpoint first
        self.story_stop()
        self.reader.cancel()
        self.loader.cancel()
        self.generator.shutdown()
        self._autosave.stop()
        self._autosaver.close()
        event.accept()
