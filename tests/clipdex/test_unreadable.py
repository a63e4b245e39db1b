"""Files and folders that cannot be read (permission denied) are recorded and reported, and the
videos under an unreadable folder are never taken for deleted.

Permission bits do not apply to root, so ``clipdex`` runs here as ``nobody`` (``setpriv``) on a
library, a model and videos that ``nobody`` may use; only the target file and folder are
``chmod 000``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import REPO, run_json
from tests.support.videos import moving_shapes

NOBODY = 65534

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root (to run clipdex as nobody, for whom permission bits apply) and setpriv",
)


@pytest.fixture
def shared(
    xclip_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A folder ``nobody`` can use, holding a library, a copy of the model and ``media``; and
    the environment to run clipdex in it (also set in this process)."""
    base = Path(tempfile.mkdtemp(prefix="clipdex-unreadable-"))
    try:
        base.chmod(0o755)
        model = Path(shutil.copytree(xclip_checkpoint, base / "model"))
        for path in [model, *model.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        for name in ("library", "home", "media"):
            (base / name).mkdir(mode=0o755)
        env = {"CLIPDEX_LIBRARY": str(base / "library"), "CLIPDEX_MODEL": str(model)}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield base, env
    finally:
        for folder, dirs, _ in os.walk(base):
            for name in dirs:
                Path(folder, name).chmod(0o755)
        shutil.rmtree(base)


def _as_nobody(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        + [sys.executable, "-m", "clipdex", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "HOME": str(Path(env["CLIPDEX_LIBRARY"]).parent / "home")}
        | {"PYTHONPATH": str(REPO), "CLIPDEX_THREADS": "1"},
        cwd=REPO,
        timeout=300,
    )


def _chown_nobody(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)


def test_unreadable_file_is_recorded_and_retried_unreadable_folder_reported_not_pruned(
    shared: tuple[Path, dict[str, str]],
) -> None:
    base, env = shared
    media = base / "media"
    (media / "private").mkdir(mode=0o755)
    moving_shapes(media / "a.mp4", seconds=1.0, size=(64, 48), seed=30)
    moving_shapes(media / "private" / "b.mp4", seconds=1.0, size=(64, 48), seed=31)
    assert run_json("index", media)["indexed"] == 2
    _chown_nobody(base / "library")
    locked = moving_shapes(media / "locked.mp4", seconds=1.0, size=(64, 48), seed=32)
    locked.chmod(0o000)
    (media / "private").chmod(0o000)

    result = _as_nobody(env, "index", media, "--json")
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

    status = _as_nobody(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    facts = json.loads(status.stdout)
    assert facts["failed"] == [{"path": str(locked), "error": "cannot read (Permission denied)"}]
    assert facts["videos"] == 2

    # Readable again (chmod changes neither size nor mtime): tried again, and indexed.
    locked.chmod(0o644)
    (media / "private").chmod(0o755)
    report = run_json("index", media)
    assert (report["indexed"], report["skipped"], report["failed"]) == (1, 2, [])
    assert run_json("status")["failed"] == []
