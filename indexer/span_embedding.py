"""Embed any stretch of any video file on the fly, the way the indexer embeds its clips.

``clipdex similar FILE [--start S --end E]`` needs the query's video embedding without
indexing the file. The span is decoded once, cut into equal parts no longer than the library's
longest clip, each part sampled (segment midpoints) and preprocessed exactly like an indexed
clip, and the parts' unit embeddings are averaged: a 10 s span is then one clip, exactly as the
indexer would embed it, and a longer one is the mean of its clip-sized pieces.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.embed import ClipEncoder
from indexer.errors import DecodeStopped, VideoOpenError
from indexer.frames import center_crop, decode_frames
from indexer.preprocess import to_pixel_values
from indexer.probe import probe
from indexer.sampling import SamplingPlan
from indexer.segment import sample_times


@dataclass(frozen=True)
class SpanEmbedding:
    """The unit video embedding of ``path`` over [start_s, end_s] (the span actually decoded)."""

    path: Path
    start_s: float
    end_s: float
    embedding: np.ndarray


def embed_span(
    path: Path,
    encoder: ClipEncoder,
    plan: SamplingPlan,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> SpanEmbedding:
    """Decode ``path`` from ``start_s`` to ``end_s`` (default: its end) and embed that span.

    Raises VideoOpenError when the file cannot be decoded or has no frame in the span.
    """
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise ValueError(f"invalid span {start_s}..{end_s}: need 0 <= start < end")
    if end_s is None:
        end_s = probe(path).duration_s
    if end_s <= start_s:
        raise VideoOpenError(str(path), f"the video ends before {start_s:g} s")
    interval = _keep_interval(plan, start_s, end_s)
    times, frames, decoded_end = _frames_between(path, plan, start_s, end_s, interval)
    if not frames:
        raise VideoOpenError(str(path), f"no frames between {start_s:g} s and {end_s:g} s")
    if decoded_end < end_s and _keep_interval(plan, start_s, decoded_end) < 0.9 * interval:
        # The file holds less than its header said (a flipped bit in an AVI's frame count, a
        # cut-off download): decode again, keeping frames as densely as that length needs.
        end_s = decoded_end
        interval = _keep_interval(plan, start_s, end_s)
        times, frames, _ = _frames_between(path, plan, start_s, end_s, interval)
    last = min(end_s, times[-1] + interval)
    parts = _parts(plan, start_s, last)
    span_start = start_s
    bounds = np.linspace(span_start, last, parts + 1)
    stamps = np.asarray(times)
    clips = []
    for lo, hi in itertools.pairwise(bounds):
        picks = [
            int(np.abs(stamps - t).argmin()) for t in sample_times((lo, hi), plan.frames_per_clip)
        ]
        clips.append(np.stack([frames[i] for i in picks]))
    spec = encoder.preprocess
    embeddings, _ = encoder.encode_clips(to_pixel_values(clips, spec.mean, spec.std))
    mean = embeddings.mean(axis=0)
    return SpanEmbedding(path, float(span_start), float(last), mean / np.linalg.norm(mean))


def _parts(plan: SamplingPlan, start_s: float, end_s: float) -> int:
    """Equal parts no longer than the library's longest clip."""
    return max(1, math.ceil((end_s - start_s) / plan.rules.max_clip_s - 1e-9))


def _keep_interval(plan: SamplingPlan, start_s: float, end_s: float) -> float:
    """Four frames per sample slot, as the indexer keeps, but never more: memory stays bounded
    by the number of samples, however long the span is."""
    slots = _parts(plan, start_s, end_s) * plan.frames_per_clip * 4
    return max(plan.keep_interval_s, (end_s - start_s) / slots)


def _frames_between(
    path: Path, plan: SamplingPlan, start_s: float, end_s: float, interval_s: float
) -> tuple[list[float], list[np.ndarray], float]:
    """Cropped frames in the span, at most one per ``interval_s``, and where the decoded
    frames ended (the last one's time plus one frame interval; ``end_s`` at the latest)."""
    times: list[float] = []
    frames: list[np.ndarray] = []
    decoded = [0.0, 0.0]  # the last two decoded frame times
    try:
        for frame in decode_frames(path, plan.shortest_edge):
            if frame.time_s > end_s:
                return times, frames, end_s  # sequential: nothing later falls in the span
            decoded = [decoded[1], frame.time_s]
            if frame.time_s < start_s - interval_s:
                continue
            if times and frame.time_s - times[-1] < interval_s:
                continue
            times.append(frame.time_s)
            frames.append(center_crop(frame.rgb, plan.crop_size))
    except DecodeStopped:
        pass  # cut off or damaged midway: the span is what decoded, as the indexer keeps it
    return times, frames, min(end_s, decoded[1] + max(decoded[1] - decoded[0], 0.0))
