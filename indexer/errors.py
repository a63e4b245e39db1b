"""Typed errors of the indexer; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class VideoOpenError(Exception):
    """A file could not be read as a video. ``reason`` is short and human readable."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DecodeStopped(VideoOpenError):
    """Decoding failed after ``time_s`` seconds of frames were decoded: what came before is
    usable (a truncated or damaged file). Raised after the frames before the failure."""

    def __init__(self, path: str, reason: str, time_s: float) -> None:
        super().__init__(path, reason)
        self.time_s = time_s
