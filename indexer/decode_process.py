"""Decode in a child process: overlap decoding with inference, and survive broken decoders.

One worker process decodes the files it is given, one after another, and streams each clip's
sampled frames back through a bounded queue; the indexer runs the model on clips as they arrive,
so decoding the next clips overlaps with inference on the previous ones (on 2 cores the two take
turns at both cores instead: see ``_Turns``).
FFmpeg is C code fed with untrusted files: a decoder that crashes takes down only the worker, and
one that hangs (no clip for ``stall_s`` seconds) or runs past its time limit is killed. Either
way that file gets an error event, a fresh worker takes the files queued after it, and the run
goes on.

Workers are forked from a forkserver that has imported the decoding modules once: a worker costs
a fork (milliseconds), not a fresh interpreter, and never inherits torch's threads.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import queue
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import VideoOpenError
from indexer.file_stages import PICTURES, Decoded, Streams, file_stages
from indexer.sampling import SamplingPlan

logger = logging.getLogger(__name__)

# Long enough for a slow network share or a 4K frame burst; a decoder that produces no clip at
# all for this long is stuck (a clip is at most max_clip_s of video).
DEFAULT_STALL_S = 300.0
# A decoder that keeps producing clips but takes longer than this many times the video's
# duration (plus the stall allowance) is killed too: a corrupt file can make it loop.
TIME_LIMIT_PER_VIDEO_S = 10.0
# Clips decoded ahead of the model: 1.2 MB each at 224 px, so memory stays small.
PREFETCH_CLIPS = 24
_POLL_S = 0.5

_context: mp.context.BaseContext | None = None


def _mp_context() -> mp.context.BaseContext:
    global _context
    if _context is None:
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        _context = mp.get_context(method)
        if method == "forkserver":
            _context.set_forkserver_preload(["indexer.file_stages"])
    return _context


def prepare() -> None:
    """Start the forkserver now (it imports the decoding modules in the background, about
    0.3 s), so that the first file's worker does not wait for it."""
    if _mp_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class _Turns:
    """Decoder and model taking turns at the cores. The worker holds ``lock`` while it decodes a
    frame and waits for ``go`` before each one; the model clears ``go`` and takes ``lock``
    (so the worker stops after its current frame) and gives both back when done. A plain lock
    alone is not enough: it is not fair, and the worker, taking it again right after each
    frame, could keep the model waiting for many frames."""

    def __init__(self, ctx: mp.context.BaseContext) -> None:
        self.lock = ctx.Lock()
        self.go = ctx.Event()
        self.go.set()

    def worker(self) -> AbstractContextManager:
        return _WorkerTurn(self.lock, self.go)

    @contextmanager
    def model(self) -> Iterator[None]:
        self.go.clear()
        self.lock.acquire()
        try:
            yield
        finally:
            self.lock.release()
            self.go.set()


class _WorkerTurn:
    def __init__(self, lock, go) -> None:
        self._lock, self._go = lock, go

    def __enter__(self) -> None:
        while not self._go.wait(_POLL_S):
            _exit_if_orphaned()
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


@dataclass(frozen=True)
class DecodeEvent:
    """What the worker says about job ``job``: ``start``, a ``clip`` (ClipFrames), ``done``
    (Decoded: the last clip was sent) or ``error`` (a one-line reason)."""

    job: int
    kind: str
    payload: object = None


@dataclass(frozen=True)
class _Job:
    path: str
    fps_hint: float
    duration_s: float
    streams: Streams = PICTURES


def _serve(plan: SamplingPlan, requests: mp.Queue, out: mp.Queue, turns: _Turns | None) -> None:
    """The worker: decode each requested file in turn until told to stop (None). Errors travel
    as text, since exceptions with extra constructor arguments do not survive pickling."""
    gate = turns.worker() if turns is not None else None
    while (request := _get(requests)) is not None:
        job, path, fps_hint, streams = request
        _put(out, (job, "start", None))
        try:
            for item in file_stages(Path(path), plan, fps_hint, gate=gate, streams=streams):
                done = isinstance(item, Decoded)
                _put(out, (job, "done" if done else "clip", item))
        except VideoOpenError as exc:
            _put(out, (job, "error", exc.reason))
        except Exception as exc:  # noqa: BLE001 - any decoder bug becomes this file's failure
            _put(out, (job, "error", f"decoder error ({type(exc).__name__}: {exc})"))


# The worker outlives an indexer killed with SIGKILL unless it notices: wherever it waits, it
# waits in steps and exits once the process that started it is gone (at once: a normal exit
# would wait forever to flush clips nobody will read).


def _exit_if_orphaned() -> None:
    parent = mp.parent_process()
    if parent is not None and not parent.is_alive():
        os._exit(0)


def _get(requests: mp.Queue):
    while True:
        try:
            return requests.get(timeout=_POLL_S)
        except queue.Empty:
            _exit_if_orphaned()


def _put(out: mp.Queue, message: tuple) -> None:
    while True:
        try:
            out.put(message, timeout=_POLL_S)
            return
        except queue.Full:
            _exit_if_orphaned()


class DecodeWorker:
    """A worker process decoding submitted files in order; ``next`` returns its events.

    ``busy`` says whether it has files left to decode. With ``exclusive``, the worker decodes
    only while ``paused()`` is not held: the indexer holds it while the model runs, so the two
    take turns at all the cores instead of fighting over them. Always ``close`` the worker (or
    use ``with``): that kills the process.
    """

    def __init__(
        self, plan: SamplingPlan, *, stall_s: float = DEFAULT_STALL_S, exclusive: bool = False
    ) -> None:
        self._plan = plan
        self._stall_s = stall_s
        self._exclusive = exclusive
        self._turns: _Turns | None = None
        self._jobs: dict[int, _Job] = {}  # submitted and not finished, in order
        self._current: int | None = None
        self._process: mp.Process | None = None
        self._deadline = 0.0
        self._limit = math.inf

    def __enter__(self) -> DecodeWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def paused(self) -> AbstractContextManager:
        """Hold this while using the cores the worker would use (exclusive mode): the worker
        stops after the frame it is on. Not held while the worker has nothing to decode."""
        if self._turns is None or not self._jobs or self._process is None:
            return nullcontext()
        return self._turns.model()

    def submit(
        self,
        job: int,
        path: Path,
        fps_hint: float,
        duration_s: float = 0.0,
        streams: Streams = PICTURES,
    ) -> None:
        """Queue ``path``; ``streams`` says what its pass decodes (its audio track too)."""
        self._jobs[job] = _Job(str(path), fps_hint, duration_s, streams)
        if self._process is None:
            self._start()  # sends every queued job, this one included
        else:
            self._requests.put((job, str(path), fps_hint, streams))

    def next(self, *, block: bool = True) -> DecodeEvent | None:
        """The next event, waiting for it if ``block``; None when nothing is ready (or nothing
        is left to decode). A crashed, stalled or overtime worker yields an ``error`` event for
        the file it was on, and is replaced."""
        while self._jobs:
            if self._current is not None and _now() >= self._limit:
                return self._fail_current(self._too_slow())
            try:
                if block:
                    timeout = max(0.0, min(_POLL_S, min(self._deadline, self._limit) - _now()))
                    message = self._out.get(timeout=timeout)
                else:
                    message = self._out.get_nowait()
            except queue.Empty:
                message = self._last_words()
                if message is None:
                    if trouble := self._trouble():
                        return self._fail_current(trouble)
                    if not block:
                        return None
                    continue
            return self._accept(DecodeEvent(*message))
        return None

    def _accept(self, event: DecodeEvent) -> DecodeEvent:
        self._deadline = _now() + self._stall_s
        if event.kind == "start":
            self._current = event.job
            self._limit = self._deadline + TIME_LIMIT_PER_VIDEO_S * self._jobs[event.job].duration_s
        elif event.kind in ("done", "error"):
            self._jobs.pop(event.job, None)
            self._current = None
            self._limit = math.inf  # until the next file starts; the stall deadline holds
        return event

    def close(self) -> None:
        if self._process is None:
            return
        if self._process.pid is not None:  # it started
            if self._process.is_alive():
                self._process.kill()
            self._process.join()
        for q in (self._requests, self._out):
            q.cancel_join_thread()
            q.close()
        self._process = None

    def _start(self) -> None:
        ctx = _mp_context()
        # New for each worker: one killed while holding the lock would leave it locked.
        self._turns = _Turns(ctx) if self._exclusive else None
        self._requests: mp.Queue = ctx.Queue()
        self._out: mp.Queue = ctx.Queue(maxsize=PREFETCH_CLIPS)
        self._process = ctx.Process(
            target=_serve, args=(self._plan, self._requests, self._out, self._turns), daemon=True
        )
        self._process.start()
        for job, spec in self._jobs.items():
            self._requests.put((job, spec.path, spec.fps_hint, spec.streams))
        self._deadline = _now() + self._stall_s
        self._limit = math.inf
        self._current = None

    def _last_words(self) -> tuple | None:
        """A message sent just before the worker exited, if it has exited."""
        if self._process is None or self._process.is_alive():
            return None
        try:
            return self._out.get(timeout=_POLL_S)
        except queue.Empty:
            return None

    def _trouble(self) -> str | None:
        """Why the worker must be given up on, if it must."""
        if self._process is not None and not self._process.is_alive():
            return f"decoder crashed (worker exit code {self._process.exitcode})"
        if _now() >= self._deadline:
            return f"decoder hung (no progress for {self._stall_s:g} s)"
        return None  # past the time limit: ``next`` checks that on every turn

    def _too_slow(self) -> str:
        spec = self._jobs.get(self._current) if self._current is not None else None
        duration = spec.duration_s if spec else 0.0
        limit = self._stall_s + TIME_LIMIT_PER_VIDEO_S * duration
        return f"decoder too slow (over {limit:.0f} s for a {duration:.0f} s video)"

    def _fail_current(self, reason: str) -> DecodeEvent:
        job = self._current if self._current is not None else next(iter(self._jobs))
        path = self._jobs.pop(job).path
        logger.warning("killing the decoder of %s: %s", path, reason)
        self.close()
        if self._jobs:
            self._start()
        return DecodeEvent(job, "error", reason)


def _now() -> float:
    return time.monotonic()
