"""What a user may narrow a search with, checked once for the CLI and the HTTP API.

``--in``/``in``, ``--after``/``after``, ``--before``/``before``, ``--min-duration``/
``min_duration``, ``--max-duration``/``max_duration``, ``--min-score``/``min_score`` and
``--not``/``not`` arrive as text or numbers; this module turns them into the library's
``VideoFilter`` and search options, or raises FilterError naming the parameter, which the CLI
prints as one usage line and the API returns as a 422 in FastAPI's validation shape.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.search_reads import VideoFilter

DATE_HELP = "YYYY-MM-DD or ISO 8601 (2024-05-01T18:30+02:00); without a zone, local time"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class FilterError(ValueError):
    """A search parameter that cannot be used; ``field`` is its API name (``min_duration``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    @property
    def option(self) -> str:
        """The CLI option's name: ``--min-duration``."""
        return "--" + self.field.replace("_", "-")


@dataclass(frozen=True)
class Narrowing:
    """The checked parameters: what search_text's options take besides k and rerank."""

    only: VideoFilter | None
    negatives: tuple[str, ...]
    min_score: float | None


def parse_time(field: str, text: str) -> datetime:
    """A moment from ``YYYY-MM-DD`` or a full ISO 8601 time; a time without a zone (a bare
    date included) is the local time, as a user reading their own clock means it."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(field, f"not a date: {text!r} (expected {DATE_HELP})") from None
    return moment if moment.tzinfo is not None else moment.astimezone()


def epoch_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch, exactly (microsecond resolution), like a file's mtime_ns."""
    return (moment - _EPOCH) // _MICROSECOND * 1000


def _seconds(field: str, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise FilterError(field, f"must be a number of seconds, 0 or more (got {value})")
    return value


def _folders(texts: Iterable[str]) -> tuple[str, ...]:
    folders = []
    for text in texts:
        if not text or not os.path.isabs(text):
            raise FilterError("in", f"must be an absolute path (got {text!r})")
        folders.append(os.path.normpath(text))
    return tuple(folders)


def video_filter(
    *,
    folders: Iterable[str] = (),
    after: str | None = None,
    before: str | None = None,
    min_duration_s: float | None = None,
    max_duration_s: float | None = None,
) -> VideoFilter | None:
    """The filter these parameters describe, or None when they describe none."""
    start = parse_time("after", after) if after is not None else None
    end = parse_time("before", before) if before is not None else None
    if start is not None and end is not None and start >= end:
        raise FilterError("after", f"{after} is not earlier than the before date {before}")
    shortest = _seconds("min_duration", min_duration_s)
    longest = _seconds("max_duration", max_duration_s)
    if shortest is not None and longest is not None and shortest > longest:
        raise FilterError(
            "min_duration", f"{shortest:g} s is more than the max duration {longest:g} s"
        )
    wanted = VideoFilter(
        folders=_folders(folders),
        after_ns=epoch_ns(start) if start is not None else None,
        before_ns=epoch_ns(end) if end is not None else None,
        min_duration_s=shortest,
        max_duration_s=longest,
    )
    return wanted if wanted else None


def narrowing(
    *,
    negatives: Iterable[str] = (),
    min_score: float | None = None,
    folders: Iterable[str] = (),
    after: str | None = None,
    before: str | None = None,
    min_duration_s: float | None = None,
    max_duration_s: float | None = None,
) -> Narrowing:
    """Check every narrowing parameter of a search; raises FilterError on the first bad one."""
    texts = tuple(text.strip() for text in negatives)
    if any(not text for text in texts):
        raise FilterError("not", "a negative text cannot be empty")
    if min_score is not None and not math.isfinite(min_score):
        raise FilterError("min_score", f"must be a finite number (got {min_score})")
    only = video_filter(
        folders=folders,
        after=after,
        before=before,
        min_duration_s=min_duration_s,
        max_duration_s=max_duration_s,
    )
    return Narrowing(only, texts, min_score)
