"""The per-file stages, in one place: decode once, cut, sample, hash, and the audio track.

Every executor runs a file through ``file_stages``: the local decode worker (streaming its
clips to the model as they come), the in-process decoder, and Ray's decode tasks. A stage that
works on one file joins here, and its output goes into ``Decoded``, which travels to the driver
with the file's clips: the audio track wanted for speech is decoded in the pictures' pass, and
on a Ray cluster its speech is recognised here too (the samples then stay on the worker).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from indexer.audio import AudioDecoder, AudioTrack, read_audio
from indexer.errors import DecodeStopped
from indexer.framehash import FrameHasher, FrameHashes
from indexer.listening import Heard, SpeechRecognizer, listen
from indexer.sampling import ClipFrames, SamplingPlan, iter_clips


@dataclass(frozen=True)
class Streams:
    """What a file's pass decodes: its pictures (False for an audio-only file), and its first
    audio track (when the text stage wants its speech)."""

    pictures: bool = True
    audio: bool = False


PICTURES = Streams()


@dataclass(frozen=True)
class Decoded:
    """How a file's decoding ended: its frames' perceptual hashes, and ``stopped``, the reason
    decoding failed midway (None when it reached the end). The clips of the frames before such
    a failure were sent. When the audio was asked for: ``audio``, the decoded track, or
    ``heard``, its speech when a recogniser was given (then ``audio`` is None)."""

    hashes: FrameHashes
    stopped: str | None = None
    audio: AudioTrack | None = None
    heard: Heard | None = None


def file_stages(
    path: Path,
    plan: SamplingPlan,
    fps_hint: float,
    *,
    gate: AbstractContextManager | None = None,
    streams: Streams = PICTURES,
    recognizer: SpeechRecognizer | None = None,
) -> Iterator[ClipFrames | Decoded]:
    """Each clip of ``path`` as it is cut and sampled, then one ``Decoded`` (always last).

    Raises VideoOpenError when the file's pictures cannot be decoded at all; ``gate`` is held
    around each decoded frame or audio packet (the local decoder's turns with the model).
    The audio's packets come from the same demux loop as the pictures' (one read of the file,
    no second open and seek through it); a broken audio track is a note in ``audio.error``.
    """
    hasher = FrameHasher()
    stopped = None
    track = None
    if streams.pictures:
        audio = AudioDecoder() if streams.audio else None
        try:
            yield from iter_clips(path, plan, fps_hint, on_frame=hasher, gate=gate, audio=audio)
        except DecodeStopped as exc:
            stopped = exc.reason
        track = audio.finish() if audio is not None else None
    elif streams.audio:
        track = read_audio(path, gate=gate)
    heard = None
    if track is not None and recognizer is not None:
        heard, track = listen(track, recognizer), None
    yield Decoded(hasher.result, stopped, track, heard)
