"""Helpers for tests that build a library directly (without the CLI)."""

from __future__ import annotations

from indexer.segment import SegmentRules
from indexer.shots import DEFAULT_THRESHOLD
from storage.settings import LibrarySettings


def bind_settings(encoder, rules: SegmentRules = SegmentRules()) -> LibrarySettings:
    """The settings a library created with ``encoder`` and ``rules`` records."""
    return LibrarySettings(
        model_id=encoder.model_id,
        embed_dim=encoder.embed_dim,
        frames_per_clip=encoder.frames_per_clip,
        image_size=encoder.image_size,
        feature_tokens=encoder.feature_tokens,
        min_clip_s=rules.min_clip_s,
        max_clip_s=rules.max_clip_s,
        shot_threshold=DEFAULT_THRESHOLD,
    )
