"""Helpers for tests that build a library directly (without the CLI)."""

from __future__ import annotations

from clipdex.binding import wanted_settings
from storage.settings import LibrarySettings


def bind_settings(
    encoder, min_clip_s: float | None = None, max_clip_s: float | None = None
) -> LibrarySettings:
    """The settings ``clipdex index`` records for a new library built with ``encoder``."""
    return wanted_settings(encoder, min_clip_s, max_clip_s)
