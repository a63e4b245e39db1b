"""The indexing run: discover, skip unchanged, recognise moves, embed new videos, prune.

Each video is committed whole, with all its clips, in one transaction: an interruption at any
moment loses at most the video in progress, never corrupts what is stored.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from indexer.completeness import judge
from indexer.cpus import usable_cpus
from indexer.decode_process import DEFAULT_STALL_S, Decoded, DecodeEvent, DecodeWorker, prepare
from indexer.discover import Candidate, walk
from indexer.errors import DecodeStopped, VideoOpenError
from indexer.fingerprint import fingerprint
from indexer.framehash import FrameHasher
from indexer.preprocess import to_pixel_values
from indexer.presence import is_missing, is_vacant
from indexer.probe import VideoInfo, probe
from indexer.sampling import ClipFrames, SamplingPlan, iter_clips
from indexer.text_stage import TextStage
from storage import frame_hashes as hash_repo
from storage import repository as repo
from storage.codec import decode_embedding, decode_features
from storage.library import Library
from storage.models import STATUS_FAILED
from storage.settings import LibrarySettings

logger = logging.getLogger(__name__)


class PreprocessConfig(Protocol):
    shortest_edge: int
    crop_size: int
    mean: Sequence[float]
    std: Sequence[float]


class ClipEncoder(Protocol):
    """What the indexer needs from the model."""

    frames_per_clip: int
    preprocess: PreprocessConfig

    def encode_clips(
        self, pixels: np.ndarray, *, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and re-rank features; ``threads`` overrides the encoder's thread count."""
        ...


class IndexObserver:
    """Progress callbacks; the CLI draws bars from them. The default does nothing."""

    def start(self, total_files: int) -> None: ...

    def file_started(self, path: Path, duration_s: float) -> None: ...

    def clips_encoded(self, count: int, video_s: float) -> None: ...

    def file_done(self, path: Path, outcome: str, detail: str = "") -> None:
        """``detail``: the clip count of an indexed file (digits), the reason of a failure or of a
        partial file (indexed as far as it could be read), the old path of a moved file, the
        source of a copy."""


@dataclass
class IndexReport:
    """What a run did; ``failed`` holds (path, reason) pairs (files, and folders that could
    not be listed); ``partial`` the same for files indexed only as far as they could be read
    (counted in ``indexed`` too); ``unavailable`` maps a root that is empty or missing (a share
    that is not mounted) to how many of its videos were kept although their files are not there."""

    indexed: int = 0
    skipped: int = 0
    moved: int = 0
    removed: int = 0
    clips_added: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    partial: list[tuple[str, str]] = field(default_factory=list)
    unavailable: dict[str, int] = field(default_factory=dict)
    # The text stage's counts (indexer/text_stage.py): files whose speech was recognised, and
    # (path, note) pairs on audio or subtitles that were skipped or failed (pictures indexed).
    transcribed: int = 0
    notes: list[tuple[str, str]] = field(default_factory=list)


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


@dataclass
class _InFlight:
    pending: _Pending
    records: list = field(default_factory=list)
    queued: int = 0  # clips received and not yet embedded
    decoded: Decoded | None = None  # set when the last clip was received


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
        text: TextStage | None = None,
    ) -> None:
        self.library = library
        # Subtitles are always read; speech only when the stage's reader has it on.
        self.text = text or TextStage()
        self.settings = settings
        self.encoder = encoder
        self.batch_clips = batch_clips
        self.observer = observer or IndexObserver()
        # Decoding in a worker process overlaps it with inference and contains decoder
        # crashes and hangs (indexer/decode_process.py); in-process is kept for debugging.
        self.decode_in_worker = decode_in_worker
        self.stall_s = stall_s
        cores = usable_cpus()
        # Decoding and the model both use every core well (frame threading decodes 1.5-1.7x
        # faster on 2 threads than on one, the model runs 1.8x faster): on 2 cores they take
        # turns at both cores (one at a time, switching per frame), which measured faster
        # than running side by side on one core each or fighting over both. With more cores
        # they run side by side: the decoder gets a quarter of the cores, the model the rest.
        self.exclusive_decoding = cores <= 2
        self.decode_threads = 0 if self.exclusive_decoding else max(1, cores // 4)
        self.model_threads_while_decoding = (
            None if self.exclusive_decoding else max(1, cores - self.decode_threads)
        )
        self.plan = replace(
            SamplingPlan.for_library(encoder, settings), decode_threads=self.decode_threads
        )
        if decode_in_worker:
            prepare()

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
                root, on_error=lambda folder, exc: self.folder_unreadable(folder, exc, report)
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

        Files that need embedding go to the decoder as soon as they are checked (a few ahead),
        and the model takes their clips as they arrive, across files: decoding the next file
        overlaps with inference on this one. Each file is committed when its last clip is in.
        """
        outcomes: list[str] = [""] * len(candidates)
        with _EmbedQueue(self, report) as embedding:
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
        self, candidate: Candidate, report: IndexReport, embedding: _EmbedQueue
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
            info = probe(path)
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
                clips = [
                    repo.ClipRecord(
                        c.start_s,
                        c.end_s,
                        decode_embedding(c.embedding, self.settings.embed_dim),
                        decode_features(
                            c.features, self.settings.feature_tokens, self.settings.embed_dim
                        ),
                    )
                    for c in repo.clips_of_video(source.id, session=session)
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

    def _commit(
        self, pending: _Pending, clips: list[repo.ClipRecord], decoded: Decoded, report
    ) -> str:
        """Store a decoded and embedded file with all its clips, in one transaction; one that
        was read only in part (indexer/completeness.py) is stored as far as it was decoded,
        with the reason, and reported."""
        path = pending.state.path
        if not clips:
            reason = decoded.stopped or "no decodable frames"
            return self._fail(path, reason, pending.state, report, pending.digest)
        info = pending.info
        verdict = judge(info, pending.state.size_bytes, clips[-1].end_s, decoded.stopped)
        record = _record(pending.state, pending.digest, info, verdict.duration_s)
        text = self.text.read(path)
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

    def _encode_batch(self, batch: list[ClipFrames], threads: int | None) -> list[repo.ClipRecord]:
        spec = self.encoder.preprocess
        pixels = to_pixel_values([c.frames for c in batch], spec.mean, spec.std)
        embeddings, features = self.encoder.encode_clips(pixels, threads=threads)
        self.observer.clips_encoded(len(batch), sum(c.end_s - c.start_s for c in batch))
        return [
            repo.ClipRecord(c.start_s, c.end_s, embeddings[i], features[i])
            for i, c in enumerate(batch)
        ]

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
    a probe (``VideoInfo``) or, for an exact copy, from the indexed original's row."""
    return repo.VideoRecord(
        path=str(state.path),
        size_bytes=state.size_bytes,
        mtime_ns=state.mtime_ns,
        fingerprint=digest,
        duration_s=duration_s,
        fps=facts.fps,
        width=facts.width,
        height=facts.height,
        codec=facts.codec,
        rotation=facts.rotation,
    )


# Files handed to the decoder ahead of the one whose clips the model is on: enough to keep the
# decoder busy across file boundaries, few enough that a copy found later waits little.
FILES_AHEAD = 2


class _EmbedQueue:
    """Files being decoded (in a worker) and embedded (here), with clips batched across files.

    Side by side with the decoder, the model takes whatever clips have arrived, up to
    ``batch_clips``, as soon as it is free (on a CPU a batch of one is as fast per clip as a
    batch of eight); taking turns with it (2 cores), it waits for a full batch, or for the
    decoder to run out of work.
    """

    def __init__(self, indexer: Indexer, report: IndexReport) -> None:
        self._indexer = indexer
        self._report = report
        self._decoder: DecodeWorker | _InlineDecoder | None = None
        self._files: dict[int, _InFlight] = {}  # candidate index (= job) -> file, in order
        self._batch: list[tuple[int, ClipFrames]] = []
        self.outcomes: list[tuple[int, str]] = []  # (index, outcome) of each file finished

    def __enter__(self) -> _EmbedQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._decoder is not None:
            self._decoder.close()

    def has_digest(self, digest: str) -> bool:
        return any(f.pending.digest == digest for f in self._files.values())

    def add(self, index: int, pending: _Pending) -> None:
        if self._decoder is None:
            indexer = self._indexer
            self._decoder = (
                DecodeWorker(
                    indexer.plan, stall_s=indexer.stall_s, exclusive=indexer.exclusive_decoding
                )
                if indexer.decode_in_worker
                else _InlineDecoder(indexer.plan)
            )
        self._files[index] = _InFlight(pending)  # the candidate's index is the decoder's job id
        info = pending.info
        self._decoder.submit(index, pending.state.path, info.fps, info.duration_s)

    def make_room(self) -> None:
        """Work until fewer than FILES_AHEAD + 1 files are in flight."""
        while len(self._files) > FILES_AHEAD:
            self._step()

    def drain(self) -> None:
        """Work until every file is stored or failed."""
        while self._files:
            self._step()

    def _step(self) -> None:
        """Take one decoder event, or embed the waiting clips if none is ready."""
        # Side by side with the decoder, the model takes whatever has arrived; taking turns
        # with it, it waits for a full batch (fewer switches, each of which costs cache).
        wait = not self._batch or (
            self._indexer.exclusive_decoding
            and self._decoder.busy
            and len(self._batch) < self._indexer.batch_clips
        )
        event = self._decoder.next(block=wait)
        if event is None:
            if not self._batch:
                raise RuntimeError("files in flight, but no clips and nothing left to decode")
            self._embed()
        else:
            self._handle(event)
            if len(self._batch) >= self._indexer.batch_clips:
                self._embed()

    def _handle(self, event: DecodeEvent) -> None:
        file = self._files.get(event.job)
        if file is None:
            return
        path = file.pending.state.path
        if event.kind == "start":
            self._indexer.observer.file_started(path, file.pending.info.duration_s)
        elif event.kind == "clip":
            self._batch.append((event.job, event.payload))
            file.queued += 1
        elif event.kind == "done":
            file.decoded = event.payload
            self._store_if_complete(event.job)
        elif event.kind == "error":
            self._batch = [(job, clip) for job, clip in self._batch if job != event.job]
            del self._files[event.job]
            pending = file.pending
            indexer = self._indexer
            outcome = indexer._fail(
                path, event.payload, pending.state, self._report, pending.digest
            )
            self.outcomes.append((event.job, outcome))

    def _embed(self) -> None:
        batch, self._batch = (
            self._batch[: self._indexer.batch_clips],
            self._batch[self._indexer.batch_clips :],
        )
        if not batch:
            return
        threads = self._indexer.model_threads_while_decoding if self._decoder.busy else None
        with self._decoder.paused():
            records = self._indexer._encode_batch([clip for _, clip in batch], threads)
        for (job, _), record in zip(batch, records):
            file = self._files[job]
            file.records.append(record)
            file.queued -= 1
        for job in dict.fromkeys(job for job, _ in batch):
            self._store_if_complete(job)

    def _store_if_complete(self, job: int) -> None:
        file = self._files[job]
        if file.decoded is None or file.queued:
            return
        del self._files[job]
        # The commit reads the file's text first (speech recognition takes the cores a while):
        # taking turns with the decoder, the decoder waits for it as for the model.
        with self._decoder.paused():
            outcome = self._indexer._commit(file.pending, file.records, file.decoded, self._report)
        self.outcomes.append((job, outcome))


class _InlineDecoder:
    """The worker's protocol, decoding in this process (debugging; no crash containment)."""

    def __init__(self, plan: SamplingPlan) -> None:
        self._plan = plan
        self._jobs: deque[tuple[int, Path, float]] = deque()
        self._current: tuple[int, Iterator[ClipFrames], FrameHasher] | None = None

    @property
    def busy(self) -> bool:
        return bool(self._jobs) or self._current is not None

    def submit(self, job: int, path: Path, fps_hint: float, duration_s: float = 0.0) -> None:
        self._jobs.append((job, path, fps_hint))

    def next(self, *, block: bool = True) -> DecodeEvent | None:
        if self._current is None:
            if not self._jobs:
                return None
            job, path, fps_hint = self._jobs.popleft()
            hasher = FrameHasher()
            self._current = (job, iter_clips(path, self._plan, fps_hint, on_frame=hasher), hasher)
            return DecodeEvent(job, "start")
        job, clips, hasher = self._current
        try:
            return DecodeEvent(job, "clip", next(clips))
        except StopIteration:
            self._current = None
            return DecodeEvent(job, "done", Decoded(hasher.result))
        except DecodeStopped as exc:
            self._current = None
            return DecodeEvent(job, "done", Decoded(hasher.result, exc.reason))
        except VideoOpenError as exc:
            self._current = None
            return DecodeEvent(job, "error", exc.reason)

    def paused(self) -> AbstractContextManager:
        return nullcontext()

    def close(self) -> None:
        self._current = None
