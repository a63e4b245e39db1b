"""Probe a file with PyAV: is it a video, and what are its duration, rate, size and rotation."""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass
from pathlib import Path

import av

from indexer.declared_size import declared_size
from indexer.diagnosis import MAX_PIXELS, open_failure, too_large, truncation
from indexer.discover import AUDIO_EXTENSIONS
from indexer.errors import VideoOpenError
from indexer.pyav_versions import OPEN_OPTIONS
from indexer.subtitle_streams import TEXT_CODECS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video stream. Sizes are as displayed (after rotation)."""

    duration_s: float
    fps: float
    width: int
    height: int
    codec: str
    rotation: int  # clockwise degrees applied for display (0, 90, 180, 270)
    # Bytes the container's framing declares (None: it does not say); more than the file's
    # size means the file was cut off (indexer/declared_size.py).
    declared_bytes: int | None = None
    # Whether ``duration_s`` is the video stream's own, not the container's (which also covers
    # audio that may run longer than the picture).
    duration_is_video: bool = True
    # Whether it has an audio track, and a text subtitle stream: what the text stage needs to
    # know before decoding, to decode the audio in the pictures' pass when speech is wanted.
    has_audio: bool = False
    text_subtitles: bool = False
    # An audio-only file (no pictures: width, height and fps are 0), indexed for its speech.
    audio_only: bool = False


def open_container(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading, turning PyAV's errors into a VideoOpenError with a reason."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            # FFmpeg would block opening a FIFO until a writer comes, or read a device forever.
            raise VideoOpenError(str(path), "not a regular file (a pipe, socket or device)")
        if status.st_size == 0:
            raise VideoOpenError(str(path), "empty file")
        return av.open(str(path), **OPEN_OPTIONS)
    except VideoOpenError:
        raise
    except av.error.FFmpegError as exc:
        raise VideoOpenError(str(path), open_failure(path, exc)) from None
    except OSError as exc:
        raise VideoOpenError(str(path), f"cannot read ({exc.strerror or exc})") from None


def display_rotation(frame: av.VideoFrame) -> int:
    """Clockwise degrees (0/90/180/270) to turn a decoded frame upright for display.

    PyAV reports the display matrix as a counter-clockwise angle; phone footage tagged
    ``rotate=90`` decodes sideways with ``frame.rotation == -90``.
    """
    return round(-(frame.rotation or 0) / 90) * 90 % 360


def _first_frame(container: av.container.InputContainer, stream, path: Path) -> av.VideoFrame:
    """Decode one frame: proves the stream decodes and carries the rotation side data."""
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        cut = truncation(path)
        said = exc.strerror or exc
        reason = f"not a readable video: {cut}" if cut else f"cannot decode video ({said})"
        raise VideoOpenError(str(path), reason) from None
    cut = truncation(path)
    reason = f"not a readable video: {cut}" if cut else "video stream holds no decodable frame"
    raise VideoOpenError(str(path), reason)


def check_picture_size(ctx: av.codec.context.CodecContext, path: Path) -> None:
    """Refuse pictures over MAX_PIXELS before decoding one (a hostile header can claim any
    size) and streams that state no size at all."""
    if not ctx.width or not ctx.height:
        raise VideoOpenError(str(path), "video stream has no frame size (corrupt header)")
    if ctx.width * ctx.height > MAX_PIXELS:
        raise VideoOpenError(str(path), too_large(ctx.width, ctx.height))


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first real video stream (not an attached cover picture), or VideoOpenError."""
    for stream in container.streams.video:
        if stream.disposition & av.stream.Disposition.attached_pic:
            continue
        return stream
    if cut := truncation(path):  # cut off before the stream headers
        raise VideoOpenError(str(path), f"not a readable video: {cut}")
    kinds = sorted({s.type for s in container.streams})
    what = f"only {', '.join(kinds)}" if kinds else "no streams"
    raise VideoOpenError(str(path), f"no video stream ({what})")


def stream_duration_s(container: av.container.InputContainer, stream) -> float:
    """Duration from the stream, else the container; 0.0 when neither knows."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


# FFmpeg opens still images and plain text as one-frame "videos" (image2, *_pipe, tty).
_NOT_VIDEO_FORMATS = frozenset({"image2", "tty", "gif", "apng", "webp_pipe"})


def _check_format(container: av.container.InputContainer, path: Path) -> None:
    names = set((container.format.name or "").split(","))
    if names & _NOT_VIDEO_FORMATS or any(n.endswith("_pipe") for n in names):
        raise VideoOpenError(str(path), f"not a video (an image or text: {container.format.name})")


def probe(path: Path) -> VideoInfo:
    """Read the headers of ``path``; raise VideoOpenError if it is not a usable video."""
    with open_container(path) as container:
        _check_format(container, path)
        stream = video_stream(container, path)
        ctx = stream.codec_context
        check_picture_size(ctx, path)
        rotation = display_rotation(_first_frame(container, stream, path))
        width, height = ctx.width, ctx.height
        if rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return VideoInfo(
            duration_s=stream_duration_s(container, stream),
            fps=float(rate) if rate else 0.0,
            width=width,
            height=height,
            codec=ctx.name,
            rotation=rotation,
            declared_bytes=declared_size(path),
            duration_is_video=stream.duration is not None or len(container.streams) == 1,
            has_audio=bool(container.streams.audio),
            text_subtitles=any(
                s.codec_context.name in TEXT_CODECS for s in container.streams.subtitles
            ),
        )


def probe_audio(path: Path) -> VideoInfo:
    """The facts of an audio-only file (an audio stream, no video stream but an attached cover
    picture): its duration and codec, ``audio_only`` set. Raises VideoOpenError otherwise."""
    with open_container(path) as container:
        if any(
            not stream.disposition & av.stream.Disposition.attached_pic
            for stream in container.streams.video
        ):
            raise VideoOpenError(str(path), "not an audio-only file (it has a video stream)")
        if not container.streams.audio:
            kinds = sorted({s.type for s in container.streams})
            what = f"only {', '.join(kinds)}" if kinds else "no streams"
            raise VideoOpenError(str(path), f"no audio stream ({what})")
        stream = container.streams.audio[0]
        return VideoInfo(
            duration_s=stream_duration_s(container, stream),
            fps=0.0,
            width=0,
            height=0,
            codec=stream.codec_context.name,
            rotation=0,
            has_audio=True,
            text_subtitles=any(
                s.codec_context.name in TEXT_CODECS for s in container.streams.subtitles
            ),
            audio_only=True,
        )


def probe_media(path: Path, *, audio: bool = False) -> VideoInfo:
    """``probe``; with ``audio`` (the library has speech on), an audio-only file's facts
    (``probe_audio``) where ``path`` has no video. A file that is neither raises
    VideoOpenError with the video's reason, or the audio's for a file named like audio."""
    try:
        return probe(path)
    except VideoOpenError as exc:
        if not audio:
            raise
        try:
            return probe_audio(path)
        except VideoOpenError as not_audio:
            if path.suffix.lower() in AUDIO_EXTENSIONS:
                raise not_audio from None
            raise exc from None
