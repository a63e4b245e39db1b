"""Retrieval metrics, as the text-to-video literature reports them: pure arithmetic, no model.

Video retrieval: a caption's **rank** is 1 + the number of videos whose best clip scores strictly
higher than the right video's best clip (ties count in the caption's favour, as CLIP4Clip's
``compute_metrics`` does). R@K is the percentage of captions with rank <= K; median and mean
rank are over all captions.

Moment retrieval: a caption's top-n spans **hit** at threshold t when one of them is of the
right video and its temporal IoU with the annotated moment is at least t; R@n at IoU t is the
percentage of captions that hit.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

RECALL_AT = (1, 5, 10)
MOMENT_TOP = (1, 5)
IOU_THRESHOLDS = (0.5, 0.7)
# Span ends are stored floats: an IoU meant to be exactly 0.5 may compute as 0.49999999.
IOU_SLACK = 1e-9

Span = tuple[float, float]


def best_by_video(scored: Iterable[tuple[Hashable, float]]) -> dict[Hashable, float]:
    """Each video's best score, from (video, score) pairs of its clips in any order."""
    best: dict[Hashable, float] = {}
    for video, score in scored:
        if video not in best or score > best[video]:
            best[video] = score
    return best


def video_rank(target: Hashable, best: Mapping[Hashable, float]) -> int:
    """1 + the number of videos scoring strictly higher than ``target``; a target without any
    scored clip ranks last (behind every scored video)."""
    if target not in best:
        return len(best) + 1
    return 1 + sum(1 for score in best.values() if score > best[target])


@dataclass(frozen=True)
class VideoMetrics:
    """Recall at 1, 5, 10 in percent; median and mean rank; over ``queries`` captions."""

    queries: int
    r1: float
    r5: float
    r10: float
    median_rank: float
    mean_rank: float

    def to_json(self) -> dict:
        return {
            "r1": round(self.r1, 4),
            "r5": round(self.r5, 4),
            "r10": round(self.r10, 4),
            "median_rank": self.median_rank,
            "mean_rank": round(self.mean_rank, 4),
        }


def recall_at(ranks: Sequence[int], k: int) -> float:
    """Percentage of ranks that are at most ``k``."""
    if not ranks:
        raise ValueError("no ranks to measure")
    return 100.0 * sum(1 for rank in ranks if rank <= k) / len(ranks)


def video_metrics(ranks: Sequence[int]) -> VideoMetrics:
    """R@1, R@5, R@10, median and mean rank of the right videos' ranks (1 = best)."""
    if not ranks:
        raise ValueError("no ranks to measure")
    if min(ranks) < 1:
        raise ValueError(f"ranks start at 1, got {min(ranks)}")
    r1, r5, r10 = (recall_at(ranks, k) for k in RECALL_AT)
    return VideoMetrics(
        len(ranks), r1, r5, r10, float(statistics.median(ranks)), statistics.fmean(ranks)
    )


def iou(a: Span, b: Span) -> float:
    """Temporal intersection over union of two spans (start, end) in seconds; 0 when they do
    not overlap or either is empty."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def best_iou(moment: Span, spans: Iterable[Span]) -> float:
    """The highest IoU of ``moment`` with any of ``spans`` (0 if there are none)."""
    return max((iou(moment, span) for span in spans), default=0.0)


def moment_metrics(best_ious: Sequence[Mapping[int, float]]) -> dict[str, float]:
    """``{"r1_iou0.5": %, "r1_iou0.7": %, "r5_iou0.5": %, "r5_iou0.7": %}`` from each caption's
    best IoU among its top-n spans of the right video (``best_ious[q][n]``, 0 if none)."""
    if not best_ious:
        raise ValueError("no moments to measure")
    return {
        f"r{n}_iou{t}": 100.0 * sum(1 for q in best_ious if q[n] >= t - IOU_SLACK) / len(best_ious)
        for n in MOMENT_TOP
        for t in IOU_THRESHOLDS
    }
