"""A line of what a video says: speech recognised, or subtitles read (embedded or a sidecar).

The unit the indexer produces and the library stores, one row per line, full-text indexed by
the database itself. Times are seconds from the start of the video.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_SUBTITLES = "subtitles"  # a text subtitle stream inside the video file
SOURCE_SIDECAR = "sidecar"  # name.srt / name.vtt / name.ass (name.en.srt...) next to the video
SOURCE_SPEECH = "speech"  # recognised by the speech model
SOURCES = (SOURCE_SUBTITLES, SOURCE_SIDECAR, SOURCE_SPEECH)


@dataclass(frozen=True)
class TranscriptLine:
    start_s: float
    end_s: float
    text: str
    source: str  # one of SOURCES
    language: str | None = None  # a BCP 47 / ISO 639 tag when known ("en"), else None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown transcript source {self.source!r}")
        if self.end_s < self.start_s:
            raise ValueError(f"a line cannot end ({self.end_s}) before it starts ({self.start_s})")
