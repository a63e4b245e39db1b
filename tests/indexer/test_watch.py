"""The watcher on real folders: real inotify (and polling) observers, a real library, the tiny
X-CLIP checkpoint. The watcher runs in a thread; the test reads the library through a second
Library object (its own connections), as another process would, and waits on conditions with a
generous timeout rather than sleeping fixed times."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from clipdex.encoder import XClipEncoder
from indexer.pipeline import Indexer
from indexer.text_sources import SPEECH_AUTO, TextReader
from indexer.text_stage import TextStage
from indexer.watch import Watcher, WatchObserver
from storage import repository as repo
from storage import transcripts
from storage.library import Library
from tests.support.library import bind_settings
from tests.support.mounts import mount, mounts_undone, requires_root
from tests.support.speech import spoken_audio, spoken_video, write_srt
from tests.support.videos import moving_shapes
from tests.support.watching import consistent, snapshot, wait_until

SETTLE_S = 0.3
FAST_PRUNE_GRACE_S = 1.0


@pytest.fixture(scope="module")
def encoder(xclip_checkpoint: Path) -> XClipEncoder:
    # One thread: on a shared two-core machine the tiny model runs about five times faster
    # than with two threads fighting the other test processes for the cores.
    return XClipEncoder(str(xclip_checkpoint), threads=1)


DISTINCT = 40


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """200 one-second videos (64x48, one clip each), written once for the module: the first
    ``DISTINCT`` differ, the rest repeat them byte for byte (file ``i`` is a copy of file
    ``i % DISTINCT``), so a burst of 200 costs 40 model passes rather than 200."""
    folder = tmp_path_factory.mktemp("small-videos")
    paths = [
        moving_shapes(folder / f"v{i:03d}.mp4", seconds=1.0, size=(64, 48), seed=i)
        for i in range(DISTINCT)
    ]
    for i in range(DISTINCT, 200):
        paths.append(Path(shutil.copy(paths[i % DISTINCT], folder / f"v{i:03d}.mp4")))
    return paths


class Recorder(WatchObserver):
    """Every file outcome and watcher notice, in order (appends are atomic under the GIL)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def file_done(self, path: Path, outcome: str, detail: str = "") -> None:
        self.events.append((outcome, str(path), detail))

    def notice(
        self, event: str, path: Path | None = None, detail: str = "", videos: int | None = None
    ) -> None:
        self.events.append((event, str(path or ""), detail))

    def outcomes(self, outcome: str) -> Counter[str]:
        return Counter(path for kind, path, _ in list(self.events) if kind == outcome)

    def saw(self, event: str) -> bool:
        return any(kind == event for kind, _, _ in list(self.events))


@pytest.fixture
def reader(library_dir: Path) -> Iterator[Library]:
    with Library.open(library_dir) as library:
        yield library


@contextmanager
def watching(
    library_dir: Path,
    encoder: XClipEncoder,
    roots: list[Path],
    text: TextStage | None = None,
    **options: float,
) -> Iterator[Recorder]:
    """Run a watcher on ``roots`` in a thread until the block ends; yields its event log once
    the startup reconcile is done."""
    recorder = Recorder()
    library = Library.open(library_dir)
    settings = library.bind(bind_settings(encoder))
    indexer = Indexer(library, encoder, settings, observer=recorder, text=text)
    watcher = Watcher(indexer, roots, settle_s=SETTLE_S, observer=recorder, **options)
    recorder.watcher = watcher
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            watcher.run(stop)
        except BaseException as exc:  # noqa: BLE001 - surfaced in the test thread below
            failure.append(exc)

    thread = threading.Thread(target=run, name="watcher", daemon=True)
    thread.start()
    try:
        wait_until(lambda: recorder.saw("watching") or failure, "the watcher to start")
        yield recorder
    except BaseException:
        print("watcher events:", *recorder.events, sep="\n  ")  # shown with the failure
        raise
    finally:
        stop.set()
        thread.join(timeout=60)
        library.close()
    assert not thread.is_alive(), "the watcher did not stop"
    assert not failure, f"the watcher crashed: {failure[0]!r}"
    assert recorder.saw("stopped")


def _count(reader: Library) -> int:
    """Indexed videos: cheap enough to poll while hundreds of files are being indexed."""
    with reader.session() as session:
        return repo.counts(session=session)[0]


def _settled(reader: Library, root: Path, count: int) -> dict:
    """Wait for the startup reconcile: files copied just before the start are recent, so they
    go through the settle time like any new file."""
    return wait_until(
        lambda: len(now := snapshot(reader, root)) == count and now, f"{count} files indexed"
    )


def _copy_slowly(source: Path, target: Path, chunks: int, pause_s: float) -> None:
    data = source.read_bytes()
    step = -(-len(data) // chunks)
    with target.open("wb") as handle:
        for offset in range(0, len(data), step):
            handle.write(data[offset : offset + step])
            handle.flush()
            time.sleep(pause_s)


def test_a_file_copied_slowly_is_indexed_once_after_it_completes(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    root = tmp_path / "media"
    root.mkdir()
    target = root / "slow.mp4"
    with watching(library_dir, encoder, [root]) as log:
        # Pauses well under the settle time; the whole copy takes 2.5 settle times.
        _copy_slowly(clips[0], target, chunks=10, pause_s=SETTLE_S / 4)
        assert snapshot(reader, root) == {}, "indexed before the last write"
        stored = wait_until(lambda: snapshot(reader, root), "the copied file to be indexed")
        time.sleep(3 * SETTLE_S)  # time enough for a (wrong) second indexing to show
    assert stored[str(target)].status == "indexed"
    assert stored[str(target)].size_bytes == clips[0].stat().st_size
    assert log.outcomes("indexed") == Counter({str(target): 1})
    assert not log.outcomes("failed")
    assert snapshot(reader, root) == stored


def test_rename_and_folder_rename_keep_clip_ids(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    root = tmp_path / "media"
    (root / "day1").mkdir(parents=True)
    for source in clips[:3]:
        shutil.copy(source, root / "day1" / source.name)
    shutil.copy(clips[3], root / "loose.mp4")
    with watching(library_dir, encoder, [root]) as log:
        before = _settled(reader, root, 4)
        assert all(v.clip_ids for v in before.values())
        (root / "loose.mp4").rename(root / "renamed.mp4")
        (root / "day1").rename(root / "2026-11-22")
        expected = {
            str(root / "renamed.mp4"): before[str(root / "loose.mp4")],
            **{
                str(root / "2026-11-22" / c.name): before[str(root / "day1" / c.name)]
                for c in clips[:3]
            },
        }
        wait_until(lambda: snapshot(reader, root) == expected, "the moves to be recorded")
    assert len(log.outcomes("moved")) == 4
    assert sum(log.outcomes("indexed").values()) == 4, "a moved file was embedded again"
    consistent(reader)


def test_a_move_whose_halves_arrive_apart_keeps_its_clip_ids(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    """Moved out of the root and back in under a new name a second later: inotify cannot
    pair the two halves, so the watcher sees a deletion, then a creation (as it does for any
    rename on a machine too busy to pair them in time). The clips must follow the file. (A
    longer grace than the default: this test runs beside others on a busy machine.)"""
    root, outside = tmp_path / "media", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    shutil.copy(clips[0], root / "take.mp4")
    shutil.copy(clips[1], root / "stays.mp4")  # an empty root would read as an unmounted share
    with watching(library_dir, encoder, [root], prune_grace_s=6.0) as log:
        before = _settled(reader, root, 2)
        (root / "take.mp4").rename(outside / "take.mp4")
        time.sleep(1.0)
        (outside / "take.mp4").rename(root / "take-final.mp4")
        expected = {
            str(root / "take-final.mp4"): before[str(root / "take.mp4")],
            str(root / "stays.mp4"): before[str(root / "stays.mp4")],
        }
        wait_until(lambda: snapshot(reader, root) == expected, "the move to be recorded")
    assert log.outcomes("moved") == Counter({str(root / "take-final.mp4"): 1})
    assert not log.outcomes("removed"), "the file was pruned before its other half arrived"
    consistent(reader)


@pytest.mark.slow
def test_files_leaving_are_pruned_and_a_folder_moving_in_is_indexed(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    root, elsewhere = tmp_path / "media", tmp_path / "elsewhere"
    root.mkdir()
    (elsewhere / "incoming").mkdir(parents=True)
    for source in clips[:3]:
        shutil.copy(source, root / source.name)
    for source in clips[3:5]:
        shutil.copy(source, elsewhere / "incoming" / source.name)
    # A grace of 1 s, not the default 3 s: the prune comes two graces after the last file left
    # (indexer/watch.py), and no move here has two halves inside the root to pair.
    with watching(library_dir, encoder, [root], prune_grace_s=FAST_PRUNE_GRACE_S) as log:
        _settled(reader, root, 3)
        (root / clips[0].name).unlink()
        (root / clips[1].name).rename(elsewhere / clips[1].name)
        (elsewhere / "incoming").rename(root / "incoming")
        wanted = {str(root / clips[2].name)} | {str(root / "incoming" / c.name) for c in clips[3:5]}
        wait_until(
            lambda: set(snapshot(reader, root)) == wanted,
            "the files that left to be pruned and the folder that arrived to be indexed",
        )
    assert set(log.outcomes("removed")) == {str(root / c.name) for c in clips[:2]}
    assert consistent(reader) == (3, 3)


@pytest.mark.slow
def test_two_hundred_files_at_once_are_each_indexed_once(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    root = tmp_path / "media"
    root.mkdir()
    with watching(library_dir, encoder, [root]) as log:
        for source in clips:
            shutil.copy(source, root / source.name)
        # Temporary and hidden files arriving in the same burst are never indexed.
        for name in ("x.mp4.part", "y.mp4.crdownload", "z.mp4~", ".hidden.mp4"):
            shutil.copy(clips[0], root / name)
        wanted = {str(root / c.name) for c in clips}
        wait_until(lambda: _count(reader) == 200, "all 200 files to be indexed", timeout_s=180)
    assert set(snapshot(reader, root)) == wanted
    # Each file handled once: embedded (the first of each content) or given its twin's clips.
    embedded, copied = log.outcomes("indexed"), log.outcomes("copied")
    assert embedded + copied == Counter({path: 1 for path in wanted})
    assert len(embedded) == DISTINCT
    assert not log.outcomes("failed")
    assert consistent(reader) == (200, 200)


def test_a_root_that_disappears_loses_nothing_and_is_caught_up_on_return(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    root, away = tmp_path / "share", tmp_path / "share-unmounted"
    root.mkdir()
    for source in clips[:2]:
        shutil.copy(source, root / source.name)
    with watching(library_dir, encoder, [root]) as log:
        before = _settled(reader, root, 2)
        root.rename(away)  # what an unmount looks like from here: the folder is gone
        wait_until(lambda: log.saw("unavailable"), "the watcher to notice the missing root")
        time.sleep(3 * SETTLE_S)  # a wrong prune would happen now
        assert snapshot(reader, root) == before
        shutil.copy(clips[2], away / clips[2].name)  # changed while "unmounted"
        away.rename(root)
        wait_until(lambda: log.saw("returned"), "the watcher to notice the root is back")
        wait_until(
            lambda: len(snapshot(reader, root)) == 3, "the file added meanwhile to be indexed"
        )
        after = snapshot(reader, root)
    assert {p: after[p] for p in before} == before
    assert not log.outcomes("removed")


def test_changes_made_while_stopped_are_caught_up_on_restart(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    root = tmp_path / "media"
    root.mkdir()
    for source in clips[:3]:
        shutil.copy(source, root / source.name)
    with watching(library_dir, encoder, [root]):
        before = _settled(reader, root, 3)
    (root / clips[0].name).unlink()
    (root / clips[1].name).rename(root / "renamed.mp4")
    shutil.copy(clips[3], root / clips[3].name)
    expected = {str(root / n) for n in ("renamed.mp4", clips[2].name, clips[3].name)}
    # The rename is matched by fingerprint in the startup reconcile; the deleted file is pruned
    # a grace after it (1 s here, as above).
    with watching(library_dir, encoder, [root], prune_grace_s=FAST_PRUNE_GRACE_S) as log:
        after = wait_until(
            lambda: (now := snapshot(reader, root)) and set(now) == expected and now,
            "the changes made while stopped to be caught up",
        )
    assert after[str(root / "renamed.mp4")].clip_ids == before[str(root / clips[1].name)].clip_ids
    assert after[str(root / clips[2].name)] == before[str(root / clips[2].name)]
    assert log.outcomes("indexed") == Counter({str(root / clips[3].name): 1})
    consistent(reader)


def test_a_dead_observer_is_replaced_and_followed_by_a_rescan(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    """Files that arrive while no observer is running are found by the rescan."""
    root = tmp_path / "media"
    root.mkdir()
    with watching(library_dir, encoder, [root]) as log:
        observer = log.watcher.source._observer
        observer.stop()  # the observer thread ends, as it would after an unexpected error
        observer.join(timeout=30)
        shutil.copy(clips[0], root / "arrived-unseen.mp4")
        wait_until(lambda: log.saw("rescan"), "the watcher to notice and rescan")
        wait_until(lambda: snapshot(reader, root), "the unseen file to be indexed")
        assert log.watcher.source._observer is not observer
        shutil.copy(clips[1], root / "after.mp4")  # and the new observer sees new events
        wait_until(lambda: len(snapshot(reader, root)) == 2, "a file after the restart")
    assert log.outcomes("indexed") == Counter(
        {str(root / "arrived-unseen.mp4"): 1, str(root / "after.mp4"): 1}
    )


def test_polling_observer_sees_new_and_renamed_files(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    root = tmp_path / "nfs"
    root.mkdir()
    with watching(library_dir, encoder, [root], poll_s=0.2) as log:
        shutil.copy(clips[0], root / "new.mp4")
        first = wait_until(lambda: snapshot(reader, root), "the polled file to be indexed")
        (root / "new.mp4").rename(root / "renamed.mp4")
        wait_until(
            lambda: set(snapshot(reader, root)) == {str(root / "renamed.mp4")},
            "the polled rename",
        )
        after = snapshot(reader, root)
    assert after[str(root / "renamed.mp4")].clip_ids == first[str(root / "new.mp4")].clip_ids
    assert log.outcomes("moved") == Counter({str(root / "renamed.mp4"): 1})


def test_a_partial_file_is_reported_and_indexed_whole_once_completed(
    library_dir: Path, encoder: XClipEncoder, reader: Library, tmp_path: Path
) -> None:
    """A download stalled at 30 % (it settles) is indexed as partial; when it completes, the
    watcher indexes it whole."""
    from tests.support.videos import cut_off

    whole = moving_shapes(
        tmp_path / "whole.mp4", 12.0, size=(64, 48), container_options={"movflags": "faststart"}
    )
    root = tmp_path / "media"
    root.mkdir()
    target = root / "download.mp4"
    with watching(library_dir, encoder, [root]) as log:
        cut_off(target, whole, 0.3)
        wait_until(lambda: log.outcomes("partial"), "the cut file to be indexed as partial")
        ((outcome, path, reason),) = [e for e in log.events if e[0] == "partial"]
        assert path == str(target) and reason.startswith("truncated (")
        shutil.copy(whole, target)
        wait_until(lambda: log.outcomes("indexed"), "the completed file to be indexed")
    with reader.session() as session:
        video = repo.get_video_by_path(str(target), session=session)
        assert (video.status, video.error) == ("indexed", None)
        assert video.duration_s == pytest.approx(12.0, abs=0.1)
    assert not log.outcomes("failed")


@requires_root
def test_a_share_mounted_on_a_watched_empty_folder_is_caught_up(
    library_dir: Path, encoder: XClipEncoder, reader: Library, clips: list[Path], tmp_path: Path
) -> None:
    """Watching a share's folder before it was ever mounted (a new library): inotify watches
    the empty folder underneath, so the mount itself must be noticed and the share scanned."""
    store, root = tmp_path / "store", tmp_path / "nas"
    store.mkdir()
    root.mkdir()
    shutil.copy(clips[0], store / "on-the-share.mp4")
    with mounts_undone(root), watching(library_dir, encoder, [root]) as log:
        mount("--bind", store, root)
        wait_until(lambda: snapshot(reader, root), "the share's file to be indexed")
    assert log.outcomes("indexed") == Counter({str(root / "on-the-share.mp4"): 1})
    assert ("rescan", str(root), "mounted") in log.events


def test_new_files_are_transcribed_and_sidecars_followed_when_speech_is_on(
    tmp_path: Path, library_dir: Path, encoder: XClipEncoder, reader: Library, speech_recognizer
) -> None:
    source = spoken_video(tmp_path / "spoken.mp4", "The minister says inflation is falling.")
    memo = spoken_audio(tmp_path / "memo.m4a", "A red balloon floats over the harbour.")
    root = tmp_path / "watched"
    root.mkdir()
    text = TextStage(TextReader(SPEECH_AUTO, speech_recognizer))

    def said(name: str = "spoken.mp4") -> list[tuple[str, str]]:
        with reader.session() as session:
            video = repo.get_video_by_path(str(root / name), session=session)
            if video is None:
                return []
            lines = transcripts.transcript_of(video.id, session=session)
            return [(line.source, line.text.lower()) for line in lines]

    with watching(library_dir, encoder, [root], text=text):
        shutil.copy(source, root / "spoken.mp4")
        ((kind, words),) = wait_until(said, "the new file's speech")
        assert kind == "speech" and "inflation" in words
        clips = snapshot(reader, root)[str(root / "spoken.mp4")].clip_ids
        write_srt(root / "spoken.srt", [(0.5, 3.0, "prices are coming down")])
        wait_until(lambda: ("sidecar", "prices are coming down") in said(), "the sidecar's line")
        (root / "spoken.srt").unlink()
        wait_until(lambda: [k for k, _ in said()] == ["speech"], "the sidecar's line to go")
        assert snapshot(reader, root)[str(root / "spoken.mp4")].clip_ids == clips
        # an audio-only file is followed too when speech is on, and indexed for its speech
        shutil.copy(memo, root / "memo.m4a")
        ((kind, words),) = wait_until(lambda: said("memo.m4a"), "the audio file's speech")
        assert kind == "speech" and "balloon" in words
