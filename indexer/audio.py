"""A file's first audio track, decoded with PyAV and resampled to what the speech recogniser
wants: 16 kHz mono float32 samples (Whisper's input).

Decoded in the pictures' pass when speech is wanted for a file: ``AudioDecoder`` takes the audio
packets of the demux loop that feeds the video decoder (indexer/frames.py), so the file is read
once and the samples travel back with the file's clips (indexer/file_stages.py). The audio
decode itself costs 5-15 ms of CPU per second of media (``benchmarks.audio_pass``,
docs/speech.md). ``read_audio`` is the same
decoder in a pass of its own, for files whose pictures are not decoded again (speech turned on
for a file already indexed) and audio-only files.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from indexer.timeline import stream_start_s, video_origin_s

SAMPLE_RATE = 16_000
# The longest audio decoded for recognition: 16 kHz float32 is 230 MB per hour, and longer
# recordings are cut here rather than exhausting memory (the rest is reported in a note).
MAX_AUDIO_S = 4 * 3600.0


@dataclass(frozen=True)
class Audio:
    """Samples at SAMPLE_RATE, and where the first one plays on the clips' timeline."""

    samples: np.ndarray
    start_s: float = 0.0


@dataclass(frozen=True)
class AudioTrack:
    """What a pass over a file got of its audio: ``audio`` (None: the file has no audio
    stream), ``error`` when decoding stopped early (the samples before it are kept) and
    ``truncated`` when the track was cut at MAX_AUDIO_S."""

    audio: Audio | None
    error: str | None = None
    truncated: bool = False


class AudioDecoder:
    """Decodes the first audio track of a container from packets of a demux loop that may
    carry other streams' packets too: ``open`` it on the container, ``feed`` it the packets of
    ``stream``, then ``finish``.

    A packet that fails to decode ends the track (the samples before it are kept, the reason
    is in ``finish``'s result): the loop and the other streams go on.
    """

    def __init__(self, *, max_s: float = MAX_AUDIO_S) -> None:
        self.stream = None
        self._chunks: list[np.ndarray] = []
        self._total = 0
        self._limit = int(max_s * SAMPLE_RATE)
        self._error: str | None = None
        self._start_s = 0.0

    def open(self, container) -> None:
        """Take the container's first audio stream, if it has one (``stream`` stays None)."""
        if not container.streams.audio:
            return
        self.stream = container.streams.audio[0]
        self._start_s = stream_start_s(self.stream) - video_origin_s(container)
        self.stream.thread_type = "AUTO"
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    @property
    def done(self) -> bool:
        """Whether further packets are ignored (failed, or MAX_AUDIO_S reached)."""
        return self._error is not None or self._total >= self._limit

    def feed(self, packet) -> None:
        """Decode one packet of ``stream`` (the empty one at the end flushes the decoder)."""
        if self.done:
            return
        try:
            # Timestamps are ignored: gaps in the track would shift the words' times, but the
            # sample count after resampling follows the decoded audio, as players do.
            for frame in packet.decode():
                self._add(self._resampler.resample(frame))
        except av.error.FFmpegError as exc:
            self._error = f"audio failed to decode ({exc})"

    def fail(self, reason: str) -> None:
        """The demux loop itself stopped (a read error): the track ends here."""
        if self._error is None and self.stream is not None:
            self._error = reason

    def finish(self) -> AudioTrack:
        """The track so far; call once, after the last packet."""
        if self.stream is None:
            return AudioTrack(None)
        if self._error is None and self._total < self._limit:
            try:
                self._add(self._resampler.resample(None))
            except av.error.FFmpegError as exc:
                self._error = f"audio failed to decode ({exc})"
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        truncated = self._error is None and samples.size >= self._limit
        samples = np.ascontiguousarray(samples[: self._limit], dtype=np.float32)
        self._chunks = []
        return AudioTrack(Audio(samples, self._start_s), self._error, truncated)

    def _add(self, frames) -> None:
        for out in frames:
            self._chunks.append(out.to_ndarray().reshape(-1))
            self._total += self._chunks[-1].size


def read_audio(
    path: Path, *, max_s: float = MAX_AUDIO_S, gate: AbstractContextManager | None = None
) -> AudioTrack:
    """The first audio track in a pass of its own (demuxing only the audio stream skips the
    video packets without decoding them). ``gate`` is held around each packet (as the picture
    pass holds it around each frame). Never raises: a file that cannot be opened is an
    ``error`` with no audio."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        return AudioTrack(None, f"cannot open the audio ({exc})")
    with container:
        decoder = AudioDecoder(max_s=max_s)
        decoder.open(container)
        if decoder.stream is None:
            return decoder.finish()
        try:
            packets = container.demux(decoder.stream)
            while not decoder.done:
                with gate or nullcontext():
                    packet = next(packets, None)
                    if packet is None:
                        break
                    decoder.feed(packet)
        except av.error.FFmpegError as exc:
            decoder.fail(f"audio failed to decode ({exc})")
        return decoder.finish()
