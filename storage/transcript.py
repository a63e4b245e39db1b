"""A line of what a video says: speech recognised, or subtitles read (embedded or a sidecar).

The unit the indexer produces and the library stores, one row per line, full-text indexed by
the database itself. Times are seconds from the start of the video.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SOURCE_SUBTITLES = "subtitles"  # a text subtitle stream inside the video file
SOURCE_SIDECAR = "sidecar"  # name.srt / name.vtt / name.ass (name.en.srt...) next to the video
SOURCE_SPEECH = "speech"  # recognised by the speech model
SOURCES = (SOURCE_SUBTITLES, SOURCE_SIDECAR, SOURCE_SPEECH)
# Marks around matched words in the highlighted text the backends return; control characters
# no stored line contains (storage.transcripts.replace_transcript removes them).
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"
_MARKS = re.compile(f"[{MARK_OPEN}{MARK_CLOSE}]")
_MARKED = re.compile(f"{MARK_OPEN}([^{MARK_CLOSE}]*){MARK_CLOSE}")


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


def unmarked(text: str, replacement: str = " ") -> str:
    """``text`` with every mark character replaced (a stored line holds none)."""
    return _MARKS.sub(replacement, text)


@dataclass(frozen=True)
class TranscriptMatch:
    """A line that matched a query: where it is, what it says, and how well it matched.

    ``marks`` are (start, end) character offsets into ``text`` of the words that matched;
    ``coverage`` is the share of the query's words and phrases the line has (phrases always);
    ``run`` the most consecutive tokens of the query, stop words included, that the line says
    in a row (``storage.fulltext.longest_run``: how much of a typed phrase it says verbatim).
    """

    line_id: int
    video_id: int
    path: str
    start_s: float
    end_s: float
    text: str
    source: str
    language: str | None
    score: float
    marks: tuple[tuple[int, int], ...]
    coverage: float = 1.0
    run: int = 0


def _marks(marked: str | None, text: str) -> tuple[tuple[int, int], ...]:
    """Offsets of the marked words, when the highlighted text is the stored text marked."""
    if not marked or unmarked(marked, "") != text:
        return ()
    spans, removed = [], 0
    for found in _MARKED.finditer(marked):
        start = found.start() - removed
        spans.append((start, start + len(found.group(1))))
        removed += 2
    return tuple(spans)


def transcript_match(row, score: float, coverage: float = 1.0, run: int = 0) -> TranscriptMatch:
    """The match of a row (line id, video id, path, start, end, text, source, language,
    the text with MARK_OPEN and MARK_CLOSE around its matched words)."""
    line_id, video_id, path, start_s, end_s, text, source, language, marked = row
    return TranscriptMatch(
        line_id=line_id,
        video_id=video_id,
        path=path,
        start_s=float(start_s),
        end_s=float(end_s),
        text=text,
        source=source,
        language=language,
        score=float(score),
        marks=_marks(marked, text),
        coverage=coverage,
        run=run,
    )
