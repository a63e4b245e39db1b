"""Files and folders that cannot be read (permission denied) are recorded and reported, and the
videos under an unreadable folder are never taken for deleted.

Permission bits do not bind root, so ``clipdex`` runs here as root without the capabilities
that override them (``setpriv --bounding-set=-dac_override,-dac_read_search``): a ``chmod 000``
file or folder is then as unreadable to it as to any user, while the library, the model and the
checkout stay readable wherever they are.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.cli import REPO, run_json
from tests.support.videos import moving_shapes
from tests.support.watching import wait_until

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv (to run clipdex without the capabilities that override "
    "permission bits)",
)


def _unprivileged(*args: str | Path) -> subprocess.CompletedProcess:
    """``clipdex ARGS`` in a process for which permission bits apply."""
    return subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
        + [sys.executable, "-m", "clipdex", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "CLIPDEX_THREADS": "1"},
        cwd=REPO,
        timeout=300,
    )


@pytest.mark.slow
def test_unreadable_file_is_recorded_and_retried_unreadable_folder_reported_not_pruned(
    tmp_path: Path,
) -> None:
    media = tmp_path / "media"
    (media / "private").mkdir(parents=True)
    moving_shapes(media / "a.mp4", seconds=1.0, size=(64, 48), seed=30)
    moving_shapes(media / "private" / "b.mp4", seconds=1.0, size=(64, 48), seed=31)
    assert run_json("index", media)["indexed"] == 2
    locked = moving_shapes(media / "locked.mp4", seconds=1.0, size=(64, 48), seed=32)
    locked.chmod(0o000)
    (media / "private").chmod(0o000)
    try:
        _check_unreadable(media, locked)
    finally:
        (media / "private").chmod(0o755)
        locked.chmod(0o644)
    # Readable again (chmod changes neither size nor mtime): tried again, and indexed.
    report = run_json("index", media)
    assert (report["indexed"], report["skipped"], report["failed"]) == (1, 2, [])
    assert run_json("status")["failed"] == []


def _check_unreadable(media: Path, locked: Path) -> None:
    result = _unprivileged("index", media, "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["failed"], key=lambda f: f["path"]) == [
        {"path": str(locked), "error": "cannot read (Permission denied)"},
        {"path": str(media / "private"), "error": "cannot read folder (Permission denied)"},
    ]
    assert report["removed"] == 0, "the videos of an unreadable folder were pruned"
    assert f"clipdex: failed {media / 'private'}: cannot read folder (Permission denied)" in (
        result.stderr.splitlines()
    )

    status = _unprivileged("status", "--json")
    assert status.returncode == 0, status.stderr
    facts = json.loads(status.stdout)
    assert facts["failed"] == [{"path": str(locked), "error": "cannot read (Permission denied)"}]
    assert facts["videos"] == 2


@pytest.mark.slow
def test_watch_records_an_unreadable_file_and_indexes_it_once_readable(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    locked = moving_shapes(media / "locked.mp4", seconds=1.0, size=(64, 48), seed=33)
    locked.chmod(0o000)
    process = subprocess.Popen(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
        + [sys.executable, "-m", "clipdex", "watch", "--settle", "0.3", "--json", str(media)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "CLIPDEX_THREADS": "1"},
        cwd=REPO,
    )
    events: list[dict] = []
    reader = threading.Thread(
        target=lambda: events.extend(json.loads(line) for line in process.stdout), daemon=True
    )
    reader.start()
    try:
        failed = {
            "event": "failed",
            "path": str(locked),
            "error": "cannot read (Permission denied)",
        }
        wait_until(lambda: failed in events, "the unreadable file to be reported")
        locked.chmod(0o644)  # neither size nor mtime changes
        wait_until(
            lambda: any(e["event"] == "indexed" and e["path"] == str(locked) for e in events),
            "the file to be indexed once readable",
        )
    finally:
        locked.chmod(0o644)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        reader.join(timeout=10)
    assert code == 0
    assert run_json("status")["failed"] == []
