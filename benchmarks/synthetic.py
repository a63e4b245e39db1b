"""Synthetic clip embeddings and text queries with the geometry that matters for recall.

Random Gaussian vectors are the wrong test data: they have no structure, so every ANN index
looks equally bad, and queries drawn from the data make every index look good. CLIP-style
embeddings sit in a narrow cone (a shared mean direction), clips of one video cluster around
the video, videos around topics; text queries sit in *another* cone (the modality gap) and reach
their best clip with a cosine of only about 0.2-0.3. Both are modelled here, deterministically.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CLIPS_PER_VIDEO = 30
TOPICS = 2000


class EmbeddingSpace:
    """A seeded space of topics, videos and clips; query targets are drawn from it."""

    def __init__(self, dim: int = 512, seed: int = 0) -> None:
        self.dim = dim
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.video_mean = _unit(rng.standard_normal(dim))
        text = rng.standard_normal(dim)
        text -= (text @ self.video_mean) * self.video_mean  # the modality gap: another cone
        self.text_mean = _unit(text)
        self.topics = _unit(rng.standard_normal((TOPICS, dim))).astype(np.float32)

    def clips(self, n: int, videos_per_chunk: int = 2048) -> Iterator[np.ndarray]:
        """``n`` unit clip embeddings (float32), in chunks; the same ``n`` gives the same data."""
        chunk = videos_per_chunk * CLIPS_PER_VIDEO  # no video spans two chunks
        for start in range(0, n, chunk):
            yield self._clip_chunk(start, min(n, start + chunk))

    def _clip_chunk(self, start: int, stop: int) -> np.ndarray:
        videos = np.arange(start, stop) // CLIPS_PER_VIDEO
        rng = np.random.default_rng([self.seed, start])
        topic = self.topics[videos % TOPICS]
        count = videos[-1] - videos[0] + 1
        video = _unit(rng.standard_normal((count, self.dim), dtype=np.float32))
        video = video[videos - videos[0]]
        noise = rng.standard_normal((stop - start, self.dim), dtype=np.float32)
        noise /= np.sqrt(self.dim)
        x = 0.75 * self.video_mean + 0.45 * topic + 0.35 * video + 0.3 * noise
        return _unit(x).astype(np.float32)

    def queries(self, n: int, target_cosine: float = 0.25, seed: int = 1) -> np.ndarray:
        """``n`` unit text queries, each aimed at a topic from the text cone, so that the best
        clip scores about ``target_cosine`` (out of distribution, like real text queries)."""
        rng = np.random.default_rng([self.seed, seed])
        topic = self.topics[rng.integers(0, TOPICS, n)]
        noise = rng.standard_normal((n, self.dim)) / np.sqrt(self.dim)
        # The topic weight sets the best cosine; 0.45 is the topic's weight inside a clip.
        weight = target_cosine / 0.45
        q = 0.8 * self.text_mean + weight * topic + 0.5 * noise
        return _unit(q).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)
