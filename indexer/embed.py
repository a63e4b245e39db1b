"""The embedding stage: clips' sampled frames in, their video embeddings and features out.

Whatever runs it (the local executor between decoder events, or a Ray actor holding its own
copy of the model) calls ``embed_clips`` with the same encoder type, so the clips come out the
same wherever they were embedded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from indexer.preprocess import to_pixel_values
from indexer.sampling import ClipFrames
from storage.repository import ClipRecord


class PreprocessConfig(Protocol):
    shortest_edge: int
    crop_size: int
    mean: Sequence[float]
    std: Sequence[float]


class ClipEncoder(Protocol):
    """What the indexer needs from the model."""

    frames_per_clip: int
    preprocess: PreprocessConfig

    def encode_clips(
        self, pixels: np.ndarray, *, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and re-rank features; ``threads`` overrides the encoder's thread count."""
        ...


def embed_clips(
    encoder: ClipEncoder, clips: Sequence[ClipFrames], *, threads: int | None = None
) -> list[ClipRecord]:
    """One forward pass over ``clips`` (a batch): each clip's span, embedding and features."""
    spec = encoder.preprocess
    pixels = to_pixel_values([c.frames for c in clips], spec.mean, spec.std)
    embeddings, features = encoder.encode_clips(pixels, threads=threads)
    return [ClipRecord(c.start_s, c.end_s, embeddings[i], features[i]) for i, c in enumerate(clips)]
