"""A larger generated duplicate set for ``benchmarks/dedup.py``: random copies of random videos.

Each of ``sources`` synthetic videos (soft colour blobs, 6 s, a different seed each) gets one
copy made by a randomly chosen transformation: re-encoded at low quality, half size, greyscale,
10 % crop, letterbox/pillarbox, the first 1.5 s trimmed (all near-duplicates), or a 3 s excerpt
(a reused segment). As many unrelated distractors are added, half of them opening on 2 s of
black, so the shared black intro is tested at scale too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support.dedup_set import (
    DedupSet,
    Planted,
    _black_then,
    blobs,
    crop_10,
    grayscale,
    half_size,
    letterbox,
    transformed,
)

SOURCE_S = 6.0
_CHANGES = {"half": half_size, "gray": grayscale, "crop": crop_10, "letterbox": letterbox}


def build_generated_set(folder: Path, sources: int, seed: int = 0) -> DedupSet:
    folder.mkdir(parents=True, exist_ok=True)
    scratch = folder.parent / f"{folder.name}-parts"
    scratch.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    kinds = ["low", "trim", "excerpt", *_CHANGES]
    planted: list[Planted] = []
    for index in range(sources):
        name = f"source{index:03d}.mp4"
        source = blobs(folder / name, SOURCE_S, seed=1000 + index)
        kind = kinds[int(rng.integers(len(kinds)))]
        copy = f"copy{index:03d}_{kind}.mp4"
        whole = (0.0, SOURCE_S)
        if kind == "low":
            transformed(folder / copy, source, crf=42)
            planted.append(Planted("near_duplicate", name, copy, whole, whole))
        elif kind == "trim":
            transformed(folder / copy, source, skip_s=1.5)
            planted.append(Planted("near_duplicate", name, copy, (1.5, SOURCE_S), (0.0, 4.5)))
        elif kind == "excerpt":
            transformed(folder / copy, source, skip_s=2.0, until_s=5.0)
            planted.append(Planted("segment", name, copy, (2.0, 5.0), (0.0, 3.0)))
        else:
            transformed(folder / copy, source, _CHANGES[kind])
            planted.append(Planted("near_duplicate", name, copy, whole, whole))
    distractors = []
    for index in range(sources):
        name = f"other{index:03d}.mp4"
        body = blobs(scratch / name, 4.0, seed=5000 + index)
        if index % 2:
            _black_then(folder / name, scratch, body, fps=24)
        else:
            body.rename(folder / name)
        distractors.append(name)
    return DedupSet(folder, tuple(planted), tuple(distractors))
