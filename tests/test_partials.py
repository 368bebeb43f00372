"""Partial bundles (a model being written) belong to the process writing them: an install clears
only those whose writer is dead, a killed fine-tune install is cleared when it starts again, and
two installs at once never destroy each other's work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app import installer, models
from core import paths
from core.bundle import OWNER_FILE, BundleWriter, clear_abandoned
from core.errors import ModelError

ROOT = Path(__file__).resolve().parent.parent
# A process writing a bundle, as an export or a fine-tune's install does: it prints its partial
# folder once the folder is there, then works on until its stdin closes (or it is killed).
WRITER = """
import sys
from core.bundle import BundleWriter
w = BundleWriter(sys.argv[1])
(w.tmp / "model.int8.onnx").write_bytes(b"x" * 1000)
print(w.tmp, flush=True)
sys.stdin.read()
"""


def start(*args: str, stdin=subprocess.PIPE) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def writer(dest: Path) -> tuple[subprocess.Popen, Path]:
    proc = start("-c", WRITER, str(dest))
    return proc, Path(proc.stdout.readline().strip())


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    if proc.stdin:
        proc.stdin.close()


def partials() -> list[Path]:
    return sorted(p for p in paths.models_dir().iterdir() if p.name.endswith(".partial"))


@pytest.mark.slow
def test_an_import_leaves_a_living_writers_partial_alone(tiny_bundle):
    """D15: `models import` removed the partial bundle of an export running at the same time."""
    proc, partial = writer(paths.models_dir() / "exporting")
    try:
        assert (partial / OWNER_FILE).is_file()
        installer.install(tiny_bundle, name="imported")
        assert partial.is_dir() and (partial / "model.int8.onnx").stat().st_size == 1000
    finally:
        kill(proc)
    # Now its writer is dead: the next install clears it.
    installer.install(tiny_bundle, name="imported again")
    assert partials() == []
    assert sorted(m.name for m in models.installed_models() if not m.bundled) == ["imported", "imported again"]


@pytest.mark.slow
def test_a_killed_fine_tune_install_is_cleared_when_it_resumes(tiny_bundle, tmp_path, inkwell_home):
    """D16: the install of a fine-tune was killed; `inkwell finetune --resume` starts again."""
    import io

    from test_finetune_cli import PROSE, inkwell

    from app.finetune import default_settings, make_job
    from model.train_job import Job
    from model.train_loop import Events, StopRequest, Trainer

    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "story.txt").write_text(PROSE * 10, encoding="utf-8")
    settings = {**default_settings(0, 256), "steps": 4, "seq_len": 32, "batch_size": 4}
    job = make_job("Later", tiny_bundle, [str(texts)], settings, 1000, "The lighthouse")
    job["checkpoint_every"] = 2
    stop = StopRequest()
    Trainer(Job.from_dict(job, "test"), Events(io.StringIO(), io.StringIO()), stop=stop,
            on_step=lambda s: setattr(stop, "signum", signal.SIGTERM) if s == 2 else None).run()
    proc, partial = writer(paths.models_dir() / "Later")  # the install, killed half-way
    kill(proc)
    assert partial.is_dir()
    done = inkwell(inkwell_home, "--resume", "Later", "--no-use")
    assert done.returncode == 0, done.stderr
    assert (paths.models_dir() / "Later" / "inkwell-model.json").is_file()
    assert partials() == []


@pytest.mark.slow
def test_an_export_killed_mid_way_then_an_import(tiny_hf_dir, tiny_bundle):
    """kill -9 of `inkwell export` into the models folder while it builds its graphs."""
    proc = start("-m", "model.export", str(tiny_hf_dir), str(paths.models_dir() / "killed"), "--json")
    try:
        for line in proc.stdout:
            if json.loads(line).get("stage") == "build int8":
                break
        [partial] = partials()
        assert (partial / OWNER_FILE).is_file()
    finally:
        kill(proc)
    installer.install(tiny_bundle, name="after")
    assert partials() == []
    assert [m.name for m in models.installed_models() if not m.bundled] == ["after"]
    assert all(m.problem is None for m in models.installed_models())


@pytest.mark.slow
def test_two_imports_at_once(tiny_hf_dir, tiny_bundle):
    """The second waits its turn with a message; the first completes untouched."""
    first = start("-m", "app.models_cli", "import", str(tiny_hf_dir), "--name", "first", "--json", stdin=None)
    for line in first.stdout:
        if json.loads(line)["event"] == "export":
            break
    with pytest.raises(ModelError, match="another model is being installed"):
        installer.install(tiny_bundle, name="second")
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert [m.name for m in models.installed_models() if not m.bundled] == ["first"]
    assert partials() == []


def test_a_partial_without_an_owner_is_cleared_only_when_old(tmp_path):
    """Partials of an Inkwell before owner files, or one whose writer is starting this instant."""
    young = tmp_path / ".young.abc.partial"
    old = tmp_path / ".old.abc.partial"
    young.mkdir()
    old.mkdir()
    os.utime(old, (0, 0))
    (tmp_path / "plain.partial").mkdir()  # not hidden: not ours
    assert clear_abandoned(tmp_path) == [old]
    assert young.is_dir() and (tmp_path / "plain.partial").is_dir()


def test_a_writer_clears_its_own_killed_predecessor(tmp_path):
    proc, partial = writer(tmp_path / "model")
    kill(proc)
    with BundleWriter(tmp_path / "model") as w:
        assert not partial.exists() and w.tmp.is_dir()
    assert list(tmp_path.iterdir()) == []
