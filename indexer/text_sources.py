"""The text stage: what a file says, with times, from its subtitles and, when speech is on,
from speech recognition.

Rules (docs/speech.md): sidecar files and embedded text subtitles are always read (cheap, no
model). Speech recognition runs only when the library has speech on: in ``auto`` mode for
files without any subtitle text (subtitles are usually exactly what is said, and recognition
costs far more than reading them), in ``always`` mode for every file with an audio track.
Nothing here raises for a bad track: failures become notes, and the pictures are indexed anyway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from indexer.audio import AudioTrack, read_audio
from indexer.listening import Heard, SpeechRecognizer, listen
from indexer.sidecars import Sidecar, SidecarError, read_sidecar, sidecars_in
from indexer.subtitle_streams import read_subtitle_streams
from storage.transcript import TranscriptLine

SPEECH_OFF = "off"
SPEECH_AUTO = "auto"  # recognise files that have no subtitle text
SPEECH_ALWAYS = "always"  # recognise every file with an audio track
SPEECH_MODES = (SPEECH_OFF, SPEECH_AUTO, SPEECH_ALWAYS)


@dataclass
class TextResult:
    """A file's text lines, the notes on what was skipped or failed, and whether speech was
    recognised (``transcribed``) or considered at all (``speech_checked``: False when speech is
    off, so turning it on later still listens to this file)."""

    lines: list[TranscriptLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    transcribed: bool = False
    speech_checked: bool = False


class SidecarFinder:
    """Finds sidecars, listing each folder once per run (a folder of 10,000 videos would
    otherwise be listed 10,000 times)."""

    def __init__(self) -> None:
        self._listings: dict[Path, list[str]] = {}

    def find(self, video: Path) -> list[Sidecar]:
        folder = video.parent
        if folder not in self._listings:
            try:
                self._listings[folder] = sorted(os.listdir(folder))
            except OSError:
                self._listings[folder] = []
        return sidecars_in(video, self._listings[folder])

    def forget(self, folder: Path) -> None:
        """Drop a folder's listing (the watcher saw it change)."""
        self._listings.pop(folder, None)


class TextReader:
    """Reads the text of one file at a time (the indexer calls it per file)."""

    def __init__(
        self, speech_mode: str = SPEECH_OFF, recognizer: SpeechRecognizer | None = None
    ) -> None:
        if speech_mode not in SPEECH_MODES:
            raise ValueError(f"unknown speech mode {speech_mode!r}")
        if speech_mode != SPEECH_OFF and recognizer is None:
            raise ValueError("speech is on but no speech recognizer was given")
        self.speech_mode = speech_mode
        self.recognizer = recognizer
        self.sidecars = SidecarFinder()

    @property
    def speech_on(self) -> bool:
        return self.speech_mode != SPEECH_OFF

    def wants_audio(self, path: Path, *, has_audio: bool, text_subtitles: bool) -> bool:
        """Whether the pass that decodes a new file's pictures should decode its audio too:
        speech is on, the file has an audio track, and (in ``auto`` mode) neither a sidecar
        nor a text subtitle stream (``text_subtitles``, from its probe) makes listening
        unnecessary."""
        if not self.speech_on or not has_audio:
            return False
        if self.speech_mode == SPEECH_ALWAYS:
            return True
        return not text_subtitles and not self.sidecars.find(path)

    def read(
        self,
        path: Path,
        *,
        listen: bool = True,
        audio: AudioTrack | None = None,
        heard: Heard | None = None,
    ) -> TextResult:
        """Everything ``path`` says. ``listen=False`` reads subtitles only, even with speech
        on (a file whose speech is already stored). ``heard`` is speech recognised already
        (on a Ray worker), ``audio`` the track decoded with the pictures; without either,
        speech that is wanted is decoded in a pass of its own."""
        result = TextResult()
        result.lines.extend(self.read_sidecars(path, result.notes))
        embedded = read_subtitle_streams(path)
        result.lines.extend(embedded.lines)
        result.notes.extend(embedded.notes)
        if self.speech_on and listen:
            result.speech_checked = True
            if self.speech_mode == SPEECH_ALWAYS or not result.lines:
                self._listen(path, result, audio, heard)
        result.lines.sort(key=lambda line: (line.start_s, line.end_s, line.source))
        return result

    def read_sidecars(self, path: Path, notes: list[str]) -> list[TranscriptLine]:
        lines: list[TranscriptLine] = []
        for sidecar in self.sidecars.find(path):
            try:
                lines.extend(read_sidecar(sidecar))
            except SidecarError as exc:
                notes.append(f"sidecar {sidecar.path.name}: {exc.reason}")
        return lines

    def _listen(
        self, path: Path, result: TextResult, audio: AudioTrack | None, heard: Heard | None
    ) -> None:
        if heard is None:
            # The separate pass: the pictures were not decoded now (a file already indexed),
            # or were decoded without the audio (subtitles expected that turned out empty).
            heard = listen(audio if audio is not None else read_audio(path), self.recognizer)
        result.lines.extend(heard.lines)
        result.notes.extend(heard.notes)
        result.transcribed = heard.transcribed
