"""The executor seam: planned files in, per-file results out.

The driver (indexer/pipeline.py) plans (discover, skip unchanged, recognise moves, prune) and
commits; an executor runs the per-file stages (indexer/file_stages.py) and the embedding
(indexer/embed.py) for the files the driver submits, and streams back what happened to them.
It never touches the library: only the driver writes the database and the FAISS cache, so crash
safety does not depend on where the work ran. ``LocalExecutor`` (indexer/local_executor.py) is
today's decode worker and model taking turns; ``RayExecutor`` (indexer/ray_executor.py) spreads
the same stages over a Ray cluster. This module imports neither, nor the driver.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from indexer.file_stages import PICTURES, Decoded, Streams
from indexer.sampling import SamplingPlan
from storage.repository import ClipRecord


@dataclass(frozen=True)
class FileJob:
    """One planned file: ``job`` is the driver's key for it; ``fps_hint`` and ``duration_s``
    come from its probe (the decoder's frame-rate guess and time limit); ``streams`` says what
    its pass decodes (the audio too when its speech is wanted)."""

    job: int
    path: Path
    fps_hint: float
    duration_s: float
    streams: Streams = PICTURES


@dataclass(frozen=True)
class FileStarted:
    """Decoding of ``job`` began (progress: the file the bar names)."""

    job: int


@dataclass(frozen=True)
class ClipsEmbedded:
    """A batch of ``count`` clips covering ``video_s`` seconds was embedded (progress)."""

    count: int
    video_s: float


@dataclass
class FileResult:
    """A file done: its clips in time order and how decoding ended (``decoded``), or
    ``error``, the one-line reason it failed (then nothing else is set)."""

    job: int
    clips: list[ClipRecord] = field(default_factory=list)
    decoded: Decoded | None = None
    error: str | None = None


ExecutorEvent = FileStarted | ClipsEmbedded | FileResult


class Executor(Protocol):
    """Runs submitted files; ``next`` returns what happened, one event at a time.

    The driver keeps at most ``capacity`` files submitted and not finished, and calls ``next``
    only while some are (each submitted file ends in exactly one ``FileResult``). ``release``
    ends a batch of work: files not finished are forgotten, per-run processes stop.
    ``paused`` holds the executor's work on this machine while the driver needs its cores
    (speech recognition before a commit, on audio the executor decoded); an executor working
    elsewhere need not pause (and recognises speech itself when it is given a recogniser).
    """

    capacity: int
    plan: SamplingPlan  # how its files are cut and sampled

    def submit(self, job: FileJob) -> None: ...

    def next(self) -> ExecutorEvent: ...

    def release(self) -> None: ...

    def paused(self) -> AbstractContextManager: ...
