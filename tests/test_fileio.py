"""core.fileio: only regular files are read, never more than a cap; JSON that does not parse is a
damaged file; writes are atomic; leftovers of killed writes are tidied. And every reader of the app
goes through it: a named pipe, a socket, /dev/zero or a folder where a file is expected is refused
at once by each of them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from core.fileio import (
    DamagedFile,
    FileTooLarge,
    NotRegularFile,
    atomic_write,
    back_up,
    describe_os_error,
    read_bytes,
    read_json,
    remove_stale_temps,
)

ROOT = Path(__file__).resolve().parent.parent


class _FifoWatchdog:
    """Unblocks a reader stuck on the FIFO (as the old code was) after a while, so that a
    regression fails the test instead of hanging the suite."""

    def __init__(self, path: Path, after_s: float = 10.0):
        self.path, self.after_s, self.stop = path, after_s, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(self.after_s):
            with contextlib.suppress(OSError):  # nobody is reading: nothing to unblock
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))  # a blocked reader gets EOF


@pytest.fixture
def special(tmp_path):
    """special(kind) -> a path of that kind: "fifo", "socket", "dev-zero" (a link to /dev/zero),
    "folder" (a folder named like a text file), "link-to-fifo"."""
    short = Path(tempfile.mkdtemp(prefix="ink-", dir="/tmp"))  # unix socket paths are short
    made, watchdogs = [], []

    def make(kind: str, name: str = "x.txt") -> Path:
        path = short / f"{len(made)}-{name}"
        if kind in ("fifo", "link-to-fifo"):
            fifo = path if kind == "fifo" else short / f"{len(made)}-target.fifo"
            os.mkfifo(fifo)
            watchdogs.append(_FifoWatchdog(fifo))
            if kind == "link-to-fifo":
                path.symlink_to(fifo)
        elif kind == "socket":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(path))
            made.append(sock)
        elif kind == "dev-zero":
            path.symlink_to("/dev/zero")
        elif kind == "folder":
            path.mkdir()
        else:
            raise ValueError(kind)
        made.append(path)
        return path

    yield make
    for w in watchdogs:
        w.stop.set()
    for thing in made:
        if isinstance(thing, socket.socket):
            thing.close()
    shutil.rmtree(short, ignore_errors=True)


KINDS = ["fifo", "socket", "dev-zero", "folder", "link-to-fifo"]


@pytest.mark.parametrize("kind", KINDS)
def test_only_regular_files_are_read(special, kind):
    path = special(kind)
    started = time.monotonic()
    with pytest.raises(NotRegularFile) as info:
        read_bytes(path, 1 << 20)
    assert time.monotonic() - started < 5  # refused at once, not after the watchdog
    words = {"fifo": "named pipe", "socket": "socket", "dev-zero": "character device", "folder": "folder",
             "link-to-fifo": "named pipe"}[kind]
    assert words in describe_os_error(info.value)


def test_the_cap_holds_where_the_size_on_record_is_wrong(tmp_path):
    assert os.stat("/proc/self/status").st_size == 0  # as /proc reports it
    assert b"Name:" in read_bytes("/proc/self/status", 1 << 20)
    with pytest.raises(FileTooLarge):
        read_bytes("/proc/self/status", 64)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(FileTooLarge, match="limit"):
        read_bytes(big, 4096)
    assert read_bytes(big, 5000) == b"x" * 5000


def test_a_file_deleted_or_truncated_while_open_reads_what_is_there(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc" * 1000)
    with open(path, "r+b") as f:
        f.truncate(10)
        assert read_bytes(path, 1 << 20) == b"abc" * 3 + b"a"
        path.unlink()
        with pytest.raises(FileNotFoundError):
            read_bytes(path, 1 << 20)


@pytest.mark.parametrize("text, why", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"n": ' + "9" * 5000 + "}", "digits"),
    ('{"a": 1', "line 1"),
    (b'{"a": "\xff"}', "not UTF-8"),
    ("", "Expecting value"),
])
def test_every_parse_failure_is_a_damaged_file(tmp_path, text, why):
    path = tmp_path / "x.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DamagedFile, match=why) as info:
        read_json(path)
    assert info.value.path == path and str(path) in str(info.value)


def test_json_with_a_byte_order_mark_and_non_finite_numbers_parses(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b'\xef\xbb\xbf{"t": NaN, "u": 1e999}')
    data = read_json(path)
    assert data["t"] != data["t"] and data["u"] == float("inf")  # the caller's checks refuse them


def test_back_up_never_overwrites_an_earlier_backup(tmp_path):
    first = tmp_path / "settings.json"
    first.write_text("one")
    a = back_up(first)
    first.write_text("two")
    b = back_up(first)
    assert a != b and a.read_text() == "one" and b.read_text() == "two" and not first.exists()
    assert back_up(tmp_path / "missing") is None


def test_atomic_write_keeps_mode_and_link_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    atomic_write(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.txt"
    atomic_write(fresh, b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.txt", "link.txt", "real.txt"]


def test_stale_temporary_files_are_removed_only_when_abandoned(tmp_path):
    old = tmp_path / ".settings.json.abcd1234.tmp"
    old.write_text("half")
    past = time.time() - 3600
    os.utime(old, (past, past))
    fresh = tmp_path / ".settings.json.efgh5678.tmp"  # a save in progress in another process
    fresh.write_text("half")
    other = tmp_path / ".notes.txt.ijkl9012.tmp"
    other.write_text("not ours")
    os.utime(other, (past, past))
    assert remove_stale_temps(tmp_path, "settings.json") == [old]
    assert fresh.exists() and other.exists()


def test_importable_without_torch_qt_or_numpy():
    code = "import sys, core.fileio; print(sorted(m for m in ('torch', 'PySide6', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


# --- every reader of the app ---------------------------------------------------------------------


def _document(path):
    from app.documents import DocumentError, read_text

    with pytest.raises(DocumentError, match="only regular files"):
        read_text(path)


def _training_text(path):
    from model.train_data import DataError, read_text_file

    with pytest.raises(DataError, match="only regular files"):
        read_text_file(path)


def _wizard_entry(path):
    from app.ui.finetune_wizard import read_entry

    entry = read_entry(path, {})
    assert not entry.usable and "regular file" in entry.problem


def _manifest(path):
    from core.config import read_json as read_manifest
    from core.errors import ModelError

    with pytest.raises(ModelError, match="cannot read"):
        read_manifest(path)


def _settings(path):
    from app.settings import Settings

    settings = Settings.load(path)
    assert settings["temperature"] == 0.8 and "regular file" in settings.notice
    assert json.loads(path.read_text())["version"] == 1  # the thing was moved aside, a good file written


def _job(path):
    from model.train_job import TrainError, read_job

    with pytest.raises(TrainError, match="cannot read"):
        read_job(path)


def _prompt_file(path):
    from app.generate_cli import _Failure, _read_prompt

    class Args:
        prompt, prompt_file = None, path

    with pytest.raises(_Failure, match="only regular files"):
        _read_prompt(Args())


def _import_source(path):
    from app.installer import detect, guess_size
    from core.errors import ModelError

    weights = path.with_name(path.name + ".safetensors")
    os.rename(path, weights)
    with pytest.raises(ModelError, match="not a regular file"):
        detect(weights)
    assert guess_size(weights) is None


def _run_folder(path):
    from app.finetune import read_run

    run = path.parent / f"run-{path.name}"
    run.mkdir()
    os.rename(path, run / "job.json")
    assert read_run(run) is None


def _weights_header(path):
    from core.errors import ModelError
    from core.weights import tensor_shapes

    weights = path.with_name(path.name + ".safetensors")
    os.rename(path, weights)
    with pytest.raises(ModelError, match="cannot read"):
        tensor_shapes(weights)


def _onnx_graph(path):
    from core import onnx_info
    from core.errors import ModelError

    with pytest.raises(ModelError, match="cannot read"):
        onnx_info.read(path)


READERS = {"checkpoint header": _weights_header, "ONNX graph": _onnx_graph, "document": _document,
           "training text": _training_text, "wizard": _wizard_entry,
           "manifest": _manifest, "settings": _settings, "job file": _job, "prompt file": _prompt_file,
           "model import": _import_source, "fine-tune run": _run_folder}


# (A folder is a valid input for training texts and imports: its files are read.)
CASES = [(reader, kind) for reader in READERS for kind in ("fifo", "dev-zero", "folder", "socket")
         if not (kind == "folder" and reader in ("wizard", "training text", "model import"))]


@pytest.mark.parametrize("reader, kind", CASES)
def test_every_reader_refuses_special_files_at_once(special, reader, kind):
    path = special(kind)
    started = time.monotonic()
    READERS[reader](path)
    assert time.monotonic() - started < 5  # at once: not unblocked by the watchdog


def test_a_read_only_file_is_not_replaced(tmp_path, unprivileged):
    path = tmp_path / "locked.txt"
    path.write_text("keep")
    os.chmod(path, 0o444)
    code = ("import sys; from core.fileio import ReadOnlyFile, atomic_write, describe_os_error\n"
            "try:\n    atomic_write(sys.argv[1], b'new')\n"
            "except ReadOnlyFile as exc:\n    print(describe_os_error(exc))")
    done = subprocess.run([*unprivileged, sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "the file is read-only", done.stderr
    assert path.read_text() == "keep" and os.listdir(tmp_path) == ["locked.txt"]


# --- writing over what is not a regular file (issue 22) -----------------------------------------


def _device_node(tmp_path: Path) -> Path:
    """A character device of its own (a copy of /dev/null's numbers) in ``tmp_path``: a test
    that fails replaces this node, never the system's."""
    node = tmp_path / "device.txt"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return node


# (not "dev-zero": should the refusal ever break, a write through that link would replace /dev/zero)
@pytest.mark.parametrize("kind", ["fifo", "socket", "folder", "link-to-fifo", "device", "link-to-device"])
def test_atomic_write_refuses_to_replace_what_is_not_a_regular_file(special, tmp_path, kind):
    if kind in ("device", "link-to-device"):
        path = _device_node(tmp_path)
        if kind == "link-to-device":
            (tmp_path / "link.txt").symlink_to(path)
            path = tmp_path / "link.txt"
    else:
        path = special(kind)
    before = os.lstat(path)
    with pytest.raises(NotRegularFile):
        atomic_write(path, b"text")  # today: the FIFO, socket or folder link is replaced by a file
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_without_following_links_replaces_the_link_itself(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("theirs")
    link = tmp_path / "doc.txt"
    link.symlink_to(victim)
    atomic_write(link, b"mine", follow_links=False)
    assert not link.is_symlink() and link.read_bytes() == b"mine" and victim.read_text() == "theirs"


def test_atomic_write_over_a_symlink_loop_says_so(tmp_path):
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    with pytest.raises(OSError) as info:
        atomic_write(loop, b"text")
    assert describe_os_error(info.value) == "too many levels of symbolic links"
    assert loop.is_symlink()


@pytest.mark.parametrize("name", ["a" * 251 + ".txt", "長" * 80 + ".txt", "é" * 125 + ".md"])
def test_a_file_of_a_long_valid_name_is_replaced(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"old")
    atomic_write(path, b"new")  # today: "File name too long", from the temporary file's longer name
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == [name]


def test_a_folder_is_published_whole_over_the_old_one(tmp_path):
    from core.fileio import publish_folder

    dest = tmp_path / "model"
    for version in ("one", "two"):
        built = tmp_path / f".model.{version}.partial"
        built.mkdir()
        (built / "version.txt").write_text(version)
        publish_folder(built, dest)
        assert not built.exists()
        assert sorted(p.name for p in dest.iterdir()) == ["version.txt"]
        assert (dest / "version.txt").read_text() == version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the old one is gone, not kept aside
