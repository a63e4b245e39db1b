"""Today's executor: a decode worker process and the model in this process, taking turns.

Files go to the decoder (indexer/decode_process.py) as they are submitted, and the model
takes their clips as they arrive, across files: decoding the next file overlaps with inference
on this one. A file is finished when its last clip is embedded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace

from indexer.cpus import usable_cpus
from indexer.decode_process import DEFAULT_STALL_S, DecodeEvent, DecodeWorker, prepare
from indexer.embed import ClipEncoder, embed_clips
from indexer.errors import VideoOpenError
from indexer.executor import ClipsEmbedded, ExecutorEvent, FileJob, FileResult, FileStarted
from indexer.file_stages import PICTURES, Decoded, Streams, file_stages
from indexer.sampling import ClipFrames, SamplingPlan

# Files handed to the decoder ahead of the one whose clips the model is on: enough to keep the
# decoder busy across file boundaries, few enough that a copy found later waits little.
FILES_AHEAD = 2


@dataclass
class _InFlight:
    job: FileJob
    records: list = field(default_factory=list)
    queued: int = 0  # clips received and not yet embedded
    decoded: Decoded | None = None  # set when the last clip was received


class LocalExecutor:
    """Files being decoded (in a worker) and embedded (here), with clips batched across files.

    Side by side with the decoder, the model takes whatever clips have arrived, up to
    ``batch_clips``, as soon as it is free (on a CPU a batch of one is as fast per clip as a
    batch of eight); taking turns with it (2 cores), it waits for a full batch, or for the
    decoder to run out of work.
    """

    capacity = FILES_AHEAD + 1

    def __init__(
        self,
        encoder: ClipEncoder,
        plan: SamplingPlan,
        *,
        batch_clips: int = 8,
        decode_in_worker: bool = True,
        stall_s: float = DEFAULT_STALL_S,
    ) -> None:
        self.encoder = encoder
        self.batch_clips = batch_clips
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
        self.plan = replace(plan, decode_threads=self.decode_threads)
        self._decoder: DecodeWorker | _InlineDecoder | None = None
        self._files: dict[int, _InFlight] = {}  # job -> file, in order
        self._batch: list[tuple[int, ClipFrames]] = []
        self._events: deque[ExecutorEvent] = deque()
        if decode_in_worker:
            prepare()

    def submit(self, job: FileJob) -> None:
        if self._decoder is None:
            self._decoder = (
                DecodeWorker(self.plan, stall_s=self.stall_s, exclusive=self.exclusive_decoding)
                if self.decode_in_worker
                else _InlineDecoder(self.plan)
            )
        self._files[job.job] = _InFlight(job)  # the driver's job is the decoder's job id
        self._decoder.submit(job.job, job.path, job.fps_hint, job.duration_s, job.streams)

    def next(self) -> ExecutorEvent:
        while not self._events:
            if not self._files:
                raise RuntimeError("next() with no file in flight")
            self._step()
        return self._events.popleft()

    def paused(self) -> AbstractContextManager:
        """The decoder holds still (taking turns with the driver, as with the model)."""
        return self._decoder.paused() if self._decoder is not None else nullcontext()

    def release(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None
        self._files.clear()
        self._batch.clear()
        self._events.clear()

    def _step(self) -> None:
        """Take one decoder event, or embed the waiting clips if none is ready."""
        # Side by side with the decoder, the model takes whatever has arrived; taking turns
        # with it, it waits for a full batch (fewer switches, each of which costs cache).
        wait = not self._batch or (
            self.exclusive_decoding and self._decoder.busy and len(self._batch) < self.batch_clips
        )
        event = self._decoder.next(block=wait)
        if event is None:
            if not self._batch:
                raise RuntimeError("files in flight, but no clips and nothing left to decode")
            self._embed()
        else:
            self._handle(event)
            if len(self._batch) >= self.batch_clips:
                self._embed()

    def _handle(self, event: DecodeEvent) -> None:
        file = self._files.get(event.job)
        if file is None:
            return
        if event.kind == "start":
            self._events.append(FileStarted(event.job))
        elif event.kind == "clip":
            self._batch.append((event.job, event.payload))
            file.queued += 1
        elif event.kind == "done":
            file.decoded = event.payload
            self._finish_if_complete(event.job)
        elif event.kind == "error":
            self._batch = [(job, clip) for job, clip in self._batch if job != event.job]
            del self._files[event.job]
            self._events.append(FileResult(event.job, error=event.payload))

    def _embed(self) -> None:
        batch, self._batch = self._batch[: self.batch_clips], self._batch[self.batch_clips :]
        if not batch:
            return
        threads = self.model_threads_while_decoding if self._decoder.busy else None
        clips = [clip for _, clip in batch]
        with self._decoder.paused():
            records = embed_clips(self.encoder, clips, threads=threads)
        self._events.append(ClipsEmbedded(len(clips), sum(c.end_s - c.start_s for c in clips)))
        for (job, _), record in zip(batch, records):
            file = self._files[job]
            file.records.append(record)
            file.queued -= 1
        for job in dict.fromkeys(job for job, _ in batch):
            self._finish_if_complete(job)

    def _finish_if_complete(self, job: int) -> None:
        file = self._files[job]
        if file.decoded is None or file.queued:
            return
        del self._files[job]
        self._events.append(FileResult(job, file.records, file.decoded))


class _InlineDecoder:
    """The worker's protocol, decoding in this process (debugging; no crash containment)."""

    def __init__(self, plan: SamplingPlan) -> None:
        self._plan = plan
        self._jobs: deque[tuple[int, object, float, Streams]] = deque()
        self._current: tuple[int, Iterator[ClipFrames | Decoded]] | None = None

    @property
    def busy(self) -> bool:
        return bool(self._jobs) or self._current is not None

    def submit(
        self, job: int, path, fps_hint: float, duration_s: float = 0.0, streams=PICTURES
    ) -> None:
        self._jobs.append((job, path, fps_hint, streams))

    def next(self, *, block: bool = True) -> DecodeEvent | None:
        if self._current is None:
            if not self._jobs:
                return None
            job, path, fps_hint, streams = self._jobs.popleft()
            self._current = (job, file_stages(path, self._plan, fps_hint, streams=streams))
            return DecodeEvent(job, "start")
        job, items = self._current
        try:
            item = next(items)
        except VideoOpenError as exc:
            self._current = None
            return DecodeEvent(job, "error", exc.reason)
        if isinstance(item, Decoded):
            self._current = None
            return DecodeEvent(job, "done", item)
        return DecodeEvent(job, "clip", item)

    def paused(self) -> AbstractContextManager:
        return nullcontext()

    def close(self) -> None:
        self._current = None
