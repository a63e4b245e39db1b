"""Decode in a child process: overlap decoding with inference, and survive broken decoders.

``iter_clips`` runs in a worker process and sends each clip's sampled frames back through a
bounded queue, so the worker decodes the next clips while this process runs the model on the
previous batch (the overlap is limited by cores: on 2 vCPUs the model already uses both).
FFmpeg is C code fed with untrusted files: a decoder that crashes takes down only the worker,
and one that hangs is killed after ``stall_s`` seconds without a clip. Either way the file is
reported as failed (``VideoOpenError``) and the run goes on.

Workers are forked from a forkserver that has imported the decoding modules once: each file
costs a fork (milliseconds), not a fresh interpreter, and never inherits torch's threads.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import time
from collections.abc import Iterator
from pathlib import Path

from indexer.errors import VideoOpenError
from indexer.framehash import FrameHasher, FrameHashes
from indexer.sampling import ClipFrames, SamplingPlan, iter_clips

logger = logging.getLogger(__name__)

# Long enough for a slow network share or a 4K frame burst; a decoder that produces no clip at
# all for this long is stuck (a clip is at most max_clip_s of video).
DEFAULT_STALL_S = 300.0
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
            _context.set_forkserver_preload(["indexer.sampling", "indexer.framehash"])
    return _context


def _decode(path: str, plan: SamplingPlan, fps_hint: float, out: mp.Queue) -> None:
    """The worker: stream clips, then ("done", frame hashes) or ("error", reason). Errors travel
    as text, since exceptions with extra constructor arguments do not survive pickling."""
    try:
        hasher = FrameHasher()
        for clip in iter_clips(Path(path), plan, fps_hint, on_frame=hasher):
            out.put(("clip", clip))
        out.put(("done", hasher.result))
    except VideoOpenError as exc:
        out.put(("error", exc.reason))
    except Exception as exc:  # noqa: BLE001 - any decoder bug becomes this file's failure
        out.put(("error", f"decoder error ({type(exc).__name__}: {exc})"))


def clips_in_worker(
    path: Path,
    plan: SamplingPlan,
    fps_hint: float,
    *,
    stall_s: float = DEFAULT_STALL_S,
    hashes: FrameHashes | None = None,
) -> Iterator[ClipFrames]:
    """Yield ``iter_clips(path, plan, fps_hint)``'s clips, decoded in a worker process.

    The worker also hashes frames for duplicate detection (``indexer.framehash``); once the
    last clip is yielded, ``hashes`` (if given) holds them.

    Raises VideoOpenError for an unreadable file, a worker that dies, or one that sends nothing
    for ``stall_s`` seconds (it is killed). Stopping early kills the worker too.
    """
    ctx = _mp_context()
    out: mp.Queue = ctx.Queue(maxsize=PREFETCH_CLIPS)
    worker = ctx.Process(target=_decode, args=(str(path), plan, fps_hint, out), daemon=True)
    worker.start()
    try:
        while True:
            kind, payload = _next(out, worker, path, stall_s)
            if kind == "clip":
                yield payload
            elif kind == "error":
                raise VideoOpenError(str(path), payload)
            else:
                if hashes is not None:
                    hashes.times_s += payload.times_s
                    hashes.hashes += payload.hashes
                    hashes.informative += payload.informative
                return
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join()
        out.close()
        out.join_thread()


def _next(out: mp.Queue, worker, path: Path, stall_s: float) -> tuple[str, object]:
    deadline = time.monotonic() + stall_s
    while True:
        try:
            return out.get(timeout=max(0.0, min(_POLL_S, deadline - time.monotonic())))
        except queue.Empty:
            pass
        if not worker.is_alive():
            try:  # it may have sent its last message just before exiting
                return out.get(timeout=_POLL_S)
            except queue.Empty:
                code = worker.exitcode
                reason = f"decoder crashed (worker exit code {code})"
                raise VideoOpenError(str(path), reason) from None
        if time.monotonic() >= deadline:
            logger.warning("killing the decoder of %s: no clip for %.0f s", path, stall_s)
            raise VideoOpenError(str(path), f"decoder hung (no progress for {stall_s:g} s)")
