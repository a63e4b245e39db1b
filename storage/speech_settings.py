"""What the library remembers about speech: whether it is on (and in which mode), the model it
was turned on with, and which videos have been considered with it on."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import LIBRARY_ROW_ID, LibraryRow, Video


@dataclass(frozen=True)
class SpeechSetting:
    mode: str  # off, auto or always (indexer.text_sources.SPEECH_MODES)
    model: str | None  # the faster-whisper name or folder; None: the default


def speech_setting(*, session: Session) -> SpeechSetting:
    """The library's speech setting; off for a library never bound."""
    row = session.execute(
        select(LibraryRow.speech_mode, LibraryRow.speech_model).where(
            LibraryRow.id == LIBRARY_ROW_ID
        )
    ).one_or_none()
    if row is None:
        return SpeechSetting("off", None)
    return SpeechSetting(row.speech_mode or "off", row.speech_model)


def set_speech_setting(setting: SpeechSetting, *, session: Session) -> None:
    """Remember ``setting``; the library must be bound (``Library.bind``) first."""
    result = session.execute(
        update(LibraryRow)
        .where(LibraryRow.id == LIBRARY_ROW_ID)
        .values(speech_mode=setting.mode, speech_model=setting.model)
    )
    if result.rowcount == 0:
        raise RuntimeError("the speech setting is stored once the library is bound")


def set_speech_checked(video_id: int, checked: bool, *, session: Session) -> None:
    session.execute(update(Video).where(Video.id == video_id).values(speech_checked=checked))
