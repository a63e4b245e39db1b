"""The per-file stages, in one place: decode once, cut, sample, hash.

Every executor runs a file through ``file_stages``: the local decode worker (streaming its
clips to the model as they come), the in-process decoder, and Ray's decode tasks. A stage that
works on one file (reading subtitles, transcribing) joins here, and its output goes into
``Decoded``, which travels to the driver with the file's clips.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import DecodeStopped
from indexer.framehash import FrameHasher, FrameHashes
from indexer.sampling import ClipFrames, SamplingPlan, iter_clips


@dataclass(frozen=True)
class Decoded:
    """How a file's decoding ended: its frames' perceptual hashes, and ``stopped``, the reason
    decoding failed midway (None when it reached the end). The clips of the frames before such
    a failure were sent."""

    hashes: FrameHashes
    stopped: str | None = None


def file_stages(
    path: Path,
    plan: SamplingPlan,
    fps_hint: float,
    *,
    gate: AbstractContextManager | None = None,
) -> Iterator[ClipFrames | Decoded]:
    """Each clip of ``path`` as it is cut and sampled, then one ``Decoded`` (always last).

    Raises VideoOpenError when the file cannot be decoded at all; ``gate`` is held around each
    decoded frame (the local decoder's turns with the model).
    """
    hasher = FrameHasher()
    stopped = None
    try:
        yield from iter_clips(path, plan, fps_hint, on_frame=hasher, gate=gate)
    except DecodeStopped as exc:
        stopped = exc.reason
    yield Decoded(hasher.result, stopped)
