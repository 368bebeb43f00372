"""Every command of the main window in one table: its name, menu text, default key and handler.

``ACTIONS`` is read once by ``ActionRegistry``, which makes the QActions, sets their shortcuts
(the writer's own keys from the "keys" setting for the configurable ones) and fills the menu bar
from ``MENUS``. To add a command: a row here, its handler in the window (or a controller), and
its name in a menu.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

S = QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    name: str  # object name; for a configurable key, its name in the "keys" setting
    text: str
    handler: str  # a name in the handlers the window gives the registry
    key: str | QKeySequence.StandardKey | None = None  # the default shortcut
    configurable: bool = False  # the writer can change the key (settings panel, "keys")
    checkable: bool = False
    # "window": a shortcut of the window; "editor": the editor handles the key itself, the
    # entry shows and clicks it; "ghost": the editor handles the key only while a suggestion
    # shows (it keeps its usual meaning otherwise), the entry only shows it in its text.
    scope: str = "window"
    also: tuple = ()  # more keys for the same command (a platform's standard key, say)
    label: str = ""  # its name in the key lists (settings panel, Help), where not its menu text


ACTIONS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("new", "&New", "new_file", S.New),
    ActionSpec("open", "&Open…", "open_file", S.Open),
    ActionSpec("save", "&Save", "save", S.Save),
    ActionSpec("save_as", "Save &As…", "save_as", S.SaveAs),
    ActionSpec("quit", "&Quit", "quit", S.Quit),
    # Edit
    ActionSpec("undo", "&Undo", "undo", S.Undo, scope="editor"),
    ActionSpec("redo", "&Redo", "redo", S.Redo, scope="editor"),
    ActionSpec("cut", "Cu&t", "cut", S.Cut, scope="editor"),
    ActionSpec("copy", "&Copy", "copy", S.Copy, scope="editor"),
    ActionSpec("paste", "&Paste", "paste", S.Paste, scope="editor"),
    ActionSpec("select_all", "Select &All", "select_all", S.SelectAll, scope="editor"),
    ActionSpec("find", "&Find…", "find", "Ctrl+F"),
    ActionSpec("replace", "R&eplace…", "replace", "Ctrl+H"),
    ActionSpec("find_next", "Find &next", "find_next", "F3"),
    ActionSpec("find_previous", "Find pre&vious", "find_previous", "Shift+F3"),
    # View
    ActionSpec("font", "&Font…", "choose_font"),
    ActionSpec("wrap", "&Wrap lines", "set_wrap", checkable=True),
    # (Ctrl+= too: Ctrl++ needs Shift on most keyboards)
    ActionSpec("zoom_in", "Zoom &in", "zoom_in", "Ctrl+=", also=(S.ZoomIn,)),
    ActionSpec("zoom_out", "Zoom &out", "zoom_out", "Ctrl+-", also=(S.ZoomOut,)),
    ActionSpec("zoom_reset", "&Reset zoom", "zoom_reset", "Ctrl+0"),
    ActionSpec("full_screen", "&Full screen", "full_screen", "F11", checkable=True, also=(S.FullScreen,)),
    # Generate
    ActionSpec("accept", "Accept suggestion", "accept", "Tab", configurable=True, scope="ghost"),
    ActionSpec("accept_word", "Accept next word", "accept_word", "Ctrl+Right", configurable=True, scope="ghost"),
    ActionSpec("dismiss", "Dismiss suggestion", "dismiss", "Esc", configurable=True, scope="ghost"),
    ActionSpec("next_alternative", "Next alternative", "next_alternative", "Alt+]", configurable=True,
               scope="ghost"),
    ActionSpec("previous_alternative", "Previous alternative", "previous_alternative", "Alt+[",
               configurable=True, scope="ghost"),
    ActionSpec("suggest_now", "&Suggest now", "suggest_now", "Ctrl+Space", configurable=True),
    ActionSpec("show_alternatives", "&List alternatives…", "show_alternatives", "Ctrl+Shift+Space",
               configurable=True),
    ActionSpec("toggle_auto", "&Automatic suggestions", "toggle_auto", "Ctrl+Shift+A", configurable=True,
               checkable=True, label="Automatic suggestions on/off"),
    ActionSpec("story_continue", "&Continue the story", "story_continue", "Ctrl+Return", configurable=True),
    ActionSpec("story_retry", "&Retry the continuation", "story_retry", "Ctrl+Shift+Return", configurable=True),
    ActionSpec("story_stop", "S&top writing", "story_stop", "Esc", configurable=True),
    # Help
    ActionSpec("user_guide", "&User guide", "show_user_guide", S.HelpContents),
    ActionSpec("show_keys", "&Keyboard shortcuts", "show_keys"),
    ActionSpec("openLogFolder", "Open &log folder", "open_log_folder"),
    ActionSpec("about", "&About Inkwell", "show_about"),
)

DEFAULT_KEYS: dict[str, str] = {spec.name: spec.key for spec in ACTIONS if spec.configurable and isinstance(spec.key, str)}
GHOST_ACTIONS = tuple(spec.name for spec in ACTIONS if spec.scope == "ghost")
PANEL_KEY = "Ctrl+,"  # shows and hides the settings panel (the dock's own action)

# Menu titles and their entries: action names, "-" a separator, "@name" a part the window fills
# itself (a submenu, a group, a menu rebuilt each time it opens).
MENUS: dict[str, tuple[str, ...]] = {
    "&File": ("new", "open", "@recent", "-", "save", "save_as", "-", "quit"),
    "&Edit": ("undo", "redo", "-", "cut", "copy", "paste", "-", "select_all", "-",
              "find", "replace", "find_next", "find_previous"),
    "&View": ("@panel", "-", "@theme", "font", "wrap", "-", "zoom_in", "zoom_out", "zoom_reset", "-", "full_screen"),
    "&Generate": ("suggest_now", "accept", "accept_word", "dismiss", "next_alternative", "previous_alternative",
                  "show_alternatives", "toggle_auto", "-", "story_continue", "story_retry", "story_stop"),
    "&Model": ("@model",),
    "&Help": ("user_guide", "show_keys", "openLogFolder", "about"),
}


def _keys(*keys: str | QKeySequence.StandardKey) -> list[QKeySequence]:
    """Each key once: a platform's standard key may be one of the others, and the same key
    twice on one action is an ambiguous shortcut, which triggers nothing."""
    sequences: list[QKeySequence] = []
    for key in keys:
        bindings = QKeySequence.keyBindings(key) if isinstance(key, S) else [QKeySequence(key)]
        sequences += [b for b in bindings if not b.isEmpty() and b not in sequences]
    return sequences


def _title(spec: ActionSpec) -> str:
    return spec.text.replace("&", "").rstrip("…")


# The configurable commands, in the order the settings panel and the Help list show them.
KEY_LABELS: dict[str, str] = {spec.name: spec.label or _title(spec) for spec in ACTIONS if spec.configurable}


def default_key(name: str) -> str:
    """The default key of the command ``name`` as portable text ("Ctrl+Right"; a standard key as
    this platform has it); "" for a command without one."""
    spec = next(spec for spec in ACTIONS if spec.name == name)
    if isinstance(spec.key, str) or spec.key is None:
        return spec.key or ""
    sequences = _keys(spec.key)
    return sequences[0].toString(QKeySequence.SequenceFormat.PortableText) if sequences else ""


def _shown(key: str) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)


def _types_text(key: str) -> bool:
    """Whether ``key`` is a character as typed (a letter, a digit, Shift+1, Space...): as a
    shortcut it would take that character from the text. (Portable key names are words, but
    for the keys that type a character.)"""
    plain = QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText).removeprefix("Shift+")
    return len(plain) == 1 or plain == "Space"


def application_keys() -> dict[str, str]:
    """The keys of the commands the writer cannot rebind (Save, Open, Undo, Find...): the key
    (portable text) -> the command's name. Standard keys as this platform has them."""
    taken = {PANEL_KEY: "Settings panel"}
    for spec in ACTIONS:
        if not spec.configurable and spec.key is not None:
            for sequence in _keys(spec.key, *spec.also):
                taken.setdefault(sequence.toString(QKeySequence.SequenceFormat.PortableText), _title(spec))
    return taken


def resolve_keys(keys: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The configurable commands' keys: the writer's ``keys`` over the defaults. A key of the
    writer's that another command has (one of the application's own, or another command's among
    the configurable ones), or that types a character, is not used: its command keeps its
    default key. Returns (command -> key as portable text, command -> why the writer's key for
    it is not used: "Ctrl+S, your key for “Continue the story”, is the key of Save").

    Suggestion keys (scope "ghost") may share a key with the other configurable ones: a shown
    suggestion takes its keys first (Esc dismisses it, and stops a story otherwise)."""
    specs = [spec for spec in ACTIONS if spec.configurable]
    portable = QKeySequence.SequenceFormat.PortableText
    wanted = {spec.name: QKeySequence(keys.get(spec.name, DEFAULT_KEYS[spec.name])).toString(portable)
              for spec in specs}
    fixed = application_keys()
    taken: dict[tuple[bool, str], str] = {}  # (a suggestion key, key) -> the command that has it
    resolved: dict[str, str] = {}
    problems: dict[str, str] = {}

    def clash(spec: ActionSpec, key: str) -> str:
        if not key:
            return ""
        if key in fixed:
            return f"is the key of {fixed[key]}"
        other = taken.get((spec.scope == "ghost", key))
        if other is not None:
            return f"is already the key of “{_title(next(s for s in specs if s.name == other))}”"
        return "types a character" if _types_text(key) else ""

    # The commands on their default keys first: a key the writer chose gives way to them.
    for spec in sorted(specs, key=lambda spec: wanted[spec.name] != DEFAULT_KEYS[spec.name]):
        key = wanted[spec.name]
        why = clash(spec, key)
        if why:
            default = DEFAULT_KEYS[spec.name]
            problems[spec.name] = f"{_shown(key)}, your key for “{_title(spec)}”, {why}"
            key = default if default != key and not clash(spec, default) else ""
        resolved[spec.name] = key
        if key:
            taken[(spec.scope == "ghost", key)] = spec.name
    return {spec.name: resolved[spec.name] for spec in specs}, {
        spec.name: problems[spec.name] for spec in specs if spec.name in problems}


class ActionRegistry:
    """The window's QActions, made from ``ACTIONS``, by name."""

    def __init__(self, window: QWidget, handlers: dict[str, Callable]) -> None:
        self.window = window
        self.specs = {spec.name: spec for spec in ACTIONS}
        self.actions: dict[str, QAction] = {}
        for spec in ACTIONS:
            self.add(spec, handlers[spec.handler])

    def __getitem__(self, name: str) -> QAction:
        return self.actions[name]

    def add(self, spec: ActionSpec, slot: Callable) -> QAction:
        action = QAction(spec.text, self.window)
        action.setObjectName(spec.name)
        action.setCheckable(spec.checkable)
        action.triggered.connect(slot)
        if spec.key is not None and spec.scope != "ghost":
            action.setShortcuts(_keys(spec.key, *spec.also))
        if spec.scope == "editor":
            # The editor handles these keys itself; the menu entries only show and click them.
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.window.addAction(action)  # shortcuts work while the menu bar is hidden too
        self.specs[spec.name] = spec
        self.actions[spec.name] = action
        return action

    def group(self, name: str, choices: dict[str, str], slot: Callable[[str], None]) -> dict[str, QAction]:
        """Checkable actions of which one is on (a theme, say): value -> action."""
        group = QActionGroup(self.window)
        actions = {}
        for value, text in choices.items():
            action = self.add(ActionSpec(f"{name}_{value}", text, "", checkable=True),
                              lambda _=False, v=value: slot(v))
            group.addAction(action)
            actions[value] = action
        return actions

    def apply_keys(self, keys: dict[str, str]) -> None:
        """The configurable shortcuts: the writer's ``keys`` over the defaults. A ghost key is
        shown in its entry's text, for the editor handles it."""
        for name, spec in self.specs.items():
            if not spec.configurable:
                continue
            sequence = QKeySequence(keys.get(name, DEFAULT_KEYS.get(name, "")))
            action = self.actions[name]
            if spec.scope == "ghost":
                shown = sequence.toString(QKeySequence.SequenceFormat.NativeText)
                action.setText(f"{spec.text}\t{shown}" if shown else spec.text)
            else:
                action.setShortcut(sequence)

    def build_menus(self, bar: QMenuBar, parts: dict[str, Callable[[QMenu], None]]) -> dict[str, QMenu]:
        """The menu bar from ``MENUS``; ``parts`` fill the "@name" entries. Returns title -> menu."""
        menus = {}
        for title, entries in MENUS.items():
            menu = bar.addMenu(title)
            for entry in entries:
                if entry == "-":
                    menu.addSeparator()
                elif entry.startswith("@"):
                    parts[entry[1:]](menu)
                else:
                    menu.addAction(self.actions[entry])
            menus[title] = menu
        return menus
