"""The text stage of indexing, between the text sources and the library: read a file's text
before its clips are committed, store it in the same transaction, reuse it for moves and exact
copies, and bring it up to date for files whose pictures did not change (a sidecar added,
changed or removed since; speech turned on for a library already indexed).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session

from indexer.file_stages import Decoded, Streams
from indexer.probe import VideoInfo
from indexer.text_sources import SPEECH_OFF, TextReader, TextResult
from storage import speech_settings
from storage import transcripts as transcript_repo
from storage.models import STATUS_INDEXED, Video
from storage.transcript import SOURCE_SIDECAR

logger = logging.getLogger(__name__)


class TextStage:
    """Reads and stores the text of the files an indexer commits (``indexer.pipeline``)."""

    def __init__(self, reader: TextReader | None = None) -> None:
        self.reader = reader or TextReader(SPEECH_OFF)

    def streams(self, path: Path, info: VideoInfo) -> Streams:
        """What the pass over a new or changed file decodes: its pictures unless it is an
        audio-only file, its audio too when its speech is wanted (``info``: its probe)."""
        audio = self.reader.wants_audio(
            path, has_audio=info.has_audio, text_subtitles=info.text_subtitles
        )
        return Streams(pictures=not info.audio_only, audio=audio)

    def read(self, path: Path, decoded: Decoded | None = None) -> TextResult:
        """A new or changed file's text, read before its commit (speech takes a while), with
        the audio or speech that came back from its pass (``decoded``) when there is some."""
        audio = decoded.audio if decoded is not None else None
        heard = decoded.heard if decoded is not None else None
        result = self.reader.read(path, audio=audio, heard=heard)
        self._account(path, result)
        return result

    def store(self, video_id: int, result: TextResult, *, session: Session) -> None:
        """Store ``result`` as the video's transcript, in the caller's transaction."""
        transcript_repo.replace_transcript(video_id, result.lines, session=session)
        speech_settings.set_speech_checked(video_id, result.speech_checked, session=session)

    def copy(self, source: Video, target_id: int, *, session: Session) -> None:
        """An exact copy says what its original says."""
        transcript_repo.copy_transcript(source.id, target_id, session=session)
        speech_settings.set_speech_checked(target_id, source.speech_checked, session=session)

    def forget_folder(self, folder: Path) -> None:
        """A sidecar in ``folder`` appeared, changed or left: list it again."""
        self.reader.sidecars.forget(folder)

    def refresh(self, video: Video, session_factory) -> TextResult | None:
        """Bring the text of an indexed file whose pictures are unchanged up to date: its
        sidecar lines from the sidecars there now, and its speech if speech is on and the file
        was never listened to. Returns what was stored, None when nothing changed."""
        if video.status != STATUS_INDEXED:
            return None
        path = Path(video.path)
        listen = self.reader.speech_on and not video.speech_checked
        with session_factory() as session:
            stored = transcript_repo.transcript_of(video.id, session=session)
        notes: list[str] = []
        sidecar_now = self.reader.read_sidecars(path, notes)
        sidecar_then = [line for line in stored if line.source == SOURCE_SIDECAR]
        if not listen and sidecar_now == sidecar_then:
            return None
        if listen:
            result = self.reader.read(path)
            self._account(path, result)
        else:
            result = TextResult(
                lines=[line for line in stored if line.source != SOURCE_SIDECAR] + sidecar_now,
                notes=notes,
                speech_checked=video.speech_checked,
            )
            self._account(path, result)
            logger.info("subtitles of %s changed: %d sidecar lines", path, len(sidecar_now))
        with session_factory() as session, session.begin():
            self.store(video.id, result, session=session)
        return result

    def _account(self, path: Path, result: TextResult) -> None:
        for note in result.notes:
            logger.warning("note %s: %s", path, note)
