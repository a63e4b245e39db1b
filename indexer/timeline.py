"""The zero of a file's times: clip times count from the video stream's first timestamp
(indexer/frames.py), so subtitles and speech are shifted onto the same timeline."""

from __future__ import annotations


def stream_start_s(stream) -> float:
    if stream is None or stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def video_origin_s(container) -> float:
    """Where clip time 0 is, in container seconds: the first video stream's start (not an
    attached cover picture), else 0 (an audio-only file)."""
    import av

    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream_start_s(stream)
    return 0.0
