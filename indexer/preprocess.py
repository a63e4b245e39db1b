"""Turn sampled uint8 frames into the model's input, vectorised over a whole batch.

Resizing (shortest edge) and center cropping already happened while decoding (indexer.frames);
what is left is the processor's rescale to [0, 1] and ImageNet normalisation, and the layout
``(B, T, 3, H, W)`` that ``XCLIPModel`` expects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def to_pixel_values(
    clips: Sequence[np.ndarray], mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """Stack ``(T, H, W, 3)`` uint8 clips into normalised ``(B, T, 3, H, W)`` float32."""
    batch = np.stack(clips).astype(np.float32)
    scale = 1.0 / (255.0 * np.asarray(std, dtype=np.float32))
    offset = np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)
    batch *= scale
    batch -= offset
    return np.ascontiguousarray(batch.transpose(0, 1, 4, 2, 3))
