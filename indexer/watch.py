"""Keep a library equal to what is on disk under some folders, live and after downtime.

The watcher owns one loop in the caller's thread: drain file-system events, let changed files
settle (``indexer.settle``), index the settled ones with the ordinary ``Indexer`` (which also
recognises moves by fingerprint), prune rows of vanished files, and save the FAISS cache when
things are quiet. Starting does the same reconcile as ``clipdex index``, so changes made while
the watcher was down are caught up, and any doubt about lost events (queue overflow, a dead
observer, a root that came back) is answered the same way: rescan.

Ordering matters for moves. A rename shows up as "old path gone" plus "new file"; if the old
row were pruned first its clips would be deleted and the new file embedded again. So pruning
waits until no file is waiting to settle and no file has left for ``PRUNE_GRACE_S`` (or
``prune_hold_s`` has passed, for a writer that never stops), and only prunes files that were
already missing at its previous look, a grace earlier; the settled new file is matched to the
old row by fingerprint first. The grace covers the halves of a move that arrive apart:
watchdog pairs the kernel's moved-from and moved-to within half a second, and unpaired halves
(a file moved out and back in under a new name, or a busy machine) come as a deletion and,
later, a creation.

Shares come and go. Every second (and before every prune) the roots are checked: a root that
was a mount point and no longer is, or that is empty or missing while the library holds videos
under it (``indexer.presence``), is *unavailable*: unwatched, its videos kept, a notice sent;
when it is back it is *returned*: watched again and reconciled (unchanged files are skipped, so
nothing is embedded again). Mount points inside a root are followed the same way, from the
kernel's mount table, in both the inotify and the polling mode.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_ATTRIB,
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
)

from indexer.discover import Candidate, classify, is_ignored_name, walk
from indexer.errors import VideoOpenError
from indexer.fsevents import EventSource
from indexer.pipeline import Indexer
from indexer.presence import is_missing, is_mount_point, is_vacant, mount_points
from indexer.probe import probe_media
from indexer.run_report import IndexObserver, IndexReport
from indexer.settle import DEFAULT_SETTLE_S, Clock, Settler
from indexer.sidecars import is_sidecar_name, is_sidecar_of
from storage import repository as repo

logger = logging.getLogger(__name__)

# A settled file that does not probe as a video yet gets this many more quiet periods before
# it is handed to the indexer (which records the failure): an offload tool may pause longer
# than the settle time between writes, and a file still arriving must not be reported failed.
PROBE_RETRIES = 2
# Save the FAISS cache once nothing happened for this long after a change.
SAVE_AFTER_QUIET_S = 2.0
ROOT_CHECK_S = 1.0
# Prune no sooner than this after the last file left: the other half of a move may follow.
PRUNE_GRACE_S = 3.0


class WatchObserver(IndexObserver):
    """Progress callbacks for a watcher: the indexer's per-file ones plus the watcher's own."""

    def notice(
        self, event: str, path: Path | None = None, detail: str = "", videos: int | None = None
    ) -> None:
        """``event`` is one of: watching, unavailable, returned, rescan, stopped. For
        ``unavailable``, ``detail`` says how the folder is absent and ``videos`` how many
        videos under it are kept; for ``rescan``, ``detail`` is the reason."""


class Watcher:
    """Watches ``roots`` (folders) and keeps ``indexer``'s library in step with them."""

    def __init__(
        self,
        indexer: Indexer,
        roots: Iterable[Path],
        *,
        settle_s: float = DEFAULT_SETTLE_S,
        poll_s: float | None = None,
        observer: WatchObserver | None = None,
        clock: Clock = time.monotonic,
        prune_hold_s: float | None = None,
        prune_grace_s: float = PRUNE_GRACE_S,
        prune_missing: bool = False,
    ) -> None:
        self.indexer = indexer
        self._audio = indexer.audio_files  # audio-only files are followed too (speech on)
        self.roots = sorted({Path(os.path.abspath(r)) for r in roots})
        self.settler = Settler(settle_s, clock)
        self.source = EventSource(poll_s)
        self.observer = observer or WatchObserver()
        self._clock = clock
        self._tick_s = min(0.5, max(0.02, settle_s / 4))
        self._prune_hold_s = prune_hold_s if prune_hold_s is not None else max(30.0, 10 * settle_s)
        self._prune_since: float | None = None
        self._last_left = float("-inf")
        self._prune_grace_s = prune_grace_s
        self._missing_seen: set[str] = set()  # files found missing at the last prune's look
        self._prune_missing = prune_missing
        self._present: dict[Path, bool] = {}
        self._mount_point: dict[Path, bool] = {}  # a root was a mount point while watched
        self._mounted: dict[Path, bool] = {}  # ... at the last check
        # Mount points inside present roots seen while watching, and those of them unmounted.
        self._submounts: set[Path] = set()
        self._gone: set[Path] = set()
        self._roots_checked = float("-inf")
        self._unsaved_since: float | None = None
        self._stop = threading.Event()
        self.report = IndexReport()

    def run(self, stop: threading.Event) -> IndexReport:
        """Reconcile, then follow events until ``stop`` is set; returns what was done.

        ``stop`` is checked between files: the video in progress is finished and committed.
        """
        self._stop = stop
        self.source.start()
        try:
            self._check_roots(force=True)
            self._reconcile(self._present_roots(), stop)
            self.observer.notice("watching", detail=", ".join(map(str, self.roots)))
            while not stop.is_set():
                self._step(stop)
        finally:
            self.source.stop()
            self._save()
            self.observer.notice("stopped")
        return self.report

    def _step(self, stop: threading.Event) -> None:
        wait = self.settler.next_due_in()
        self._drain(self._tick_s if wait is None else min(self._tick_s, max(wait, 0.01)))
        self._check_roots()
        trouble = self.source.trouble()
        if trouble:
            logger.warning("%s: rescanning %s", trouble, ", ".join(map(str, self.roots)))
            self.observer.notice("rescan", detail=trouble)
            self.source.restart()
            self._reconcile(self._present_roots(), stop)
        self._index_settled(stop)
        self._prune_if_quiet()
        self._save_if_quiet()

    # --- events -------------------------------------------------------------------------

    def _drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the first event, then take all that are queued."""
        events = self.source.events
        try:
            event = events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._apply(event)
            try:
                event = events.get_nowait()
            except queue.Empty:
                return

    def _apply(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        src = Path(os.fsdecode(event.src_path))
        if kind in (EVENT_TYPE_DELETED, EVENT_TYPE_MOVED):
            self._forget(src, event.is_directory)
        if kind == EVENT_TYPE_MOVED:
            self._arrived(Path(os.fsdecode(event.dest_path)), event.is_directory)
        elif kind == EVENT_TYPE_CREATED:
            self._arrived(src, event.is_directory)
        elif kind in (EVENT_TYPE_MODIFIED, EVENT_TYPE_CLOSED) and not event.is_directory:
            self._arrived(src, False)
        elif kind == EVENT_TYPE_ATTRIB and not event.is_directory:
            # chmod: a file recorded as unreadable may be readable now (the indexer skips it
            # again cheaply if its row says it was fine). Folders' attribute events are not
            # followed: one fires for every subfolder created, and walking would cost more.
            self._arrived(src, False)

    def _arrived(self, path: Path, is_directory: bool) -> None:
        """Something appeared or changed at ``path``: let it (or its files) settle."""
        if not self._relevant(path, is_directory):
            return
        if is_directory:
            # A folder moved in or created: its files may predate our watch on it.
            for candidate in walk(path, on_error=self._unreadable, audio=self._audio):
                self.settler.touch(candidate.path)
        elif classify(path, audio=self._audio) is not None or is_sidecar_name(path.name):
            self.settler.touch(path)  # only a regular file is taken (see Settler)

    def _forget(self, path: Path, is_directory: bool) -> None:
        """Something left ``path``: prune later, once moves had their chance to be matched."""
        if is_directory:
            self.settler.forget_under(path)
        else:
            self.settler.forget(path)
            if is_sidecar_name(path.name) and self._relevant(path):
                self._sidecar_changed(path)  # removed: its videos lose its lines
        if not self._relevant(path, is_directory) or not (
            is_directory or classify(path, audio=self._audio)
        ):
            return  # a temporary file renamed to its final name, a sidecar deleted...
        self._last_left = self._clock()
        if self._prune_since is None:
            self._prune_since = self._last_left

    def _relevant(self, path: Path, is_directory: bool = False) -> bool:
        """Inside a present root, in no hidden folder, and (for a file) not a temporary one;
        the same rules as ``walk``."""
        for root in self.roots:
            if path.is_relative_to(root) and self._present.get(root):
                parts = path.relative_to(root).parts
                folders, name = (
                    (parts, "") if is_directory else (parts[:-1], parts[-1] if parts else "")
                )
                if any(part.startswith(".") for part in folders):
                    return False
                return not (name and is_ignored_name(name))
        return False

    # --- indexing, pruning, saving ------------------------------------------------------

    def _index_settled(self, stop: threading.Event) -> None:
        for path, deferrals in self.settler.due():
            if stop.is_set():
                return  # the next start's reconcile picks up what is left
            if is_sidecar_name(path.name) and self._relevant(path):
                self._sidecar_changed(path)
                continue
            candidate = classify(path, audio=self._audio)
            if candidate is None or not self._relevant(path):
                continue
            if candidate.expected and deferrals < PROBE_RETRIES and not self._probes(path):
                logger.debug("%s does not read as a video yet; waiting for more data", path)
                self.settler.defer(path, deferrals)
                continue
            self._changed(self.indexer.index_file(candidate, self.report))

    def _sidecar_changed(self, sidecar: Path) -> None:
        """A subtitle file appeared, changed or left: bring the text of the indexed videos it
        belongs to up to date (their pictures are not embedded again)."""
        self.indexer.text.forget_folder(sidecar.parent)
        with self.indexer.library.session() as session:
            videos = [
                Path(v.path)
                for v in repo.videos_under([str(sidecar.parent)], session=session)
                if is_sidecar_of(Path(v.path), sidecar)
            ]
        for video in videos:
            self._changed(self.indexer.index_file(Candidate(video, expected=True), self.report))

    def _probes(self, path: Path) -> bool:
        try:
            probe_media(path, audio=self._audio)
        except VideoOpenError:
            return False
        return True

    def _prune_if_quiet(self) -> None:
        if self._prune_since is None:
            return
        now = self._clock()
        settling = len(self.settler) or now - self._last_left < self._prune_grace_s
        if settling and now - self._prune_since < self._prune_hold_s:
            return
        self._check_roots(force=True)  # an unmount just now must not read as deletions
        missing = self._missing()
        if not missing <= self._missing_seen:
            # Files missing since the last look (perhaps before their event reached us, as
            # when a pending prune meets a move): their other halves get the grace too.
            self._missing_seen = missing
            self._last_left = now
            return
        self._missing_seen = set()
        self._prune_since = None
        removed, kept = self.report.removed, dict(self.report.unavailable)
        self.indexer.prune(
            self._present_roots(),
            self.report,
            available=self._available,
            prune_missing=self._prune_missing,
            gone=self._gone,
        )
        self._changed("removed" if self.report.removed > removed else "skipped")
        if self.report.unavailable != kept:
            self._check_roots(force=True)  # a root went away since the last check: say so

    def _missing(self) -> set[str]:
        """The indexed files under present roots that are not on disk now."""
        roots = [str(root) for root in self._present_roots()]
        with self.indexer.library.session() as session:
            return {
                v.path
                for v in repo.videos_under(roots, session=session)
                if is_missing(Path(v.path))
            }

    def _changed(self, outcome: str) -> None:
        if outcome not in ("skipped", "ignored") and self._unsaved_since is None:
            self._unsaved_since = self._clock()

    def _save_if_quiet(self) -> None:
        if self._unsaved_since is None or len(self.settler) or self._prune_since is not None:
            return
        if self._clock() - self._unsaved_since >= SAVE_AFTER_QUIET_S and self.source.events.empty():
            self._save()

    def _save(self) -> None:
        """Bring the FAISS cache to the database's generation and write it (it is only a cache:
        readers catch up from the database anyway, this keeps their catching up short)."""
        self._unsaved_since = None
        if self.indexer.library.settings is None:
            return
        try:
            self.indexer.library.vectors()
            self.indexer.library.save_vectors()
        except OSError as exc:
            logger.warning("could not save the vector index: %s", exc)

    # --- roots and reconciling ----------------------------------------------------------

    def _present_roots(self) -> list[Path]:
        return [root for root in self.roots if self._present.get(root)]

    def _check_roots(self, force: bool = False) -> None:
        """Follow roots going away (an unmounted share) and coming back."""
        now = self._clock()
        if not force and now - self._roots_checked < ROOT_CHECK_S:
            return
        self._roots_checked = now
        mounts = mount_points()
        for root in self.roots:
            absence = self._absence(root, mounts)
            present, was = absence is None, self._present.get(root)
            mounted_over = self._mounted.get(root) is False and self._mount_point.get(root)
            self._mounted[root] = bool(self._mount_point.get(root)) and absence is None
            if present and was and mounted_over:
                # A share mounted on a watched folder (empty until now): inotify still watches
                # the folder underneath, and the share's files were never seen.
                logger.warning("%s was mounted: catching up", root)
                self.observer.notice("rescan", root, "mounted")
                self.source.unwatch(root)
                self.source.watch(root)
                self._reconcile([root], self._stop)
            if present == was:
                continue
            self._present[root] = present
            if present:
                self.source.watch(root)
                if was is False:
                    logger.warning("%s is back: catching up", root)
                    self.observer.notice("returned", root)
                    self._reconcile([root], self._stop)
            else:
                self.source.unwatch(root)
                self.settler.forget_under(root)
                self._notice_unavailable(root, absence)
        if mounts is not None:
            self._check_submounts(mounts)

    def _check_submounts(self, mounts: frozenset[Path]) -> None:
        """Follow shares mounted inside a root (``/media/nas`` when watching ``/media``): the
        root stays, but the files under the share must not be taken for deleted."""
        roots = self._present_roots()
        mounted = {m for m in mounts if any(m != r and m.is_relative_to(r) for r in roots)}
        self._submounts |= mounted
        for point in sorted(self._submounts - mounted - self._gone):
            if any(point.is_relative_to(r) for r in roots):  # else its root's notice says it
                self._gone.add(point)
                self.settler.forget_under(point)
                self._notice_unavailable(point, "no longer mounted")
        for point in sorted(self._gone & mounted):
            self._gone.discard(point)
            logger.warning("%s is back: catching up", point)
            self.observer.notice("returned", point)
            root = next(r for r in roots if point.is_relative_to(r))
            self.source.unwatch(root)  # inotify: watch the folders of the file system mounted
            self.source.watch(root)
            self._reconcile([point], self._stop)

    def _notice_unavailable(self, folder: Path, absence: str) -> None:
        with self.indexer.library.session() as session:
            kept = repo.count_videos_under([str(folder)], session=session)
        logger.warning(
            "%s is unavailable (%s): keeping its %d videos, watching for it to return",
            folder,
            absence,
            kept,
        )
        self.observer.notice("unavailable", folder, absence, videos=kept)

    def _available(self, root: Path) -> bool:
        return self._absence(root) is None

    def _absence(self, root: Path, mounts: frozenset[Path] | None = None) -> str | None:
        """Why ``root`` cannot be trusted to show its files, or None when it can.

        It must be a folder; if it was a mount point while we watched, it must still be one;
        and unless pruning missing files was asked for, a root that holds nothing while the
        library holds videos under it is a share that is not mounted (``indexer.presence``).
        """
        if not os.path.isdir(root):
            return "missing" if is_missing(root) else "not a readable folder"
        if is_mount_point(root, mounts if mounts is not None else mount_points()):
            self._mount_point[root] = True
        elif self._mount_point.get(root):
            return "no longer mounted"
        if self._prune_missing or not is_vacant(root):
            return None
        if self._present.get(root) is False:
            return "empty"  # still as it was when it went away: no need to ask the database
        with self.indexer.library.session() as session:
            held = repo.count_videos_under([str(root)], session=session)
        return "empty, but the library holds videos under it" if held else None

    def _unreadable(self, folder: Path, exc: OSError) -> None:
        self.indexer.folder_unreadable(folder, exc, self.report)

    def _reconcile(self, roots: list[Path], stop: threading.Event) -> None:
        """What ``clipdex index`` does, except that files modified within the settle time go
        through the settler (they may still be being written), and pruning waits for them."""
        recent = time.time() - self.settler.settle_s
        for root in roots:
            for candidate in walk(root, on_error=self._unreadable, audio=self._audio):
                if stop.is_set():
                    return
                try:
                    mtime = candidate.path.stat().st_mtime
                except OSError:
                    continue
                if mtime >= recent:
                    self.settler.touch(candidate.path)
                else:
                    self._changed(self.indexer.index_file(candidate, self.report))
        if self._prune_since is None:
            self._prune_since = self._clock()
