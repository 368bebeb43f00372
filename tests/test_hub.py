"""Downloads from a fake Hugging Face Hub on 127.0.0.1: checksums, resuming, faults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app import hub, installer, models
from core.errors import ModelError

REPO = "openai-community/gpt2"


def folder() -> Path:
    return hub.download_folder(installer.downloads_dir(), REPO)


def test_plan_gives_sizes_and_checksums_from_the_hub(fake_hub, tiny_hf_dir):
    plan = hub.plan("gpt2", folder=folder())
    weights = (tiny_hf_dir / "model.safetensors").read_bytes()
    assert plan.repo == REPO and plan.commit == fake_hub.repos[REPO].commit
    assert [f.name for f in plan.files] == ["config.json", "model.safetensors"]
    assert plan.weights.size == len(weights) and plan.weights.sha256 and plan.files[0].git_oid
    assert plan.have_bytes == 0 and plan.licence == "mit"
    assert plan.disk_needed() > plan.total_bytes


def test_download_is_verified_and_survives_a_dropped_connection(fake_hub, tiny_hf_dir):
    fake_hub.drop_after["model.safetensors"] = 3_000_000
    fake_hub.drop_count["model.safetensors"] = 1
    events = []
    hub.download(hub.plan("gpt2"), folder(), events.append)
    assert (folder() / "model.safetensors").read_bytes() == (tiny_hf_dir / "model.safetensors").read_bytes()
    ranges = fake_hub.ranges("model.safetensors")
    assert ranges[0] is None and len(ranges) == 2
    assert 0 < int(ranges[1].removeprefix("bytes=").rstrip("-")) <= 3_000_000
    assert not list(folder().glob("*.part"))
    assert {e["file"] for e in events if e["event"] == "verified"} == {"config.json", "model.safetensors"}
    last = [e for e in events if e["event"] == "download"][-1]
    assert last["done"] == last["total"] and last["bytes_per_s"] > 0


@pytest.mark.slow
def test_a_killed_download_continues_in_a_new_process(fake_hub, tiny_hf_dir):
    """The app is closed (the process killed) mid-download; the next start continues the file."""
    fake_hub.hold_after["model.safetensors"] = 5_000_000
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "app.models_cli", "download", "gpt2", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert fake_hub.held.wait(60)
        part = next(iter(folder().glob("model.safetensors.*.part")), None)
        for line in proc.stdout:  # the part file has bytes once a progress event names it
            event = json.loads(line)
            part = next(iter(folder().glob("model.safetensors.*.part")), None)
            if event["event"] == "download" and event["file"] == "model.safetensors" and part.stat().st_size:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    kept = part.stat().st_size
    assert 0 < kept <= 5_000_000
    assert not [m for m in models.installed_models() if not m.bundled]

    fake_hub.release()
    dest = installer.download("gpt2")
    resumed_from = int(fake_hub.ranges("model.safetensors")[-1].removeprefix("bytes=").rstrip("-"))
    assert resumed_from == kept
    installed = models.find(str(dest))
    assert installed.problem is None and installed.manifest["provenance"]["hub_repo"] == REPO
    assert installed.manifest["provenance"]["hub_sha256"]["model.safetensors"] == hub.plan("gpt2").weights.sha256
    assert installed.manifest["licence"] == "mit"
    assert not folder().exists()  # the checkpoint now lives in the bundle's hf/


def test_a_corrupted_download_is_detected_and_deleted(fake_hub, tiny_hf_dir):
    data = bytearray((tiny_hf_dir / "model.safetensors").read_bytes())
    data[len(data) // 2] ^= 0xFF
    fake_hub.repos[REPO].served["model.safetensors"] = bytes(data)
    with pytest.raises(hub.HubError, match="does not match the hub's sha256") as err:
        installer.download("gpt2")
    assert "download again" in str(err.value)
    assert not (folder() / "model.safetensors").exists() and not list(folder().glob("*.part"))
    assert not [m for m in models.installed_models() if not m.bundled]


def test_a_download_that_keeps_breaking_keeps_its_part(fake_hub):
    fake_hub.drop_after["model.safetensors"] = 1_500_000  # every response
    with pytest.raises(hub.HubError, match="continue where it stopped"):
        installer.download("gpt2")
    part = next(folder().glob("model.safetensors.*.part"))
    assert part.stat().st_size > 0
    assert len(fake_hub.ranges("model.safetensors")) == hub.RETRIES + 1
    plan = hub.plan("gpt2", folder=folder())
    assert plan.have["model.safetensors"] == part.stat().st_size  # shown before the next attempt
    assert installer.discard_download("gpt2") and not folder().exists()


def test_hub_faults_have_clear_messages(fake_hub, monkeypatch):
    with pytest.raises(hub.HubError, match="no such repository"):
        hub.plan("someone/missing")
    fake_hub.status = 503
    with pytest.raises(hub.HubError, match="answered HTTP 503"):
        hub.plan("gpt2")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens on this port now
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(hub.HubError, match="cannot reach .*check your connection"):
        hub.plan("gpt2")
    with pytest.raises(hub.HubError, match="not a known model"):
        hub.repo_id("gpt3")


def test_another_architecture_is_refused_before_the_weights_download(fake_hub, tmp_path):
    src = tmp_path / "llama"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    (src / "model.safetensors").write_bytes(b"\0" * 1000)
    fake_hub.add_folder("someone/llama", src)
    with pytest.raises(ModelError, match="model_type is 'llama'; Inkwell only runs GPT-2"):
        installer.download("someone/llama")
    assert fake_hub.ranges("model.safetensors") == []


def test_not_enough_disk_is_said_before_downloading(fake_hub, monkeypatch):
    monkeypatch.setattr(hub, "free_space", lambda folder: 1000)
    with pytest.raises(hub.HubError, match="not enough disk space .*needs 33.3 MB .*1.0 KB free"):
        installer.download("gpt2")
    assert fake_hub.ranges("model.safetensors") == [] and fake_hub.ranges("config.json") == []


def test_a_full_disk_while_writing_keeps_the_part(fake_hub, monkeypatch):
    import builtins
    import errno

    real_open = builtins.open
    fake_hub.drop_after["model.safetensors"] = 2_500_000
    fake_hub.drop_count["model.safetensors"] = 1

    def full_disk_after_first(path, mode="r", *a, **kw):
        if str(path).endswith(".part") and "a" in mode and Path(path).exists() and Path(path).stat().st_size:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", full_disk_after_first)
    with pytest.raises(hub.HubError, match="the disk is full; free some space"):
        hub.download(hub.plan("gpt2"), folder())
    assert next(folder().glob("model.safetensors.*.part")).stat().st_size > 0
