"""Downloads against a hostile or broken server on 127.0.0.1: a download never outgrows the size
the hub announced, a stalled connection times out (keeping what came for the next attempt), and
every lie ends in a sentence, never a full disk, a full memory or a hang."""

from __future__ import annotations

import threading

import pytest
from fake_hub import FakeHub, gzip_bomb

from app import hub, installer, models

REPO = "openai-community/gpt2"
WEIGHTS = "model.safetensors"


@pytest.fixture(autouse=True)
def quick_stalls(monkeypatch):
    # Stalls are found in about a second here (30 s and 60 s in use).
    monkeypatch.setattr(hub, "READ_TIMEOUT_S", 1.0)
    monkeypatch.setattr(hub, "STALL_WINDOW_S", 1.0)


def folder():
    return hub.download_folder(installer.downloads_dir(), REPO)


def parts():
    return list(folder().glob(f"{WEIGHTS}.*.part")) if folder().exists() else []


def size(tiny_hf_dir) -> int:
    return (tiny_hf_dir / WEIGHTS).stat().st_size


def finishes(target, timeout: float = 60.0):
    """Run ``target`` on a thread; (finished in time, its exception or None). A download that
    hangs fails the test instead of hanging it."""
    outcome: list[BaseException | None] = []

    def run():
        try:
            target()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    return (not thread.is_alive()), (outcome[0] if outcome else None)


def test_an_endless_stream_stops_at_the_announced_size(fake_hub, tiny_hf_dir):
    """D12: chunked, no length, and junk after the file for as long as the client reads."""
    fake_hub.endless.add(WEIGHTS)
    with pytest.raises(hub.HubError, match="more than the .* the hub announced") as err:
        installer.download("gpt2")
    assert "partial download was deleted" in str(err.value)
    assert not parts() and not (folder() / WEIGHTS).exists()
    # The client stopped reading at the file's size: the server got rid of little more than
    # that (what the sockets' buffers hold), not its 64 MB of junk.
    assert fake_hub.sent[WEIGHTS] < size(tiny_hf_dir) + (16 << 20)
    assert not [m for m in models.installed_models() if not m.bundled]


def test_a_length_above_the_announced_size_is_refused_before_writing(fake_hub, tiny_hf_dir):
    """D12: the server means to send 200 MB more than the hub's file list says."""
    data = (tiny_hf_dir / WEIGHTS).read_bytes()
    fake_hub.repos[REPO].served[WEIGHTS] = data + b"\0" * (200 << 20)
    with pytest.raises(hub.HubError, match="announced 2.*MB where .* were to come"):
        hub.download(hub.plan("gpt2"), folder())
    assert not parts()


def test_a_stalled_download_times_out_and_resumes(fake_hub, tiny_hf_dir, monkeypatch):
    """D13: after 100 kB the server sends one byte every 0.2 s; the download gives up (the
    part stays) and the next attempt continues it."""
    monkeypatch.setattr(hub, "RETRIES", 0)
    fake_hub.drip[WEIGHTS] = (100_000, 0.2)
    done, error = finishes(lambda: hub.download(hub.plan("gpt2"), folder()))
    assert done, "a download at one byte every 0.2 s never timed out"
    assert isinstance(error, hub.HubError) and "stalled" in str(error), error
    assert "kept; download again to continue" in str(error)
    (part,) = parts()
    kept = part.stat().st_size
    assert kept >= 100_000
    fake_hub.drip.clear()
    hub.download(hub.plan("gpt2"), folder())
    assert int(fake_hub.ranges(WEIGHTS)[-1].removeprefix("bytes=").rstrip("-")) == kept
    assert (folder() / WEIGHTS).read_bytes() == (tiny_hf_dir / WEIGHTS).read_bytes()


def test_a_silent_server_times_out(fake_hub, monkeypatch):
    monkeypatch.setattr(hub, "RETRIES", 0)
    fake_hub.hold_after[WEIGHTS] = 50_000  # then nothing until released
    done, error = finishes(lambda: hub.download(hub.plan("gpt2"), folder()))
    fake_hub.release()
    assert done and isinstance(error, hub.HubError) and "did not answer in time" in str(error)
    assert parts() and parts()[0].stat().st_size == 50_000


def test_a_dripping_file_list_times_out(fake_hub):
    fake_hub.api_drip = 0.2
    done, error = finishes(lambda: hub.plan("gpt2"))
    assert done and isinstance(error, hub.HubError) and "stalled" in str(error), error


@pytest.mark.parametrize("what", ["api", WEIGHTS])
def test_headers_sent_one_byte_at_a_time_time_out(fake_hub, monkeypatch, what):
    """Issue 22.1: the status line and headers, one byte every 0.2 s without end (the read
    timeout never fires): the file list or the weights give up once the headers take longer
    than HEADERS_TIMEOUT_S, with a message."""
    monkeypatch.setattr(hub, "HEADERS_TIMEOUT_S", 1.0)
    monkeypatch.setattr(hub, "RETRIES", 1)
    fake_hub.header_drip[what] = 0.2
    job = (lambda: hub.plan("gpt2")) if what == "api" else (lambda: hub.download(hub.plan("gpt2"), folder()))
    done, error = finishes(job, timeout=30)
    fake_hub.release()
    assert done, "headers at one byte every 0.2 s kept the download waiting"
    assert isinstance(error, hub.HubError) and "did not answer in time" in str(error), error


@pytest.mark.parametrize("how", ["close", "flood"])
@pytest.mark.parametrize("what", ["api", WEIGHTS])
def test_headers_cut_off_or_flooded_are_a_message(fake_hub, monkeypatch, what, how):
    """Hostile: the connection closes in the middle of the headers, or one header line runs
    to 64 MB: a message (after the retries), no hang and no memory grown without bound."""
    monkeypatch.setattr(hub, "RETRIES", 1)
    (fake_hub.header_close if how == "close" else fake_hub.header_flood).add(what)
    job = (lambda: hub.plan("gpt2")) if what == "api" else (lambda: hub.download(hub.plan("gpt2"), folder()))
    done, error = finishes(job, timeout=30)
    assert done and isinstance(error, hub.HubError), error
    assert not (folder() / WEIGHTS).exists()


def test_an_endless_file_list_is_cut_off(fake_hub):
    fake_hub.api_endless = True
    done, error = finishes(lambda: hub.plan("gpt2"))
    assert done and isinstance(error, hub.HubError) and "too much for a repository's file list" in str(error)


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"id": ' + b"9" * 5000 + b"}", b"\xff\xfe{"])
def test_a_file_list_that_breaks_the_parser_is_a_bad_answer(fake_hub, body):
    fake_hub.api_body = body
    with pytest.raises(hub.HubError, match="not a repository's file list"):
        hub.plan("gpt2")


def test_an_endless_error_page_is_cut_off(fake_hub):
    fake_hub.status = 503
    fake_hub.error_endless = True
    done, error = finishes(lambda: hub.plan("gpt2"))
    assert done and isinstance(error, hub.HubError) and "answered HTTP 503" in str(error), error


def test_a_redirect_loop_is_a_message(fake_hub):
    fake_hub.redirect[WEIGHTS] = "loop"
    with pytest.raises(hub.HubError, match="redirect loop"):
        hub.download(hub.plan("gpt2"), folder())


def test_a_redirect_to_another_server_is_followed_and_checked(fake_hub, tiny_hf_dir):
    """The hub sends large files to a CDN on another host: fine, the checksum decides."""
    cdn = FakeHub().start()
    try:
        cdn.add_folder(REPO, tiny_hf_dir)
        path = f"/{REPO}/resolve/{fake_hub.repos[REPO].commit}/{WEIGHTS}"
        fake_hub.redirect[WEIGHTS] = cdn.url + path
        hub.download(hub.plan("gpt2"), folder())
        assert cdn.ranges(WEIGHTS) == [None]
        assert (folder() / WEIGHTS).read_bytes() == (tiny_hf_dir / WEIGHTS).read_bytes()
    finally:
        cdn.stop()


def test_a_redirect_to_a_local_file_is_refused(fake_hub, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"x" * 10)
    fake_hub.redirect[WEIGHTS] = secret.as_uri()
    with pytest.raises(hub.HubError, match="connection to .* failed"):
        hub.download(hub.plan("gpt2"), folder())
    assert not (folder() / WEIGHTS).exists()


@pytest.mark.slow
def test_a_gzip_bomb_is_refused_unopened(fake_hub):
    fake_hub.gzip_bomb[WEIGHTS] = gzip_bomb(256 << 20)
    with pytest.raises(hub.HubError, match=r"compressed \(gzip\)"):
        hub.download(hub.plan("gpt2"), folder())
    assert not parts()


def test_a_length_below_the_body_still_gives_the_right_file(fake_hub, tiny_hf_dir):
    """Content-Length says half: the client takes half, then asks for the rest."""
    fake_hub.content_length[WEIGHTS] = size(tiny_hf_dir) // 2
    fake_hub.drop_count[WEIGHTS] = 1
    hub.download(hub.plan("gpt2"), folder())
    assert (folder() / WEIGHTS).read_bytes() == (tiny_hf_dir / WEIGHTS).read_bytes()


def test_a_range_answered_from_the_start_is_not_appended(fake_hub, tiny_hf_dir):
    """206 for bytes=N- but the bytes from 0: appending them would corrupt the file."""
    fake_hub.drop_after[WEIGHTS] = 1_000_000
    fake_hub.drop_count[WEIGHTS] = 1
    fake_hub.range_from_zero.add(WEIGHTS)
    with pytest.raises(hub.HubError, match="another range"):
        hub.download(hub.plan("gpt2"), folder())
    assert not parts()


def test_an_honest_stream_without_a_length_works(fake_hub, tiny_hf_dir):
    fake_hub.chunked.add(WEIGHTS)
    hub.download(hub.plan("gpt2"), folder())
    assert (folder() / WEIGHTS).read_bytes() == (tiny_hf_dir / WEIGHTS).read_bytes()


def test_an_impossible_file_list_is_refused(fake_hub, monkeypatch):
    info = fake_hub._info

    def lying(name, repo, blobs):
        data = info(name, repo, blobs)
        for sibling in data["siblings"]:
            if "lfs" in sibling:
                sibling["lfs"]["sha256"] = "../../../../tmp/evil" + "0" * 44
        return data

    monkeypatch.setattr(fake_hub, "_info", lying)
    with pytest.raises(hub.HubError, match="impossible size or checksum"):
        hub.plan("gpt2")


def test_a_partial_file_that_is_a_link_or_a_pipe_is_replaced(fake_hub, tiny_hf_dir, tmp_path):
    """Appending through a link would write into another file; opening a pipe would block."""
    import os

    plan = hub.plan("gpt2")
    folder().mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    config, weights = plan.files
    os.symlink(victim, hub._part_path(folder(), weights))
    os.mkfifo(hub._part_path(folder(), config))
    hub.download(plan, folder())
    assert victim.read_text() == "precious"
    assert (folder() / WEIGHTS).read_bytes() == (tiny_hf_dir / WEIGHTS).read_bytes()
