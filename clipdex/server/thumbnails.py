"""A JPEG per clip, taken from the frame at the clip's middle and cached in the library.

Generated on first request with PyAV (seek to the keyframe before the middle, decode forward to
it) and written to ``<library>/thumbs/`` atomically, so concurrent requests and a crash never
leave a half-written JPEG that later requests would serve.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

THUMBS_DIRNAME = "thumbs"
WIDTH = 320
QUALITY = 80


class ThumbnailError(Exception):
    """The video could not be decoded at the clip's middle."""


class Thumbnails:
    """The thumbnail cache of one library folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._busy: dict[str, threading.Lock] = {}

    def path_for(self, clip_id: int, mtime_ns: int) -> Path:
        """The cache file: keyed by the video's mtime too, so a changed file gets a new one."""
        return self.folder / f"{clip_id}-{mtime_ns}.jpg"

    def get(
        self, clip_id: int, mtime_ns: int, video: Path, time_s: float, rotation: int = 0
    ) -> Path:
        """The cached JPEG for this clip, made now if it does not exist yet."""
        target = self.path_for(clip_id, mtime_ns)
        if target.exists():
            return target
        with self._lock:
            busy = self._busy.setdefault(target.name, threading.Lock())
        with busy:  # one decode per clip even when the page asks for it twice at once
            if not target.exists():
                self._write(target, render_jpeg(video, time_s, rotation))
        with self._lock:
            self._busy.pop(target.name, None)
        return target

    def _write(self, target: Path, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".thumb-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def render_jpeg(video: Path, time_s: float, rotation: int = 0, width: int = WIDTH) -> bytes:
    """JPEG bytes of the frame shown at ``time_s`` (the last frame if the video ends first),
    upright, ``width`` pixels wide."""
    import av

    from indexer.pyav_versions import OPEN_OPTIONS

    try:
        with av.open(str(video), **OPEN_OPTIONS) as container:
            stream = container.streams.video[0]
            frame = _frame_at(container, stream, time_s)
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise ThumbnailError(f"{video}: cannot decode a frame at {time_s:.3f}s ({exc})") from exc
    if frame is None:
        raise ThumbnailError(f"{video}: no frame at {time_s:.3f}s")
    image = frame.to_image()
    if rotation:
        # ``rotation`` is clockwise (as the indexer applies it); PIL rotates counter-clockwise.
        image = image.rotate(-rotation, expand=True)
    height = max(1, round(image.height * width / image.width))
    image = image.resize((width, height))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=QUALITY)
    return out.getvalue()


def _frame_at(container, stream, time_s: float):
    """The first frame at or after ``time_s``, else the last one decoded."""
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    target = start + max(0.0, time_s)
    # Seeking lands on the keyframe before the target; decoding forward reaches the target.
    container.seek(int(target / stream.time_base), stream=stream, backward=True)
    last = None
    for frame in container.decode(stream):
        if frame.time is not None and frame.time >= target - 1e-3:
            return frame
        last = frame
    return last
