"""The Ray executor: the per-file stages as Ray tasks on the cluster's CPUs, the model in a pool
of actors (one model each, on a GPU when the cluster has them), results streamed back.

The driver (indexer/pipeline.py) plans and commits exactly as with the local executor: only it
touches the database and the FAISS cache, so workers need no database credentials and crash
safety is unchanged. Each file is one decode task (``file_stages``: decode, cut, sample, hash)
whose clips stay in Ray's object store and go straight to an actor; the driver receives only the
embeddings. Speech is recognised in the file's task, right after the pass that decoded its
audio with its pictures (``speech``: each worker process loads the speech model once, on the
task's one CPU), so recognition scales with the cluster and only the lines come back. Every
node must read the files at the same path (a shared mount) and the models from the same
folders or its own Hugging Face cache.

A worker process or node that dies takes its file with it: Ray runs the task again (up to
``max_retries`` times; an actor is restarted and its call retried as often), then the file is
reported failed with the reason and the run goes on. A decode that stalls past the local
decoder's time limit is cancelled the same way.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import ray

from indexer.decode_process import DEFAULT_STALL_S, TIME_LIMIT_PER_VIDEO_S
from indexer.embed import ClipEncoder, embed_clips
from indexer.errors import VideoOpenError
from indexer.executor import ClipsEmbedded, ExecutorEvent, FileJob, FileResult, FileStarted
from indexer.file_stages import Decoded, file_stages
from indexer.listening import SpeechRecognizer
from indexer.sampling import ClipFrames, SamplingPlan

logger = logging.getLogger(__name__)

# Times Ray runs a file's task (or an actor's call) again after its worker died.
DEFAULT_RETRIES = 2
# How many CPUs one model actor's torch threads use on a CPU-only cluster of this many CPUs or
# more; smaller clusters give each actor one. The model gets about three quarters of the CPUs,
# decoding the rest, as the local executor splits a machine.
ACTOR_CPUS = 2
_POLL_S = 0.5
CHUNKS_AHEAD = 8
# One encoder factory call per actor: ``factory(device=..., threads=...)`` -> ClipEncoder.
EncoderFactory = Callable[..., ClipEncoder]
# Makes the speech recogniser on a worker (called there; it must be picklable).
SpeechFactory = Callable[[], SpeechRecognizer]
FileStages = Callable[..., Iterator[ClipFrames | Decoded]]


class RayUnavailableError(Exception):
    """Ray could not be reached or started; the message says what was tried."""


def connect(address: str) -> bool:
    """Join the Ray cluster at ``address`` (``auto``: the one ``ray start`` runs on this machine,
    or RAY_ADDRESS, else a new local one). Returns whether this call started the connection
    (then the caller shuts it down); an already connected process keeps its connection."""
    if ray.is_initialized():
        return False
    _check_reachable(address)
    try:
        ray.init(
            address=None if address == "auto" else address,
            logging_level=logging.WARNING,
            log_to_driver=False,  # the driver reports every file's outcome itself
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailableError(f"cannot reach Ray at {address!r}: {exc}") from exc
    return True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a cluster address nothing listens at: Ray itself retries for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RayUnavailableError(
            f"cannot reach Ray at {address!r}: {exc.strerror or exc}"
        ) from exc


def disconnect() -> None:
    """Leave the cluster (a local one that ``connect`` started stops with it)."""
    ray.shutdown()


@dataclass(frozen=True)
class Sizing:
    """How the cluster is used: ``actors`` models of ``actor_cpus`` CPUs (and ``actor_gpus``
    GPUs) each; decode tasks take one CPU each from what is left. ``actor_threads`` is each
    model's torch threads: its CPUs, except on a cluster of 2 CPUs or fewer, where one model
    and the decoding share every core, as the local executor shares 2 cores (a model on one
    thread beside a decoder on the other measured 18 % slower than plain ``clipdex index`` on
    a 5-minute 720p file; on both, 2 %: benchmarks/ray_overhead.py)."""

    actors: int
    actor_cpus: int
    actor_gpus: float
    actor_threads: int

    @classmethod
    def for_cluster(
        cls, resources: dict[str, float], actors: int | None = None, *, use_gpus: bool = True
    ) -> Sizing:
        cpus = int(resources.get("CPU", 1))
        gpus = int(resources.get("GPU", 0)) if use_gpus else 0
        if gpus:
            return cls(actors or gpus, 1, 1.0, 1)
        actor_cpus = ACTOR_CPUS if cpus >= 4 * ACTOR_CPUS else 1
        default = max(1, min(cpus - 1, cpus * 3 // 4) // actor_cpus)
        actors = actors or default
        threads = cpus if cpus <= 2 and actors == 1 else actor_cpus
        return cls(actors, actor_cpus, 0.0, threads)


@dataclass(frozen=True)
class _DecodeSummary:
    """The last thing a decode task yields (its clips went before it, in chunks)."""

    clips: int
    decoded: Decoded | None = None
    error: str | None = None


class _WorkerSpeech:
    """The speech model of a Ray worker process, made by the driver's factory on first use
    (the factory keeps one loaded model per process: ``clipdex.speech_model``). A model that
    cannot be loaded there fails like recognition does: a note, the pictures kept."""

    def __init__(self, factory: SpeechFactory) -> None:
        self._factory = factory

    def transcribe(self, samples):
        return self._factory().transcribe(samples)


def _decode(
    job: FileJob,
    plan: SamplingPlan,
    stages: FileStages,
    chunk_clips: int,
    speech: SpeechFactory | None = None,
):
    """A file through the per-file stages, streamed: lists of up to ``chunk_clips`` clips as
    they are cut, then one ``_DecodeSummary``. With ``speech``, the audio decoded in the pass
    is recognised here, on the worker; only the lines travel. Errors travel as text."""
    chunk: list[ClipFrames] = []
    count = 0
    recognizer = _WorkerSpeech(speech) if speech is not None else None
    try:
        for item in stages(
            job.path, plan, job.fps_hint, streams=job.streams, recognizer=recognizer
        ):
            if isinstance(item, Decoded):
                if chunk:
                    yield chunk
                yield _DecodeSummary(count, item)
                return
            chunk.append(item)
            count += 1
            if len(chunk) >= chunk_clips:
                yield chunk
                chunk = []
        yield _DecodeSummary(0, error="decoder error (no end of stream)")
    except VideoOpenError as exc:
        yield _DecodeSummary(0, error=exc.reason)
    except Exception as exc:  # noqa: BLE001 - any decoder bug becomes this file's failure
        yield _DecodeSummary(0, error=f"decoder error ({type(exc).__name__}: {exc})")


class _Embedder:
    """A model actor: loads the encoder once, embeds whole files' clips in batches."""

    def __init__(self, factory: EncoderFactory, device: str, threads: int) -> None:
        self._encoder = factory(device=device, threads=threads)

    def embed(self, clips: list[ClipFrames], batch_clips: int) -> list:
        records = []
        for start in range(0, len(clips), batch_clips):
            records.extend(embed_clips(self._encoder, clips[start : start + batch_clips]))
        return records

    def pid(self) -> int:
        import os

        return os.getpid()


@dataclass
class _File:
    """A file in flight: its decode stream, the last chunk received (held back until the next
    item shows it was not the summary) and the embeddings back so far, by chunk."""

    job: FileJob
    deadline: float
    stream: object  # ray.ObjectRefGenerator
    held: ray.ObjectRef | None = None
    chunks: int = 0
    records: dict[int, list] = field(default_factory=dict)
    summary: _DecodeSummary | None = None


class RayExecutor:
    """Runs files on a Ray cluster that this process is connected to (``connect``)."""

    def __init__(
        self,
        factory: EncoderFactory,
        plan: SamplingPlan,
        *,
        batch_clips: int = 8,
        actors: int | None = None,
        max_retries: int = DEFAULT_RETRIES,
        stall_s: float = DEFAULT_STALL_S,
        stages: FileStages = file_stages,
        use_gpus: bool = True,
        speech: SpeechFactory | None = None,
    ) -> None:
        """``factory`` builds each actor's model; ``actors`` overrides the pool's size;
        ``use_gpus`` False keeps the models on CPUs; ``stages`` is what each decode task runs
        (``file_stages``; tests wrap it to kill a worker); ``speech`` makes the speech
        recogniser of the decode tasks of files whose audio is wanted (without it, the samples
        come back to the driver)."""
        self.plan = plan
        self.batch_clips = batch_clips
        self.max_retries = max_retries
        self.stall_s = stall_s
        self.sizing = Sizing.for_cluster(ray.cluster_resources(), actors, use_gpus=use_gpus)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        if self.sizing.actors * self.sizing.actor_cpus >= cpus:
            raise ValueError(
                f"{self.sizing.actors} model actors of {self.sizing.actor_cpus} CPU(s) would "
                f"take all {cpus} CPUs of the Ray cluster and leave none to decode: use fewer"
            )
        self._factory = factory
        self._decode = ray.remote(_decode).options(
            num_cpus=1,
            num_returns="streaming",
            max_retries=max_retries,
            retry_exceptions=False,
            # Chunks a decode task runs ahead of the driver: bounds a long file's clips in
            # the object store (1.2 MB a clip at 224 px).
            _generator_backpressure_num_objects=CHUNKS_AHEAD,
        )
        self._stages = stages
        self._speech = speech
        self._actor_class = ray.remote(_Embedder).options(
            num_cpus=self.sizing.actor_cpus,
            num_gpus=self.sizing.actor_gpus,
            max_restarts=max_retries,
            max_task_retries=max_retries,
        )
        self.actors = [self._new_actor() for _ in range(self.sizing.actors)]
        self._load = [0] * len(self.actors)  # files in flight per actor
        # Enough files in flight to keep every decode slot and actor busy, and a few ahead.
        self.capacity = max(4, 2 * (cpus + len(self.actors)))
        self._files: dict[int, _File] = {}  # job -> file
        self._streams: dict[object, int] = {}  # decode stream -> job
        self._embedding: dict[ray.ObjectRef, tuple[int, int, int]] = {}  # -> job, chunk, actor
        self._events: deque[ExecutorEvent] = deque()

    def submit(self, job: FileJob) -> None:
        stream = self._decode.remote(job, self.plan, self._stages, self.batch_clips, self._speech)
        deadline = time.monotonic() + self.stall_s + TIME_LIMIT_PER_VIDEO_S * job.duration_s
        self._files[job.job] = _File(job, deadline, stream)
        self._streams[stream] = job.job
        self._events.append(FileStarted(job.job))

    def next(self) -> ExecutorEvent:
        while not self._events:
            if not self._files:
                raise RuntimeError("next() with no file in flight")
            self._step()
        return self._events.popleft()

    def paused(self) -> AbstractContextManager:
        """Nothing to hold: the work runs on the cluster's workers."""
        return nullcontext()

    def release(self) -> None:
        for stream in self._streams:
            ray.cancel(stream, force=True)
        for ref in self._embedding:
            ray.cancel(ref)  # an actor's call cannot be forced: its actor keeps the model
        self._files.clear()
        self._streams.clear()
        self._embedding.clear()
        self._events.clear()
        self._load = [0] * len(self.actors)

    def shutdown(self) -> None:
        """Stop the model actors (the cluster itself is left as it was)."""
        self.release()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []

    def _new_actor(self):
        device = "cuda" if self.sizing.actor_gpus else "cpu"
        return self._actor_class.remote(self._factory, device, self.sizing.actor_threads)

    def _step(self) -> None:
        waiting = [*self._streams, *self._embedding]
        ready, _ = ray.wait(waiting, num_returns=1, timeout=_POLL_S) if waiting else ([], [])
        for item in ready:
            if item in self._streams:
                self._streamed(item)
            else:
                self._embedded(item, *self._embedding.pop(item))
        now = time.monotonic()
        for file in list(self._files.values()):
            if file.summary is None and now >= file.deadline:
                ray.cancel(file.stream, force=True)
                duration = file.job.duration_s
                limit = self.stall_s + TIME_LIMIT_PER_VIDEO_S * duration
                self._fail(
                    file, f"decoder too slow (over {limit:.0f} s for a {duration:.0f} s video)"
                )

    def _streamed(self, stream) -> None:
        """The next item of a decode stream: the chunk held before it goes to a model."""
        file = self._files.get(self._streams[stream])
        try:
            ref = next(stream)
        except StopIteration:
            del self._streams[stream]
            if file is not None and file.held is not None:
                self._summarised(file, file.held)
            elif file is not None:
                self._fail(file, "decoder error (its task ended without a result)")
            return
        if file is None:
            return
        if file.held is not None:
            self._embed(file, file.held)
        file.held = ref

    def _embed(self, file: _File, chunk: ray.ObjectRef) -> None:
        actor = min(range(len(self.actors)), key=self._load.__getitem__)
        self._load[actor] += 1
        records = self.actors[actor].embed.remote(chunk, self.batch_clips)
        self._embedding[records] = (file.job.job, file.chunks, actor)
        file.chunks += 1

    def _summarised(self, file: _File, ref: ray.ObjectRef) -> None:
        try:
            file.summary = ray.get(ref)
        except ray.exceptions.RayError as exc:
            self._fail(file, _died("decoder", exc, self.max_retries))
            return
        if file.summary.error is not None:
            self._fail(file, file.summary.error, log=False)
        else:
            self._finish_if_complete(file)

    def _embedded(self, ref: ray.ObjectRef, job: int, chunk: int, actor: int) -> None:
        self._load[actor] -= 1
        file = self._files.get(job)
        try:
            records = ray.get(ref)
        except ray.exceptions.ActorDiedError as exc:
            # Restarted and retried max_retries times already: give up on this actor too.
            self.actors[actor] = self._new_actor()
            if file is not None:
                self._fail(file, _died("model worker", exc, self.max_retries))
            return
        except ray.exceptions.RayError as exc:
            # A chunk that was an error (its decode task died) fails here first.
            role = "decoder" if "Actor" not in type(exc).__name__ else "model worker"
            if file is not None:
                self._fail(file, _died(role, _cause(exc), self.max_retries))
            return
        if file is None:
            return
        self._events.append(ClipsEmbedded(len(records), sum(r.end_s - r.start_s for r in records)))
        file.records[chunk] = records
        self._finish_if_complete(file)

    def _finish_if_complete(self, file: _File) -> None:
        if file.summary is None or len(file.records) < file.chunks:
            return
        del self._files[file.job.job]
        records = [r for chunk in sorted(file.records) for r in file.records[chunk]]
        self._events.append(FileResult(file.job.job, records, file.summary.decoded))

    def _fail(self, file: _File, reason: str, *, log: bool = True) -> None:
        """Give up on ``file``: what is still coming for it is ignored."""
        if log:
            logger.warning("%s: %s", file.job.path, reason)
        del self._files[file.job.job]
        self._events.append(FileResult(file.job.job, error=reason))


def _cause(exc: Exception) -> Exception:
    """The error under a RayTaskError that only passed another task's failure on."""
    return getattr(exc, "cause", None) or exc


def _died(role: str, exc: Exception, retries: int) -> str:
    """A one-line reason for a file whose worker kept dying."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f": {first[:160]}" if first else ""
    tries = retries + 1
    return f"{role} died ({tries} tr{'y' if tries == 1 else 'ies'}; {type(exc).__name__}{detail})"
