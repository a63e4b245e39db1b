"""A file's first audio track, decoded with PyAV and resampled to what the speech recogniser
wants: 16 kHz mono float32 samples (Whisper's input).

A separate pass from the pictures' (indexer/sampling.py): demuxing only the audio stream skips
the video packets without decoding them, so it costs a read of the file plus the audio decode
(about 1 % of the video decode, measured in docs/speech.md), and it keeps the picture decoder,
its worker process and its crash containment unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from indexer.timeline import stream_start_s, video_origin_s

SAMPLE_RATE = 16_000
# The longest audio decoded for recognition: 16 kHz float32 is 230 MB per hour, and longer
# recordings are cut here rather than exhausting memory (the rest is reported in a note).
MAX_AUDIO_S = 4 * 3600.0


class AudioError(Exception):
    """The audio track could not be decoded; ``reason`` is one short line. ``samples`` holds
    what was decoded before the failure (possibly empty)."""

    def __init__(self, path: Path, reason: str, samples: np.ndarray | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.samples = samples if samples is not None else np.zeros(0, np.float32)


@dataclass(frozen=True)
class Audio:
    """Samples at SAMPLE_RATE, and where the first one plays on the clips' timeline."""

    samples: np.ndarray
    start_s: float = 0.0


def has_audio(path: Path) -> bool:
    """Whether ``path`` has an audio stream (False when it cannot be opened)."""
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, OSError):
        return False


def decode_audio(path: Path, *, max_s: float = MAX_AUDIO_S) -> Audio | None:
    """The first audio track as 16 kHz mono float32 in [-1, 1], with its start on the clips'
    timeline; None when there is no audio stream. Raises AudioError when the track cannot be decoded (with what came before)."""
    chunks: list[np.ndarray] = []
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(path, f"cannot open the audio ({exc})") from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        start_s = stream_start_s(stream) - video_origin_s(container)
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        limit = int(max_s * SAMPLE_RATE)
        total = 0
        try:
            for frame in container.decode(stream):
                # Timestamps are ignored: gaps in the track would shift the words' times, but
                # the sample count after resampling follows the decoded audio, as players do.
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    total += chunks[-1].size
                if total >= limit:
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
            raise AudioError(path, f"audio failed to decode ({exc})", samples) from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return Audio(np.ascontiguousarray(samples[:limit], dtype=np.float32), start_s)
