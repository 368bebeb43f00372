"""Thread counts are limited to the cores the machine has, with a message, wherever they are set:
the engine, `inkwell generate --threads`, the settings panel and training jobs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import generate_cli
from app.engine import Engine
from core.machine import cpu_count, limit_threads


def test_limit_threads():
    cores = cpu_count()
    assert limit_threads(0) == (0, "")
    assert limit_threads(cores) == (cores, "")
    threads, note = limit_threads(100_000, "--threads")
    assert threads == cores and note.startswith(f"--threads 100000 is more than the {cores} CPU core")
    for bad in (-1, 2.5, "4", True, None):
        with pytest.raises(ValueError, match="whole number"):
            limit_threads(bad)


def test_the_engine_runs_no_more_threads_than_cores(tiny_bundle):
    engine = Engine.load(tiny_bundle, provider="cpu", threads=100_000)
    assert engine.decoder.session.get_session_options().intra_op_num_threads == cpu_count()
    assert "threads 100000 is more than" in engine.status.message


def test_generate_threads_are_clamped_with_a_message(tiny_bundle, capsys):
    """D14: `inkwell generate --threads 100000` ran for minutes growing memory."""
    code = generate_cli.main(["It was", "--model", str(tiny_bundle), "--threads", "100000",
                              "--max-new-tokens", "3", "--seed", "1", "--provider", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0 and out.strip()
    assert f"inkwell generate: --threads 100000 is more than the {cpu_count()} CPU core" in err
    assert f"using {cpu_count()}" in err


def test_the_settings_panel_offers_no_more_threads_than_cores(qtbot):
    from PySide6.QtWidgets import QSpinBox

    from app.settings import Settings
    from app.ui.settings_panel import SettingsPanel

    panel = SettingsPanel(Settings(), {})
    qtbot.addWidget(panel)
    assert panel.findChild(QSpinBox, "setting_threads").maximum() == cpu_count()


@pytest.mark.slow
def test_a_training_job_uses_no_more_threads_than_cores(tmp_path):
    import torch
    from conftest import TINY

    from model.train_job import Job
    from model.train_loop import Events, StopRequest, Trainer

    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("It is a truth universally acknowledged. " * 200, encoding="utf-8")
    job = {"data": [str(texts)], "out": str(tmp_path / "out"), "model": dict(TINY), "holdout": {"fraction": 0.1},
           "steps": 1, "batch_size": 2, "seq_len": 16, "log_every": 1, "eval_every": 1, "sample_every": 1,
           "sample_tokens": 2, "checkpoint_every": 1, "threads": 100_000, "seed": 1,
           "cache_dir": str(tmp_path / "cache"), "sample_prompts": ["It is"]}
    before = torch.get_num_threads()
    log = io.StringIO()
    try:
        Trainer(Job.from_dict(job, "test"), Events(io.StringIO(), log), stop=StopRequest()).run()
        assert torch.get_num_threads() == cpu_count()
    finally:
        torch.set_num_threads(before)
    assert f"note: threads 100000 is more than the {cpu_count()} CPU core" in log.getvalue()


def test_the_plan_follows_what_other_programs_use():
    from app.engine.cpu_share import IDLE, Plan, plan_for

    assert plan_for(2, None, IDLE) == IDLE  # nothing known: as it was
    assert plan_for(2, 0.0, Plan(1, "off")) == IDLE
    assert plan_for(2, 1.0, IDLE) == Plan(1, "off")  # one core taken: one thread, on the other
    assert plan_for(2, 0.6, IDLE) == Plan(1, "off")
    assert plan_for(2, 2.5, IDLE) == Plan(1, "off")  # never fewer than one
    assert plan_for(8, 1.0, IDLE) == Plan(7, "off")
    assert plan_for(8, 0.5, IDLE) == Plan(8, "off")  # all cores, but threads that do not spin
    # In between, the plan stays: a program that comes and goes does not flip it at each request.
    assert plan_for(2, 0.4, IDLE) == IDLE
    assert plan_for(2, 0.4, Plan(1, "off")) == Plan(1, "off")


# Wall time, read without a system call: time spent in the kernel is not split by priority.
_BUSY_SECOND = "import time\nt = time.time()\nwhile time.time() - t < 1.0: pass"


def _busy_child(nice: int = 0) -> None:
    """Another program, busy for a second (at a lower priority with ``nice``)."""
    subprocess.run([sys.executable, "-c", _BUSY_SECOND], check=True,
                   preexec_fn=(lambda: os.nice(nice)) if nice else None)


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_other_programs_are_measured_but_not_this_one_nor_lower_priority_ones():
    """A second of another program's work reads about one core more than a second of this
    process's own (whatever else the machine is doing meanwhile); a program at a lower priority
    gives way to the engine's threads and reads as nothing."""
    from core.machine import OtherPrograms

    reader = OtherPrograms()
    assert reader.read() is None  # too soon to say
    start = time.time()
    while time.time() - start < 1.0:  # this process busy: not another program
        pass
    own = reader.read()
    if own is not None and own > (os.cpu_count() or 1) - 1.2:
        pytest.skip(f"other programs keep {own:.1f} cores busy: no core is free to see one more")
    _busy_child(nice=5)
    niced = reader.read()
    assert own is not None and niced is not None
    assert niced - own < 0.4, (own, niced)
    if os.nice(0) == 0:  # (a child of a niced test run is niced too)
        _busy_child()
        other = reader.read()
        assert other is not None and other - own > 0.4, (own, other)


_OWN_SECOND = """
import sys, time
sys.path.insert(0, {root!r})
from core.machine import OtherPrograms
reader = OtherPrograms()
start = time.time()
while time.time() - start < 1.0:
    pass
print(reader.read())
"""


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_a_process_started_at_a_lower_priority_does_not_read_its_own_work_as_less_than_nothing():
    """Started with nice, the process's own user time goes to /proc/stat's nice column, which the
    reading leaves out: it must not be taken off the others' work a second time. A second of its
    own work reads the same at both priorities (as what the rest of the machine did meanwhile)."""
    script = _OWN_SECOND.format(root=str(Path(__file__).resolve().parent.parent))

    def reading(nice: int) -> float:
        done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True,
                              preexec_fn=(lambda: os.nice(nice)) if nice else None)
        return float(done.stdout.strip())

    plain, niced, plain_again = reading(0), reading(5), reading(0)
    if abs(plain - plain_again) > 0.3:
        pytest.skip(f"the machine's other work changed while measuring ({plain:.2f}, then {plain_again:.2f})")
    assert abs(niced - (plain + plain_again) / 2) < 0.4, (plain, niced, plain_again)


class _Load:
    """Stands in for core.machine.OtherPrograms: the readings a test gives."""

    def __init__(self, *readings: float | None):
        self.readings = list(readings)

    def read(self) -> float | None:
        return self.readings.pop(0)


def test_automatic_threads_follow_the_load_and_write_the_same(tiny_bundle):
    from app.engine import GenerationParams
    from app.engine.cpu_share import IDLE, Plan

    engine = Engine.load(tiny_bundle, provider="cpu", threads=0)
    decoder = engine.decoder
    idle_session = decoder.session
    decoder._load = _Load(float(cpu_count()), float(cpu_count()), 0.0)
    params = GenerationParams(max_new_tokens=6, temperature=0.0, stop_at_eot=False, real_words=False)
    busy = engine.generate("It was a dark and", params)
    assert decoder.plan == Plan(1, "off")
    assert decoder.session.get_session_options().intra_op_num_threads == 1
    assert decoder.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    busy_session = decoder.session
    engine.reset()
    assert engine.generate("It was a dark and", params).text == busy.text  # another thread count, same text
    assert decoder.session is busy_session  # the plan held: no new session
    engine.generate("It was a dark and", params)
    assert decoder.plan == IDLE and decoder.session is idle_session


def test_a_thread_count_the_writer_set_is_kept(tiny_bundle):
    engine = Engine.load(tiny_bundle, provider="cpu", threads=1)
    assert engine.decoder.fit_to_load().threads == 1 and engine.decoder._load is None


def test_a_busy_plan_that_cannot_open_keeps_the_one_there_is(tiny_bundle, monkeypatch):
    from app.engine.cpu_share import IDLE
    from core.errors import ModelError

    engine = Engine.load(tiny_bundle, provider="cpu", threads=0)
    decoder, session = engine.decoder, engine.decoder.session

    def no_memory(plan):
        raise ModelError("out of memory")

    monkeypatch.setattr(decoder, "_open", no_memory)
    decoder._load = _Load(float(cpu_count()))
    assert decoder.fit_to_load() == IDLE and decoder.session is session
