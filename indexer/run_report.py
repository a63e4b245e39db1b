"""What an indexing run tells its caller: progress callbacks as it goes, a report at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class IndexObserver:
    """Progress callbacks; the CLI draws bars from them. The default does nothing."""

    def start(self, total_files: int) -> None: ...

    def file_started(self, path: Path, duration_s: float) -> None: ...

    def clips_encoded(self, count: int, video_s: float) -> None: ...

    def file_done(self, path: Path, outcome: str, detail: str = "") -> None:
        """``detail``: the clip count of an indexed file (digits), the reason of a failure or of a
        partial file (indexed as far as it could be read), the old path of a moved file, the
        source of a copy."""


@dataclass
class IndexReport:
    """What a run did; ``failed`` holds (path, reason) pairs (files, and folders that could
    not be listed); ``partial`` the same for files indexed only as far as they could be read
    (counted in ``indexed`` too); ``unavailable`` maps a root that is empty or missing (a share
    that is not mounted) to how many of its videos were kept although their files are not there."""

    indexed: int = 0
    skipped: int = 0
    moved: int = 0
    removed: int = 0
    clips_added: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    partial: list[tuple[str, str]] = field(default_factory=list)
    unavailable: dict[str, int] = field(default_factory=dict)
    # The text stage's counts (indexer/text_stage.py): files whose speech was recognised, and
    # (path, note) pairs on audio or subtitles that were skipped or failed (pictures indexed).
    transcribed: int = 0
    notes: list[tuple[str, str]] = field(default_factory=list)
