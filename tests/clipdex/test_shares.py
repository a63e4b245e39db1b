"""Shares that are unmounted and mounted again, with real mounts and real ``clipdex`` runs.

The share's files live on a tmpfs (``store``) that stays mounted for the whole test; the watched
folder (``root``) is a bind mount of it. Unmounting ``root`` is a real unmount (the empty
mount-point folder stays behind, as with NFS or SMB), and mounting it again brings back the very
same files, plus one added meanwhile: a real return.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.library import Library
from tests.support.cli import run
from tests.support.mounts import mount, mounts_undone, requires_root, umount
from tests.support.processes import ClipdexProcess, watch_process
from tests.support.videos import moving_shapes
from tests.support.watching import consistent, snapshot

pytestmark = requires_root


@pytest.fixture
def share(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(store, root): a tmpfs holding two videos, bind-mounted on ``root`` (``media/nas``)."""
    store, root = tmp_path / "store", tmp_path / "media" / "nas"
    store.mkdir()
    root.mkdir(parents=True)
    with mounts_undone(root, store):
        mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", store)
        for i in range(2):
            moving_shapes(store / f"v{i}.mp4", seconds=1.0, size=(64, 48), seed=20 + i)
        mount("--bind", store, root)
        yield store, root


def _events(watch: ClipdexProcess, kind: str, path: Path | None = None) -> list[dict]:
    return [
        e for e in watch.events() if e["event"] == kind and (path is None or e["path"] == str(path))
    ]


@pytest.mark.parametrize(
    ("mode", "watched"),
    [("inotify", "share"), ("poll", "share"), ("inotify", "parent")],
    ids=["inotify", "poll", "share-inside-the-watched-folder"],
)
@pytest.mark.slow
def test_watch_keeps_an_unmounted_share_and_catches_up_when_it_returns(
    share: tuple[Path, Path], library_dir: Path, tmp_path: Path, mode: str, watched: str
) -> None:
    """Watching the share's own folder, or a folder that holds it (``media`` with the share on
    ``media/nas``: that folder stays, only the share's part of it goes away)."""
    store, root = share
    folder = root if watched == "share" else root.parent
    local = root.parent / "local.mp4"
    if watched == "parent":
        moving_shapes(local, seconds=1.0, size=(64, 48), seed=28)
    poll = ["--poll", "1"] if mode == "poll" else []
    watch = watch_process(str(folder), "--json", *poll)
    try:
        watch.wait_for(lambda: _events(watch, "watching"), "the share to be indexed")
        with Library.open(library_dir) as library:
            before = snapshot(library, root)
        assert len(before) == 2 and all(v.clip_ids for v in before.values())

        umount(root)
        watch.wait_for(lambda: _events(watch, "unavailable", root), "an unavailable event")
        time.sleep(4)  # past a poll period, the settle time and the root check: a wrong prune
        with Library.open(library_dir) as library:
            assert snapshot(library, root) == before, "videos of the unmounted share were lost"
        if watched == "parent":  # a file deleted beside the share is still pruned
            local.unlink()
            watch.wait_for(lambda: _events(watch, "removed", local), "the local file pruned")

        late = moving_shapes(tmp_path / "late.mp4", seconds=1.0, size=(64, 48), seed=29)
        shutil.move(late, store / "late.mp4")  # added while the share was away
        mount("--bind", store, root)
        watch.wait_for(lambda: _events(watch, "returned", root), "a returned event")
        watch.wait_for(
            lambda: _events(watch, "indexed", root / "late.mp4"), "the file added meanwhile"
        )
        with Library.open(library_dir) as library:
            after = snapshot(library, root)
            assert consistent(library) == (3, 3)
            assert snapshot(library, folder).keys() == after.keys()
    finally:
        code = watch.stop(signal.SIGTERM)
    assert code == 0, "\n".join(watch.stderr)
    assert {p: after[p] for p in before} == before, "clip ids changed: the share was re-embedded"
    assert [e["path"] for e in _events(watch, "removed")] == (
        [str(local)] if watched == "parent" else []
    )
    # Embedded once each: the two at the start, the late one on return; nothing again.
    assert sorted(e["path"] for e in _events(watch, "indexed")) == sorted(
        [*before, str(root / "late.mp4"), *([str(local)] if watched == "parent" else [])]
    )
    unavailable = _events(watch, "unavailable", root)[0]
    assert (unavailable["reason"], unavailable["videos"]) == ("no longer mounted", 2)
    assert any(f"{root} is unavailable" in line for line in watch.stderr)
    assert any(f"{root} is back" in line for line in watch.stderr)
    assert not any("Traceback" in line or "ERROR" in line for line in watch.stderr)


@pytest.mark.slow
def test_watch_started_while_the_share_is_not_mounted_prunes_nothing(
    share: tuple[Path, Path], library_dir: Path
) -> None:
    store, root = share
    assert run("index", root).exit_code == 0
    with Library.open(library_dir) as library:
        before = snapshot(library, root)
    umount(root)  # the service restarts before the NAS is back
    watch = watch_process(str(root), "--json", "--poll", "1")
    try:
        watch.wait_for(lambda: _events(watch, "unavailable", root), "an unavailable event")
        watch.wait_for(lambda: _events(watch, "watching"), "the watcher to start")
        time.sleep(3)
        with Library.open(library_dir) as library:
            assert snapshot(library, root) == before
        mount("--bind", store, root)
        watch.wait_for(lambda: _events(watch, "returned", root), "a returned event")
    finally:
        code = watch.stop(signal.SIGTERM)
    assert code == 0, "\n".join(watch.stderr)
    assert not _events(watch, "removed") and not _events(watch, "indexed")
    assert _events(watch, "unavailable", root)[0]["reason"].startswith("empty")
    with Library.open(library_dir) as library:
        assert snapshot(library, root) == before


def test_index_keeps_an_empty_or_missing_share_unless_told_to_prune(
    share: tuple[Path, Path], library_dir: Path
) -> None:
    store, root = share
    assert run("index", root).exit_code == 0
    with Library.open(library_dir) as library:
        before = snapshot(library, root)
    umount(root)  # an empty mount-point folder is left behind

    result = run("index", root, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["removed"] == 0
    assert report["kept_unavailable"] == [{"path": str(root), "videos": 2}]
    assert (
        f"clipdex: kept 2 videos under {root}: it is empty or missing "
        "(a share that is not mounted?); --prune-missing prunes them"
    ) in result.stderr.splitlines()

    root.rmdir()  # no mount-point folder at all: accepted, since the library holds videos there
    result = run("index", root, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kept_unavailable"] == [{"path": str(root), "videos": 2}]
    with Library.open(library_dir) as library:
        assert snapshot(library, root) == before

    root.mkdir()
    result = run("index", root, "--prune-missing", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["removed"], report["kept_unavailable"]) == (2, [])
    with Library.open(library_dir) as library:
        assert snapshot(library, root) == {}
        assert consistent(library) == (0, 0)
