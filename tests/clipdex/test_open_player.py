"""``clipdex search --open N`` starts a real player process at hit N; ``--format paths``.

The players are executable stubs named ``mpv``, ``vlc`` and ``xdg-open``, alone on PATH: real
processes started by the real code, which write their argv, pid and session id to a file (a
real player cannot run here). The search itself runs on the tiny X-CLIP checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.cli import run, run_json


def _stub(bindir: Path, name: str, out: Path) -> None:
    """An executable ``name`` that writes its argv to ``out`` and then its pid to ``out.pid``
    (printf and echo are shell builtins: the stub needs nothing else on PATH)."""
    script = bindir / name
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$0" "$@" > "{out}"\necho "$$" > "{out}.pid"\n')
    script.chmod(0o755)


def _argv(out: Path, timeout: float = 10.0) -> list[str]:
    """The stub's argv, once it has written all of it."""
    done = Path(f"{out}.pid")
    deadline = time.monotonic() + timeout
    while not done.exists() or not done.read_text().endswith("\n"):
        assert time.monotonic() < deadline, f"the player stub never ran ({done} missing)"
        time.sleep(0.05)
    return out.read_text().splitlines()


@pytest.fixture
def indexed(video_dir: Path) -> dict:
    assert run("index", video_dir).exit_code == 0
    return run_json("search", "moving shapes", "-k", "3")


@pytest.fixture
def bindir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))  # only the stubs: no real mpv, vlc or xdg-open
    return folder


def test_open_starts_mpv_at_the_hits_start_and_returns_at_once(indexed, bindir, tmp_path):
    hits = indexed["hits"]
    assert len(hits) >= 2
    out = tmp_path / "mpv.argv"
    _stub(bindir, "mpv", out)
    _stub(bindir, "vlc", tmp_path / "vlc.argv")  # mpv is preferred when both exist
    result = run("search", "moving shapes", "-k", "3", "--open", "2")
    assert result.exit_code == 0, result.output
    argv = _argv(out)
    assert argv[0] == str(bindir / "mpv")
    assert argv[1].startswith("--start=")
    assert float(argv[1].removeprefix("--start=")) == hits[1]["start"]
    assert argv[2:] == [hits[1]["path"]]
    assert not (tmp_path / "vlc.argv").exists()
    # The table is printed as without --open; stderr says what was opened, in one line.
    assert result.stdout.splitlines()[0].split() == ["#", "score", "span", "path"]
    assert "in mpv" in result.stderr and hits[1]["path"] in result.stderr

    # Detached: clipdex returns while the player still plays, in a session of its own.
    out = tmp_path / "lingering.argv"
    script = bindir / "mpv"
    script.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$0" "$@" > "{out}"\necho "$$" > "{out}.pid"\n'
        "exec /bin/sleep 30\n"
    )
    script.chmod(0o755)
    began = time.monotonic()
    result = run("search", "moving shapes", "-k", "3", "--open", "1")
    took = time.monotonic() - began
    assert result.exit_code == 0, result.output
    assert _argv(out)[1].startswith("--start=")
    pid = int((tmp_path / "lingering.argv.pid").read_text())
    try:
        # Still playing (sleeping) after clipdex returned, in a session of its own.
        assert os.getsid(pid) == pid
        assert took < 25
    finally:
        os.kill(pid, signal.SIGTERM)


def test_fallbacks_vlc_then_the_desktop_opener_then_an_error(indexed, bindir, tmp_path):
    out = tmp_path / "vlc.argv"
    _stub(bindir, "vlc", out)
    _stub(bindir, "xdg-open", tmp_path / "xdg.argv")
    result = run("search", "moving shapes", "-k", "3", "--open", "1")
    assert result.exit_code == 0, result.output
    argv = _argv(out)
    hit = indexed["hits"][0]
    assert argv[1:] == [f"--start-time={argv[1].removeprefix('--start-time=')}", hit["path"]]
    assert float(argv[1].removeprefix("--start-time=")) == hit["start"]
    assert not (tmp_path / "xdg.argv").exists()

    # Without mpv and vlc: the desktop's opener, which cannot seek; stderr says so and when.
    (bindir / "vlc").unlink()
    out = tmp_path / "xdg.argv"
    result = run("search", "moving shapes", "-k", "3", "--open", "1")
    assert result.exit_code == 0, result.output
    hit = indexed["hits"][0]
    assert _argv(out)[1:] == [hit["path"]]
    assert "beginning" in result.stderr and f"({hit['start']} s)" in result.stderr

    # No player at all: one error line, exit 2.
    (bindir / "xdg-open").unlink()
    result = run("search", "moving shapes", "-k", "3", "--open", "1")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("clipdex: error: no video player found")


def test_open_out_of_range_is_a_usage_error_and_format_paths(indexed, bindir, tmp_path):
    _stub(bindir, "mpv", tmp_path / "mpv.argv")
    result = run("search", "moving shapes", "-k", "3", "--open", str(len(indexed["hits"]) + 1))
    assert result.exit_code == 2
    assert "clipdex: error: --open" in result.stderr and "only" in result.stderr
    assert result.stderr.count("\n") == 1
    time.sleep(0.3)
    assert not (tmp_path / "mpv.argv").exists()
    assert run("search", "moving shapes", "--open", "0").exit_code == 2

    # --format paths: the JSON's paths, each video once, in rank order.
    found = run_json("search", "moving shapes", "-k", "10")
    unique = list(dict.fromkeys(h["path"] for h in found["hits"]))
    result = run("search", "moving shapes", "-k", "10", "--format", "paths")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == unique

    timed = run("search", "moving shapes", "-k", "10", "--format", "paths+time")
    rows = [line.split("\t") for line in timed.stdout.splitlines()]
    assert rows == [[h["path"], str(h["start"]), str(h["end"])] for h in found["hits"]]

    as_json = run("search", "moving shapes", "-k", "10", "--format", "json")
    assert json.loads(as_json.stdout) == found
    clash = run("search", "moving shapes", "--json", "--format", "paths")
    assert clash.exit_code == 2 and "disagree" in clash.stderr
