"""Why FFmpeg could not read a file, in words about the file.

FFmpeg's demuxers return error codes that name something else: a Matroska file cut inside its
header fails with ``EIO`` ("Input/output error"), a YUV4MPEG header claiming 60000x60000 with
``EBUSY`` ("Device or resource busy"). Shown as they are, they send users to check their disks.
The file's own framing (``indexer.declared_size``) and FFmpeg's log line say what is wrong:
truncated, too large, corrupt.
"""

from __future__ import annotations

import contextlib
import errno
import re
from pathlib import Path

import av

from indexer.declared_size import declared_size

# Pictures larger than this are refused before decoding: one 4:2:0 frame of it is 200 MB, and
# the decoder holds several. 16384 x 8192 (16K panoramas) still passes; FFmpeg's own limit is
# about twice this (its ``av_image_check_size``).
MAX_PIXELS = 1 << 27

# Errors about reaching the file, not about what is in it.
_FILE_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP}
)
_PICTURE_SIZE = re.compile(r"[Pp]icture size (\d+)x(\d+) is invalid")


def too_large(width: int, height: int) -> str:
    return f"too large ({width}x{height} pixels; the limit is {MAX_PIXELS / 1e6:.0f} megapixels)"


def truncation(path: Path) -> str | None:
    """ "truncated (N of M bytes)" when the file is shorter than its container declares."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    declared = declared_size(path)
    if declared is None or declared <= size:
        return None
    return f"truncated ({size} of {declared} bytes)"


def open_failure(path: Path, exc: av.error.FFmpegError) -> str:
    """The reason ``av.open(path)`` raised ``exc``, about the file rather than FFmpeg's errno."""
    if exc.errno in _FILE_ERRNOS:
        return f"cannot read ({exc.strerror or exc})"
    if cut := truncation(path):
        return f"not a readable video: {cut}"
    if isinstance(exc, av.error.InvalidDataError):
        return "not a readable video (invalid or unknown data)"
    said = _ffmpeg_says(path)
    if match := _PICTURE_SIZE.search(said):
        width, height = int(match[1]), int(match[2])
        if width * height > MAX_PIXELS:
            return too_large(width, height)
        return f"not a readable video (corrupt header: picture size {width}x{height})"
    if isinstance(exc, EOFError) or "ended prematurely" in said:
        return "not a readable video: truncated (the data ends inside its header)"
    if said:
        return f"not a readable video (corrupt: {said})"
    return f"not a readable video (corrupt or unsupported; FFmpeg error {exc.errno})"


def _ffmpeg_says(path: Path) -> str:
    """FFmpeg's last error message when opening ``path``, by opening it again with its log
    captured. PyAV keeps FFmpeg's logging off, because log calls from decoder threads can
    deadlock with the GIL; it is turned on only here, for one failed open, with no decoder
    running in this thread."""
    previous, skipping = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)  # the same file failing twice must be heard twice
    try:
        with av.logging.Capture(local=True) as logs:
            with contextlib.suppress(av.error.FFmpegError):
                av.open(str(path), metadata_errors="ignore").close()
    finally:
        av.logging.set_skip_repeated(skipping)
        av.logging.set_level(previous)
    errors = [message.strip() for level, _, message in logs if level <= av.logging.ERROR]
    return errors[-1] if errors else ""
