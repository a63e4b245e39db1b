"""Typed errors of the indexer; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class VideoOpenError(Exception):
    """A file could not be read as a video. ``reason`` is short and human readable."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
