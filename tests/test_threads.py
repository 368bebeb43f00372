"""Thread counts are limited to the cores the machine has, with a message, wherever they are set:
the engine, `inkwell generate --threads`, the settings panel and training jobs."""

from __future__ import annotations

import io

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
