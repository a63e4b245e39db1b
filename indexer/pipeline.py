"""The indexing run: discover, skip unchanged, recognise moves, embed new videos, prune.

Each video is committed whole, with all its clips, in one transaction: an interruption at any
moment loses at most the video in progress, never corrupts what is stored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from indexer.decode_process import DEFAULT_STALL_S, clips_in_worker
from indexer.discover import Candidate, walk
from indexer.errors import VideoOpenError
from indexer.fingerprint import fingerprint
from indexer.framehash import FrameHasher, FrameHashes
from indexer.preprocess import to_pixel_values
from indexer.probe import VideoInfo, probe
from indexer.sampling import ClipFrames, SamplingPlan, iter_clips
from storage import frame_hashes as hash_repo
from storage import repository as repo
from storage.codec import decode_embedding, decode_features
from storage.library import Library
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

    def encode_clips(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class IndexObserver:
    """Progress callbacks; the CLI draws bars from them. The default does nothing."""

    def start(self, total_files: int) -> None: ...

    def file_started(self, path: Path, duration_s: float) -> None: ...

    def clips_encoded(self, count: int, video_s: float) -> None: ...

    def file_done(self, path: Path, outcome: str, detail: str = "") -> None:
        """``detail``: the clip count of an indexed file, the reason of a failure, the old path
        of a moved file, the source of a copy."""


@dataclass
class IndexReport:
    """What a run did; ``failed`` holds (path, reason) pairs."""

    indexed: int = 0
    skipped: int = 0
    moved: int = 0
    removed: int = 0
    clips_added: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _FileState:
    path: Path
    size_bytes: int
    mtime_ns: int


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
    ) -> None:
        self.library = library
        self.settings = settings
        self.encoder = encoder
        self.batch_clips = batch_clips
        self.observer = observer or IndexObserver()
        # Decoding in a worker process overlaps it with inference and contains decoder
        # crashes and hangs (indexer/decode_process.py); in-process is kept for debugging.
        self.decode_in_worker = decode_in_worker
        self.stall_s = stall_s
        self.plan = SamplingPlan.for_library(encoder, settings)

    def run(self, roots: Iterable[Path]) -> IndexReport:
        """Index everything under ``roots``, then prune vanished files under them."""
        roots = [Path(os.path.abspath(r)) for r in roots]
        candidates = [c for root in roots if root.exists() for c in walk(root)]
        report = IndexReport()
        self.observer.start(len(candidates))
        for candidate in candidates:
            self.index_file(candidate, report)
        self.prune(roots, report)
        self.library.vectors()  # bring the FAISS cache up to date, then persist it
        self.library.save_vectors()
        return report

    def index_file(self, candidate: Candidate, report: IndexReport) -> str:
        """Bring one file up to date; returns the outcome (indexed/skipped/moved/failed/...)."""
        path = candidate.path
        try:
            stat = path.stat()
        except OSError as exc:
            return self._fail(path, f"cannot read ({exc.strerror})", None, report)
        state = _FileState(path, stat.st_size, stat.st_mtime_ns)
        with self.library.session() as session:
            row = repo.get_video_by_path(str(path), session=session)
            if row and row.size_bytes == state.size_bytes and row.mtime_ns == state.mtime_ns:
                report.skipped += 1
                self.observer.file_done(path, "skipped")
                return "skipped"
        try:
            digest = fingerprint(path)
        except OSError as exc:
            return self._fail(path, f"cannot read ({exc.strerror})", None, report)
        if self._reuse_known(state, digest, report):
            return "moved"
        return self._embed_file(candidate, state, digest, report)

    def prune(
        self,
        roots: Sequence[Path],
        report: IndexReport,
        *,
        available: Callable[[Path], bool] = Path.is_dir,
    ) -> None:
        """Delete rows of files under ``roots`` that no longer exist (roots must be present,
        so an unmounted share never wipes its videos). ``available`` says whether a root folder
        is really there (the watcher also requires a former mount point to be mounted)."""
        present = [r for r in roots if available(r)]
        gone_files = [str(r) for r in roots if not r.exists()]
        with self.library.session() as session, session.begin():
            folders = [str(r) for r in present]
            rows = repo.videos_under(folders, session=session) if folders else []
            rows += [v for p in gone_files if (v := repo.get_video_by_path(p, session=session))]
            for video in rows:
                if Path(video.path).exists():
                    continue
                # Asked again after the file was found missing: a share unmounted during this
                # scan would otherwise look like every one of its files was deleted.
                root = next((r for r in present if Path(video.path).is_relative_to(r)), None)
                if root is not None and not available(root):
                    continue
                logger.info("removed %s (file is gone)", video.path)
                repo.delete_video(video, session=session)
                report.removed += 1
                self.observer.file_done(Path(video.path), "removed")

    def _reuse_known(self, state: _FileState, digest: str, report: IndexReport) -> bool:
        """A moved file keeps its clips; a copy of an indexed file reuses its vectors."""
        path = str(state.path)
        with self.library.session() as session, session.begin():
            known = [
                v for v in repo.videos_by_fingerprint(digest, session=session) if v.path != path
            ]
            if not known:
                return False
            gone = [v for v in known if not Path(v.path).exists()]
            if gone:
                logger.info("moved %s -> %s", gone[0].path, path)
                origin = gone[0].path
                repo.move_video(gone[0], path, state.size_bytes, state.mtime_ns, session=session)
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
                video = repo.save_indexed_video(record, clips, session=session)
                hash_repo.copy_frame_hashes(source.id, video.id, session=session)
                report.indexed += 1
                report.clips_added += len(clips)
                outcome = "copied"
        self.observer.file_done(state.path, outcome, origin)
        return True

    def _embed_file(
        self, candidate: Candidate, state: _FileState, digest: str, report: IndexReport
    ) -> str:
        path = state.path
        try:
            info = probe(path)
        except VideoOpenError as exc:
            if not candidate.expected and not self._has_row(path):
                self.observer.file_done(path, "ignored")
                return "ignored"
            return self._fail(path, exc.reason, state, report, digest)
        self.observer.file_started(path, info.duration_s)
        try:
            clips, hashes = self._encode(path, info)
        except VideoOpenError as exc:
            return self._fail(path, exc.reason, state, report, digest)
        if not clips:
            return self._fail(path, "no decodable frames", state, report, digest)
        record = _record(state, digest, info, max(info.duration_s, clips[-1].end_s))
        with self.library.session() as session, session.begin():
            video = repo.save_indexed_video(record, clips, session=session)
            hash_repo.save_frame_hashes(video.id, *hashes.arrays(), session=session)
        report.indexed += 1
        report.clips_added += len(clips)
        logger.info("indexed %s (%d clips)", path, len(clips))
        self.observer.file_done(path, "indexed", f"{len(clips)} clips")
        return "indexed"

    def _encode(self, path: Path, info: VideoInfo) -> tuple[list[repo.ClipRecord], FrameHashes]:
        """Decode once: embed the clips in batches and hash frames for duplicate detection."""
        records: list[repo.ClipRecord] = []
        batch: list[ClipFrames] = []
        hasher = FrameHasher()
        if self.decode_in_worker:
            clips = clips_in_worker(
                path, self.plan, info.fps, stall_s=self.stall_s, hashes=hasher.result
            )
        else:
            clips = iter_clips(path, self.plan, info.fps, on_frame=hasher)
        for clip in clips:
            batch.append(clip)
            if len(batch) == self.batch_clips:
                records += self._encode_batch(batch)
                batch = []
        if batch:
            records += self._encode_batch(batch)
        return records, hasher.result

    def _encode_batch(self, batch: list[ClipFrames]) -> list[repo.ClipRecord]:
        spec = self.encoder.preprocess
        pixels = to_pixel_values([c.frames for c in batch], spec.mean, spec.std)
        embeddings, features = self.encoder.encode_clips(pixels)
        self.observer.clips_encoded(len(batch), sum(c.end_s - c.start_s for c in batch))
        return [
            repo.ClipRecord(c.start_s, c.end_s, embeddings[i], features[i])
            for i, c in enumerate(batch)
        ]

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
