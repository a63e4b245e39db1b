"""Speech heard in a decoded audio track: the recogniser's lines moved onto the clips' timeline,
with notes on what was cut short or failed.

It runs wherever the track's result goes: in the driver for the local executor (the samples
come back from the decode worker with the file's clips), in the file's own task on a Ray
cluster (``indexer.file_stages`` with a recogniser), so that recognition scales with the cluster.
Nothing here raises for a bad track or a failing model: those become notes, and the pictures
are indexed anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from indexer.audio import MAX_AUDIO_S, AudioTrack
from storage.transcript import TranscriptLine

logger = logging.getLogger(__name__)


class SpeechRecognizer(Protocol):
    """What the indexer needs from the speech model."""

    def transcribe(self, samples: np.ndarray) -> list[TranscriptLine]:
        """Lines recognised in 16 kHz mono float32 ``samples`` (times from the start)."""
        ...


@dataclass(frozen=True)
class Heard:
    """What recognition gave: lines on the clips' timeline, notes, and whether the recogniser
    ran (``transcribed``: also True when it heard nothing)."""

    lines: tuple[TranscriptLine, ...] = ()
    notes: tuple[str, ...] = ()
    transcribed: bool = False


def listen(track: AudioTrack, recognizer: SpeechRecognizer) -> Heard:
    """Recognise the speech of ``track``; a decoding error, a track cut at MAX_AUDIO_S or a
    recogniser that fails is a note."""
    notes = [track.error] if track.error else []
    audio = track.audio
    if audio is None or not audio.samples.size:
        return Heard(notes=tuple(notes))
    if track.truncated:
        notes.append(f"speech recognised in the first {MAX_AUDIO_S / 3600:g} hours only")
    try:
        heard = recognizer.transcribe(audio.samples)
    except Exception as exc:  # noqa: BLE001 - the pictures are indexed whatever the model did
        logger.debug("speech recognition failed", exc_info=True)
        notes.append(f"speech recognition failed ({type(exc).__name__}: {exc})")
        return Heard(notes=tuple(notes))
    shift = audio.start_s
    lines = tuple(
        replace(line, start_s=max(0.0, line.start_s + shift), end_s=max(0.0, line.end_s + shift))
        for line in heard
    )
    return Heard(lines, tuple(notes), transcribed=True)
