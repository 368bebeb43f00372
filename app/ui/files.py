"""The open document's file: opening, saving, watching it on disk, autosave and recovery.

``DocumentFiles`` owns the path, the file's format (encoding, line ends) and its state on disk
as last read or saved, the reading and slice-wise loading of long files (app.ui.loading), the
autosave timer and snapshots (app.ui.autosave, app.recovery) and the dialogs these need. It
tells the window what to show through signals; the window owns no file state.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.bigtext import LONG_LINE, count_words
from app.documents import (
    FILE_FILTER,
    UTF8,
    DiskState,
    DocumentError,
    FileFormat,
    FolderReadOnly,
    UnencodableText,
    changed_on_disk,
    read_text,
    save_text,
)
from app.recovery import Snapshot, SnapshotSlot, scan_snapshots
from app.settings import Settings
from app.ui.autosave import Autosaver
from app.ui.editor import GhostEditor, separators_in
from app.ui.loading import FileReader, TextLoader, break_for_editor, is_small_file, read_for_editor
from core import paths
from core.fileio import describe_os_error


class DocumentFiles(QObject):
    changed = Signal()  # the path, the format or the modified flag changed: title and labels
    busy_changed = Signal(bool)  # a file is being read or loaded (the text is read-only meanwhile)
    progress = Signal(str)  # how far opening a long file is
    ready = Signal()  # a text is all in the editor
    replacing = Signal()  # another text is about to replace the document
    notice = Signal(str)  # something the writer must not miss
    lasting_notice = Signal(str, str)  # (key, text): a notice shown until its cause is gone (text "")
    message = Signal(str, int)  # a passing status-bar message, for so many ms

    def __init__(self, editor: GhostEditor, settings: Settings, window: QWidget) -> None:
        super().__init__(window)
        self.editor = editor
        self.settings = settings
        self.window = window  # the parent of the dialogs
        self.path: str | None = None
        self._format: FileFormat = UTF8  # how the open file is written back
        self._disk: DiskState | None = None  # the open file as last read or saved
        self._disk_notice = ""  # what the last check of the file on disk found, once said
        self.problem: str | None = None  # why autosave is off, for the window to show once
        self.recovering = False  # recovery is being offered: its notices are not about the open text
        try:
            self._slot: SnapshotSlot | None = SnapshotSlot()
        except OSError as exc:
            self._slot = None  # no autosave; everything else works
            self.problem = f"Autosave is off: unsaved text cannot be kept in {paths.state_dir()} " \
                           f"({describe_os_error(exc)})."
        self.loader = TextLoader(editor)
        self.reader = FileReader(self)
        self._autosaver = Autosaver(editor.document(), self._slot)
        self._opening = ("", 0)  # the name of the text being loaded, and its lines broken
        self._after_loading = None  # what to do once it is in (put the cursor back, after a reload)
        self._autosave = QTimer(self)
        self._autosave.timeout.connect(self.autosave)
        # The open file, watched for other programs writing it; a burst of change signals is
        # looked at once, when it has settled.
        self._disk_timer = QTimer(self, singleShot=True, interval=150)
        self._disk_timer.timeout.connect(self._check_disk)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(lambda _path: self._disk_timer.start())
        self._watcher.directoryChanged.connect(lambda _path: self._disk_timer.start())
        self.loader.progress.connect(self._load_progress)
        self.loader.finished.connect(self._document_ready)
        self.reader.done.connect(self._file_read)
        self.reader.failed.connect(self._read_failed)
        editor.separators_pasted.connect(lambda found: self.notice.emit(
            f"The pasted text holds characters the editor can only show as line breaks: {found}. "
            "Saving writes them as line breaks."))
        editor.controls_left_out.connect(lambda n: self.notice.emit(
            f"The pasted text held {n:,} control character{'s' if n > 1 else ''} (a zero byte, a terminal's "
            "colour codes...), left out: a file holding them reads as binary and could not be opened again."))
        self._autosaver.failed.connect(lambda message: self.lasting_notice.emit("autosave", message))
        self._autosaver.working.connect(lambda: self.lasting_notice.emit("autosave", ""))

    @property
    def format(self) -> FileFormat:
        return self._format

    @property
    def name(self) -> str:
        return Path(self.path).name if self.path else "Untitled"

    def set_autosave_interval(self, seconds: int) -> None:
        self._autosave.start(seconds * 1000)

    def close(self) -> None:
        self.reader.cancel()
        self.loader.cancel()
        self._autosave.stop()
        self._autosaver.close()

    def maybe_save(self) -> bool:
        """True when the current text may be replaced: it is saved, or the writer chose."""
        if not self.editor.document().isModified():
            return True
        name = Path(self.path).name if self.path else "Untitled"
        answer = QMessageBox.warning(
            self.window, "Unsaved changes", f"“{name}” has changes that are not saved. Save them first?",
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
            path, _ = QFileDialog.getOpenFileName(self.window, "Open", start, FILE_FILTER)
            if not path:
                return
        self.load_file(path)

    def open_or_create(self, path: str) -> bool:
        """``inkwell NAME``: open NAME, or where no such file is yet but its folder is, start a new
        document under that name (written on the first save), as text editors do."""
        target = Path(path).expanduser()
        if not os.path.lexists(target) and target.parent.is_dir():
            self._set_document("", str(target.resolve()))
            self.message.emit(f"{target.name} is a new file: it is written when you save", 10000)
            return True
        return self.load_file(path)

    def load_file(self, path: str) -> bool:
        """Open ``path``: a small file at once; a big one is read on a worker thread and goes into
        the editor in slices, with progress in the status bar (True: opened or opening)."""
        if not is_small_file(path):
            self.reader.read(path)  # answers with _file_read or _read_failed
            self.progress.emit(f"Opening {Path(path).name}…")
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
        resolved = str(Path(path).resolve())
        self._set_document(loaded.text, resolved, loaded.format, loaded.disk, broken=broken)
        self.settings.add_recent(resolved)
        self._say_format(loaded.format)
        self._say_separators(loaded.text)

    def _say_separators(self, text: str) -> None:
        """Qt's document takes U+2029 (paragraph separator) and U+FDD0 / U+FDD1 (which it uses
        to mark frames) for the ends of paragraphs: the editor shows them as line breaks and
        saving writes line breaks. Said, since the file changes on the next save."""
        found = separators_in(text)
        if found:
            self.notice.emit(f"{self.name} holds characters the editor can only show as line breaks: "
                             f"{found}. Saving writes them as line breaks.")

    def _read_failed(self, _path: str, message: str) -> None:
        self._update_busy()
        QMessageBox.warning(self.window, "Cannot open file", message)
        self.message.emit(message, 10000)

    def _say_format(self, fmt: FileFormat) -> None:
        name = Path(self.path).name if self.path else "Untitled"
        if fmt.encoding != "utf-8":
            guess = "" if fmt.certain else " (a guess: if the text looks wrong, close it without saving)"
            note = f"; {fmt.note}" if fmt.note else ""
            self.notice.emit(f"{name} was read as {fmt.encoding_name}{guess}{note}. "
                             "Saving keeps that encoding.")
        if fmt.mixed_newlines:
            self.notice.emit(f"{name} mixes different line ends; saving writes {fmt.newline_name} "
                             "line ends throughout.")
        elif fmt.newline != "\n":
            self.message.emit(f"{name} has {fmt.newline_name} line ends; saving keeps them", 8000)

    def _set_document(self, text: str, path: str | None, fmt: FileFormat = UTF8,
                      disk: DiskState | None = None, modified: bool = False, broken: int = 0,
                      then=None) -> None:
        """Show ``text`` (its over-long lines broken already: ``broken`` of them) as the document;
        ``then`` runs once it is all in the editor."""
        self.reader.cancel()
        self.replacing.emit()
        self.path = path
        self._format, self._disk, self._disk_notice = fmt, disk, ""
        self._watch()
        self._autosaver.drop()
        self._opening = (Path(path).name if path else "Untitled", broken)
        self._after_loading = then
        self.loader.set_text(text, modified)  # _document_ready follows (at once for a short text)
        self._update_busy()
        self.changed.emit()

    def _load_progress(self, done: int, total: int) -> None:
        self.progress.emit(f"Opening {self._opening[0]}… {100 * done // max(total, 1)}%")

    def _document_ready(self) -> None:
        self._update_busy()
        self.ready.emit()
        name, broken = self._opening
        if broken:
            self.notice.emit(f"{name} has {broken:,} line{'s' if broken > 1 else ''} longer than "
                             f"{LONG_LINE:,} characters, shown broken into shorter lines (at spaces where "
                             "there are any); saving writes these line breaks.")
        self.changed.emit()
        then, self._after_loading = self._after_loading, None
        if then is not None:
            then()

    def _update_busy(self) -> None:
        """While a file is read or loaded the text is read-only and the status bar shows progress."""
        busy = self.reader.reading or self.loader.loading
        self.editor.set_locked("loading", busy)
        self.busy_changed.emit(busy)

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
        return self.write(self.path)

    def save_as(self) -> bool:
        start = self.path or str(Path.home() / "Untitled.txt")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save As", start, FILE_FILTER)
        if not path:
            return False
        if not Path(path).suffix:
            # The dialog asked about the name as typed; the name with .txt is asked about here.
            path += ".txt"
            if os.path.lexists(path) and not self._ask_replace(path):
                return False
        return self.write(path)

    def _ask_replace(self, path: str) -> bool:
        return self._confirm(QMessageBox.Icon.Warning, "Replace file?",
                             f"“{Path(path).name}” already exists in {Path(path).parent}. Replace it with your text?",
                             "Replace", QMessageBox.ButtonRole.DestructiveRole)

    def _confirm(self, icon: QMessageBox.Icon, title: str, text: str, action: str, role: QMessageBox.ButtonRole,
                 action_is_default: bool = False) -> bool:
        """Whether the writer chose ``action`` over Cancel in a message box."""
        box = QMessageBox(icon, title, text, parent=self.window)
        chosen = box.addButton(action, role)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(chosen if action_is_default else cancel)
        box.exec()
        return box.clickedButton() is chosen

    def _swapped(self, path: str) -> str | None:
        """Where the open file's path leads now, when another program put a symbolic link in its
        place (or in place of one of its folders) since it was opened; None when it has not.
        (The open file's path is kept with every link resolved.)"""
        real = os.path.realpath(path)
        return real if real != path or os.path.islink(path) else None  # (a loop of links resolves to itself)

    def write(self, path: str) -> bool:
        verdict = self._before_writing(path)
        if verdict == "save_as":
            return self.save_as()
        if verdict not in ("write", "replace_link"):
            return False
        written = self._write_text(path, follow_links=verdict == "write")
        if written is None:
            return False
        self._written(path, *written)
        return True

    def _before_writing(self, path: str) -> str:
        """"write", "replace_link" (the link in the open file's place goes; what it leads to is
        left alone), "save_as" or "cancel": what the writer chose where the file on disk is not
        the one read or saved here."""
        own = self.path is not None and os.path.abspath(path) == self.path
        swapped = self._swapped(self.path) if own and self.path else None
        if swapped is not None:
            folder_same = os.path.realpath(os.path.dirname(path)) == os.path.dirname(path)
            choice = self._ask_swapped(swapped, folder_same)
            return "replace_link" if choice == "replace" else choice
        if self.path and self._disk is not None and Path(path).resolve() == Path(self.path) \
                and changed_on_disk(path, self._disk) == "changed":
            # Another program, or another Inkwell, wrote the file since it was read or saved here.
            choice = self._ask_changed_on_disk()
            if choice == "reload":
                self._reload()
                return "cancel"
            return "write" if choice == "overwrite" else choice
        return "write"

    def _write_text(self, path: str, follow_links: bool) -> tuple[FileFormat, DiskState] | None:
        """Save the text in the file's format, asking the writer's leave for UTF-8 or for writing
        in place where these are needed; the format written and the file's state on disk, or
        None when it was not saved."""
        fmt = self._format
        in_place = False
        while True:
            try:
                return fmt, save_text(path, self.document_text(), fmt, follow_links=follow_links, in_place=in_place)
            except UnencodableText as exc:
                if not self._ask_convert(str(exc), fmt):
                    return None
                fmt = fmt.as_utf8()
            except FolderReadOnly as exc:
                if not self._ask_in_place(str(exc)):
                    return None
                in_place = True
            except DocumentError as exc:
                QMessageBox.warning(self.window, "Cannot save", f"{exc}\n\nYour text is still here, unsaved.")
                return None

    def _written(self, path: str, fmt: FileFormat, disk: DiskState) -> None:
        self.path = str(Path(path).resolve())
        self._format, self._disk, self._disk_notice = fmt, disk, ""
        self._watch()
        self.editor.document().setModified(False)
        self.loader.modified = False  # (a recovered text still going in is saved now)
        self._autosaver.drop()
        self.settings.add_recent(self.path)
        self.changed.emit()
        self.message.emit(f"Saved {self.path}", 4000)

    def _ask_swapped(self, leads_to: str, folder_same: bool) -> str:
        """"replace", "save_as" or "cancel": the open file's path became a link (to ``leads_to``)."""
        assert self.path is not None
        name = Path(self.path).name
        what = "the file" if folder_same else "a folder on the file's path"
        box = QMessageBox(QMessageBox.Icon.Warning, "File replaced by a link",
                          f"“{name}” is no longer the file you opened: another program replaced {what} with a "
                          f"link, and saving there would now write into {leads_to}.\n\n"
                          "Save As: put your text in a file you choose.\n"
                          + (f"Replace the link: write your text as “{name}” in place of the link "
                             f"({leads_to} is left as it is).\n" if folder_same else ""),
                          parent=self.window)
        replace = box.addButton("Replace the link", QMessageBox.ButtonRole.DestructiveRole) if folder_same else None
        save_as = box.addButton("Save As…", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(save_as)
        box.setEscapeButton(cancel)
        box.exec()
        clicked = box.clickedButton()
        return "replace" if replace is not None and clicked is replace else "save_as" if clicked is save_as else "cancel"

    def _ask_in_place(self, problem: str) -> bool:
        """Whether to write into the file itself because its folder cannot take a new file."""
        return self._confirm(QMessageBox.Icon.Warning, "Save into the file?",
                             f"{problem}.\n\nInkwell can write your text into the file directly instead. Should "
                             "the computer stop or the disk fill up during that save, the file can be left "
                             "half written (your text stays here, so you could save it elsewhere).",
                             "Write into the file", QMessageBox.ButtonRole.AcceptRole)

    def _ask_convert(self, problem: str, fmt: FileFormat) -> bool:
        """Whether to write the file as UTF-8 because its own encoding cannot hold the text."""
        return self._confirm(QMessageBox.Icon.Question, "Save as UTF-8?",
                             f"{problem}.\n\nSave the file as UTF-8 instead? Programs that expect "
                             f"{fmt.encoding_name} may show its accented letters wrongly.",
                             "Save as UTF-8", QMessageBox.ButtonRole.AcceptRole, action_is_default=True)

    def _ask_changed_on_disk(self) -> str:
        """"overwrite", "reload", "save_as" or "cancel": what to do with a file another program
        changed since Inkwell read or saved it."""
        assert self.path is not None  # asked only about an open file
        name = Path(self.path).name
        box = QMessageBox(QMessageBox.Icon.Warning, "File changed on disk",
                          f"“{name}” was changed by another program (or another Inkwell window) "
                          "since you opened or last saved it.\n\n"
                          "Overwrite: replace it with your text (the other changes are lost).\n"
                          "Reload: show the file as it is now (your unsaved changes here are lost).\n"
                          "Save As: keep both: your text goes into a new file.", parent=self.window)
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
        assert self.path is not None  # only an open file is read again
        try:
            loaded, broken = read_for_editor(self.path)
        except DocumentError as exc:
            self.notice.emit(f"The file could not be read again: {exc}")
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
        if change == "changed" and not self.editor.document().isModified() and self._reload():
            self.message.emit(f"{name} was changed by another program; reloaded", 8000)
            return
        self._disk_notice = change
        if change == "deleted":
            self.notice.emit(f"{name} was deleted or moved by another program. Your text is still here; "
                             "saving writes the file again.")
        else:
            self.notice.emit(f"{name} was changed by another program. Your text here is as it was; saving "
                             "will ask whether to overwrite the file, reload it or save under another name.")

    # autosave and recovery -----------------------------------------------------------------------

    def autosave(self) -> None:
        """Snapshot unsaved changes (a long text in slices and on a worker thread)."""
        if not self.loading:
            self._autosaver.tick(self.path or "", self._snapshot_meta())

    def _snapshot_meta(self) -> dict:
        return {"format": self._format.to_dict(), "disk": self._disk.to_dict() if self._disk else None}

    def offer_recovery(self) -> None:
        self.recovering = True
        try:
            self._offer_snapshots()
        finally:
            self.recovering = False

    def _offer_snapshots(self) -> None:
        snapshots, problems = scan_snapshots()
        for problem in problems:
            self.notice.emit(problem)
        for snapshot in snapshots:
            choice = self._ask_recover(snapshot)
            if choice == "recover":
                if not self.maybe_save():
                    snapshot.release()
                    continue
                text, broken = break_for_editor(snapshot.text)
                self._set_document(text, snapshot.document_path or None, *self._recovered_format(snapshot),
                                   modified=True, broken=broken)
                self.changed.emit()
                try:
                    # our own slot holds it now, before the old one goes
                    self._autosaver.write_now(text, self.path or "", self._snapshot_meta())
                except (OSError, ValueError) as exc:
                    self.message.emit(f"Autosave failed: {exc}", 10000)
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
                          f"autosaved {when}). Recover it?", parent=self.window)
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(recover)
        box.exec()
        clicked = box.clickedButton()
        return "recover" if clicked is recover else "discard" if clicked is discard else "later"
