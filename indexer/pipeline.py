"""The indexing run: discover, skip unchanged, recognise moves, embed new videos, prune.

Each video is committed whole, with all its clips, in one transaction: an interruption at any
moment loses at most the video in progress, never corrupts what is stored.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.completeness import judge
from indexer.decode_process import DEFAULT_STALL_S
from indexer.discover import Candidate, walk
from indexer.embed import ClipEncoder
from indexer.errors import VideoOpenError
from indexer.executor import ClipsEmbedded, Executor, FileJob, FileResult, FileStarted
from indexer.file_stages import Decoded
from indexer.fingerprint import fingerprint
from indexer.local_executor import LocalExecutor
from indexer.presence import is_missing, is_vacant
from indexer.probe import VideoInfo, probe_media
from indexer.run_report import IndexObserver, IndexReport
from indexer.sampling import SamplingPlan
from indexer.text_stage import TextStage
from storage import frame_hashes as hash_repo
from storage import repository as repo
from storage.codec import decode_embedding
from storage.library import Library
from storage.models import STATUS_FAILED
from storage.settings import LibrarySettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _FileState:
    path: Path
    size_bytes: int
    mtime_ns: int


@dataclass(frozen=True)
class _Pending:
    """A file checked and probed, waiting to be decoded and embedded."""

    state: _FileState
    digest: str
    info: VideoInfo


class Indexer:
    """Indexes files and folders into a library with a given encoder."""

    def __init__(
        self,
        library: Library,
        encoder: ClipEncoder,
        settings: LibrarySettings,
        *,
        batch_clips: int = 8,
        observer: IndexObserver | None = None,
        decode_in_worker: bool = True,
        stall_s: float = DEFAULT_STALL_S,
        executor: Executor | None = None,
        text: TextStage | None = None,
    ) -> None:
        """``executor`` runs the per-file work (by default a ``LocalExecutor`` built from
        ``batch_clips``, ``decode_in_worker`` and ``stall_s``); this object plans and commits."""
        self.library = library
        # Subtitles are always read; speech only when the stage's reader has it on.
        self.text = text or TextStage()
        self.settings = settings
        self.encoder = encoder
        self.observer = observer or IndexObserver()
        self.executor = executor or LocalExecutor(
            encoder,
            SamplingPlan.for_library(encoder, settings),
            batch_clips=batch_clips,
            decode_in_worker=decode_in_worker,
            stall_s=stall_s,
        )

    @property
    def audio_files(self) -> bool:
        """Whether audio-only files are indexed (for what they say): the library has speech
        on. With it off they are not even listed."""
        return self.text.reader.speech_on

    @property
    def plan(self) -> SamplingPlan:
        """How the executor cuts and samples this library's files."""
        return self.executor.plan

    @plan.setter
    def plan(self, plan: SamplingPlan) -> None:
        self.executor.plan = plan

    def run(
        self,
        roots: Iterable[Path],
        report: IndexReport | None = None,
        *,
        prune_missing: bool = False,
    ) -> IndexReport:
        """Index everything under ``roots``, then prune vanished files under them (see
        ``prune`` for roots that are empty or missing).

        Counts go into ``report`` as they happen, so a caller that passes its own still knows
        what was done when the run stops with an error (e.g. LibraryWriteError: disk full).
        """
        roots = [Path(os.path.abspath(r)) for r in roots]
        report = IndexReport() if report is None else report
        candidates = [
            candidate
            for root in roots
            if not is_missing(root)  # an unreadable one is walked, to be reported
            for candidate in walk(
                root,
                on_error=lambda folder, exc: self.folder_unreadable(folder, exc, report),
                audio=self.audio_files,
            )
        ]
        self.observer.start(len(candidates))
        self.index_files(candidates, report)
        self.prune(roots, report, prune_missing=prune_missing)
        self.library.vectors()  # bring the FAISS cache up to date, then persist it
        self.library.save_vectors()
        return report

    def folder_unreadable(self, folder: Path, exc: OSError, report: IndexReport) -> None:
        """A folder could not be listed: report it as failed (its files are not pruned)."""
        if isinstance(exc, FileNotFoundError):
            return  # removed while we walked: nothing to report, pruning deals with it
        reason = f"cannot read folder ({exc.strerror or exc})"
        logger.warning("failed %s: %s", folder, reason)
        report.failed.append((str(folder), reason))
        self.observer.file_done(folder, "failed", reason)

    def index_file(self, candidate: Candidate, report: IndexReport) -> str:
        """Bring one file up to date; returns the outcome (indexed/skipped/moved/failed/...)."""
        return self.index_files([candidate], report)[0]

    def index_files(self, candidates: Sequence[Candidate], report: IndexReport) -> list[str]:
        """Bring files up to date, in order; returns each one's outcome.

        Files that need embedding go to the executor as soon as they are checked (a few ahead:
        its ``capacity``); each is committed when its result comes back.
        """
        outcomes: list[str] = [""] * len(candidates)
        with _Dispatch(self, report) as embedding:
            for index, candidate in enumerate(candidates):
                embedding.make_room()
                outcome = self._check(candidate, report, embedding)
                if isinstance(outcome, _Pending):
                    embedding.add(index, outcome)
                else:
                    outcomes[index] = outcome
            embedding.drain()
            for index, outcome in embedding.outcomes:
                outcomes[index] = outcome
        return outcomes

    def _check(
        self, candidate: Candidate, report: IndexReport, embedding: _Dispatch
    ) -> str | _Pending:
        """Everything before decoding: skip unchanged, fingerprint, reuse known clips, probe."""
        path = candidate.path
        try:
            status = path.stat()
        except OSError as exc:
            return self._fail(path, f"{UNREADABLE} ({exc.strerror})", None, report)
        if not stat.S_ISREG(status.st_mode):  # a FIFO would block the open below
            self.observer.file_done(path, "ignored")
            return "ignored"
        state = _FileState(path, status.st_size, status.st_mtime_ns)
        with self.library.session() as session:
            row = repo.get_video_by_path(str(path), session=session)
            if (
                row
                and row.size_bytes == state.size_bytes
                and row.mtime_ns == state.mtime_ns
                and not _was_unreadable(row)  # chmod changes neither: try it again
            ):
                report.skipped += 1
                self._refresh_text(row, report)
                self.observer.file_done(path, "skipped")
                return "skipped"
        try:
            digest = fingerprint(path)
        except OSError as exc:
            return self._fail(path, f"{UNREADABLE} ({exc.strerror})", state, report)
        if embedding.has_digest(digest):
            embedding.drain()  # a copy of a file still in the queue: reuse its clips once in
        if self._reuse_known(state, digest, report):
            return "moved"
        try:
            info = probe_media(path, audio=self.audio_files)
        except VideoOpenError as exc:
            if not candidate.expected and not self._has_row(path):
                self.observer.file_done(path, "ignored")
                return "ignored"
            return self._fail(path, exc.reason, state, report, digest)
        return _Pending(state, digest, info)

    def prune(
        self,
        roots: Sequence[Path],
        report: IndexReport,
        *,
        available: Callable[[Path], bool] | None = None,
        prune_missing: bool = False,
        gone: Iterable[Path] = (),
    ) -> None:
        """Delete the rows of files under ``roots`` that are gone.

        A root that is empty or missing (what an unmounted share leaves behind) keeps its
        videos unless ``prune_missing``; they are counted in ``report.unavailable``. So does a
        root that ``available`` rejects (the watcher's knowledge: a former mount point that is
        no longer mounted), and the folders in ``gone`` (shares the watcher saw unmounted
        inside a root). A file we may not stat (an unreadable folder) is not gone.
        """
        gone = list(gone)
        done: set[int] = set()
        with self.library.session() as session, session.begin():
            for root in roots:
                for video in repo.videos_under([str(root)], session=session):
                    path = Path(video.path)
                    if video.id in done or not is_missing(path):
                        continue
                    done.add(video.id)
                    # Asked after the file was found missing, so that a share unmounted
                    # during this scan is not taken for every one of its files deleted.
                    away = next((g for g in gone if path.is_relative_to(g)), None)
                    if away or not self._root_holds(root, path, available, prune_missing):
                        key = str(away or root)
                        report.unavailable[key] = report.unavailable.get(key, 0) + 1
                        continue
                    logger.info("removed %s (file is gone)", video.path)
                    repo.delete_video(video, session=session)
                    report.removed += 1
                    self.observer.file_done(path, "removed")

    @staticmethod
    def _root_holds(
        root: Path, path: Path, available: Callable[[Path], bool] | None, prune_missing: bool
    ) -> bool:
        """Whether ``root`` is there to say that ``path`` (missing) was deleted."""
        if available is not None and not available(root):
            return False
        if prune_missing:
            return True
        return not is_vacant(root.parent if path == root else root)

    def _reuse_known(self, state: _FileState, digest: str, report: IndexReport) -> bool:
        """A moved file keeps its clips; a copy of an indexed file reuses its vectors."""
        path = str(state.path)
        with self.library.session() as session, session.begin():
            known = [
                v for v in repo.videos_by_fingerprint(digest, session=session) if v.path != path
            ]
            if not known:
                return False
            gone = [v for v in known if is_missing(Path(v.path))]
            if gone:
                logger.info("moved %s -> %s", gone[0].path, path)
                origin = gone[0].path
                repo.move_video(gone[0], path, state.size_bytes, state.mtime_ns, session=session)
                moved = gone[0]
                outcome = "moved"
                report.moved += 1
            else:
                source = known[0]
                origin = source.path
                stored = repo.clips_of_video(source.id, session=session)
                features = repo.clip_features([c.id for c in stored], session=session)
                clips = [
                    repo.ClipRecord(
                        c.start_s,
                        c.end_s,
                        decode_embedding(c.embedding, self.settings.embed_dim),
                        features[c.id],
                    )
                    for c in stored
                ]
                record = _record(state, digest, source, source.duration_s)
                video = repo.save_indexed_video(
                    record, clips, partial=source.error, session=session
                )
                hash_repo.copy_frame_hashes(source.id, video.id, session=session)
                self.text.copy(source, video.id, session=session)
                moved = None
                report.indexed += 1
                report.clips_added += len(clips)
                outcome = "copied"
                if source.error:  # a copy of a partial file is just as partial
                    logger.warning("partial %s: %s", path, source.error)
                    report.partial.append((path, source.error))
        if moved is not None:  # its lines moved with it; the new folder may hold other sidecars
            self._refresh_text(moved, report)
        self.observer.file_done(state.path, outcome, origin)
        return True

    def _commit(self, pending: _Pending, result: FileResult, report: IndexReport) -> str:
        """Store a decoded and embedded file with all its clips, in one transaction; one that
        was read only in part (indexer/completeness.py) is stored as far as it was decoded,
        with the reason, and reported."""
        path = pending.state.path
        if result.error is not None:
            return self._fail(path, result.error, pending.state, report, pending.digest)
        clips, decoded = result.clips, result.decoded
        if pending.info.audio_only:
            return self._commit_audio(pending, decoded, report)
        if not clips:
            reason = decoded.stopped or "no decodable frames"
            return self._fail(path, reason, pending.state, report, pending.digest)
        info = pending.info
        verdict = judge(info, pending.state.size_bytes, clips[-1].end_s, decoded.stopped)
        record = _record(pending.state, pending.digest, info, verdict.duration_s)
        text = self.text.read(path, decoded)
        with self.library.session() as session, session.begin():
            video = repo.save_indexed_video(record, clips, partial=verdict.partial, session=session)
            hash_repo.save_frame_hashes(video.id, *decoded.hashes.arrays(), session=session)
            self.text.store(video.id, text, session=session)
        _count_text(str(path), text, report)
        report.indexed += 1
        report.clips_added += len(clips)
        if verdict.partial:
            logger.warning("partial %s: %s", path, verdict.partial)
            report.partial.append((str(path), verdict.partial))
            self.observer.file_done(path, "partial", verdict.partial)
            return "partial"
        logger.info("indexed %s (%d clip%s)", path, len(clips), "" if len(clips) == 1 else "s")
        self.observer.file_done(path, "indexed", str(len(clips)))
        return "indexed"

    def _commit_audio(self, pending: _Pending, decoded: Decoded, report: IndexReport) -> str:
        """Store an audio-only file: a row without clips or picture size, and what it says
        (its speech, or a sidecar's lines), in one transaction. One whose audio gave nothing
        but an error (it could not be decoded, or the recogniser failed) fails with it."""
        path = pending.state.path
        text = self.text.read(path, decoded)
        if not text.lines and not text.transcribed and text.notes:
            return self._fail(path, text.notes[0], pending.state, report, pending.digest)
        record = _record(pending.state, pending.digest, pending.info, pending.info.duration_s)
        with self.library.session() as session, session.begin():
            video = repo.save_indexed_video(record, [], session=session)
            hash_repo.save_frame_hashes(video.id, *decoded.hashes.arrays(), session=session)
            self.text.store(video.id, text, session=session)
        _count_text(str(path), text, report)
        report.indexed += 1
        logger.info("indexed %s (audio only, %d lines)", path, len(text.lines))
        self.observer.file_done(path, "indexed", "0")
        return "indexed"

    def _refresh_text(self, row, report: IndexReport) -> None:
        """Text of a file whose pictures are unchanged: sidecars changed, or speech turned on."""
        if result := self.text.refresh(row, self.library.session):
            _count_text(row.path, result, report)

    def _has_row(self, path: Path) -> bool:
        with self.library.session() as session:
            return repo.get_video_by_path(str(path), session=session) is not None

    def _fail(
        self,
        path: Path,
        reason: str,
        state: _FileState | None,
        report: IndexReport,
        digest: str | None = None,
    ) -> str:
        logger.warning("failed %s: %s", path, reason)
        report.failed.append((str(path), reason))
        if state is not None:
            with self.library.session() as session, session.begin():
                video = repo.save_failed_video(
                    str(path), state.size_bytes, state.mtime_ns, reason, digest, session=session
                )
                hash_repo.delete_frame_hashes(video.id, session=session)
        self.observer.file_done(path, "failed", reason)
        return "failed"


# The start of the reason of a file that could not be read at all (permissions, I/O): such a
# file is tried again even if its size and mtime did not change (chmod changes neither).
UNREADABLE = "cannot read"


def _was_unreadable(row) -> bool:
    return row.status == STATUS_FAILED and (row.error or "").startswith(UNREADABLE)


def _count_text(path: str, result, report: IndexReport) -> None:
    report.transcribed += result.transcribed
    report.notes.extend((path, note) for note in result.notes)


def _record(state: _FileState, digest: str, facts, duration_s: float) -> repo.VideoRecord:
    """The row for the file in ``state``; stream facts (fps, size, codec, rotation) come from
    a probe (``VideoInfo``) or, for an exact copy, from the indexed original's row. An
    audio-only file has no picture: its fps and size are NULL (``Video.audio_only``)."""
    pictures = not facts.audio_only
    return repo.VideoRecord(
        path=str(state.path),
        size_bytes=state.size_bytes,
        mtime_ns=state.mtime_ns,
        fingerprint=digest,
        duration_s=duration_s,
        fps=facts.fps if pictures else None,
        width=facts.width if pictures else None,
        height=facts.height if pictures else None,
        codec=facts.codec,
        rotation=facts.rotation,
    )


class _Dispatch:
    """The files handed to the executor and not yet back; each is committed as it returns."""

    def __init__(self, indexer: Indexer, report: IndexReport) -> None:
        self._indexer = indexer
        self._executor = indexer.executor
        self._report = report
        self._files: dict[int, _Pending] = {}  # candidate index (= job) -> file
        self.outcomes: list[tuple[int, str]] = []  # (index, outcome) of each file finished

    def __enter__(self) -> _Dispatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._executor.release()

    def has_digest(self, digest: str) -> bool:
        return any(f.digest == digest for f in self._files.values())

    def add(self, index: int, pending: _Pending) -> None:
        self._files[index] = pending
        info, path = pending.info, pending.state.path
        streams = self._indexer.text.streams(path, info)
        self._executor.submit(FileJob(index, path, info.fps, info.duration_s, streams))

    def make_room(self) -> None:
        """Work until a file can be submitted within the executor's capacity."""
        while len(self._files) >= self._executor.capacity:
            self._receive()

    def drain(self) -> None:
        """Work until every file is stored or failed."""
        while self._files:
            self._receive()

    def _receive(self) -> None:
        event = self._executor.next()
        observer = self._indexer.observer
        if isinstance(event, FileStarted):
            pending = self._files.get(event.job)
            if pending is not None:
                observer.file_started(pending.state.path, pending.info.duration_s)
        elif isinstance(event, ClipsEmbedded):
            observer.clips_encoded(event.count, event.video_s)
        elif event.job in self._files:
            pending = self._files.pop(event.job)
            # The commit reads the file's text first (recognising the speech of the audio
            # its pass decoded takes the cores a while): a local executor's decoder waits for
            # it as it waits for the model.
            with self._executor.paused():
                outcome = self._indexer._commit(pending, event, self._report)
            self.outcomes.append((event.job, outcome))
