"""Text subtitle streams inside a video file (mov_text in MP4, subrip/ass/webvtt in Matroska),
decoded with PyAV. Image subtitles (PGS on Blu-ray, DVB, DVD) carry pictures of text, not text:
they are skipped with a note (reading them would need OCR).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import av

from indexer.timeline import video_origin_s
from storage.transcript import SOURCE_SUBTITLES, TranscriptLine

logger = logging.getLogger(__name__)

TEXT_CODECS = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"})
IMAGE_CODECS = frozenset({"hdmv_pgs_subtitle", "dvb_subtitle", "dvd_subtitle", "xsub"})
# A line whose packet states no duration is shown until the next one, at most this long.
DEFAULT_LINE_S = 4.0


@dataclass
class EmbeddedText:
    """What a file's subtitle streams gave: lines, and notes on what was skipped or failed."""

    lines: list[TranscriptLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_subtitle_streams(path: Path) -> EmbeddedText:
    """Every text subtitle stream's lines (each with its stream's language), in time order.

    Never raises for a bad stream: a file that cannot be opened or a stream that fails to
    decode becomes a note, and the lines read before it are kept.
    """
    result = EmbeddedText()
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        result.notes.append(f"cannot read subtitle streams ({exc})")
        return result
    with container:
        streams = []
        for stream in container.streams.subtitles:
            name = stream.codec_context.name
            if name in TEXT_CODECS:
                streams.append(stream)
            elif name in IMAGE_CODECS:
                result.notes.append(
                    f"image subtitles ({name}, stream {stream.index}) skipped: only text "
                    "subtitles are read"
                )
            else:
                result.notes.append(f"subtitle stream {stream.index} ({name}) skipped: unknown")
        if streams:
            _read_streams(container, streams, result)
    result.lines.sort(key=lambda line: (line.start_s, line.end_s))
    return result


def _read_streams(container, streams, result: EmbeddedText) -> None:
    # One demux pass over the subtitle streams only: the video and audio packets are skipped
    # by the demuxer without being decoded, so this costs a read of the file, not a decode.
    languages = {s.index: _language(s) for s in streams}
    origin_s = video_origin_s(container)
    try:
        for packet in container.demux(*streams):
            if packet.pts is None or packet.time_base is None:
                continue  # the flush packet at the end of each stream
            start_s = max(0.0, float(packet.pts * packet.time_base) - origin_s)
            duration_s = float(packet.duration * packet.time_base) if packet.duration else 0.0
            for rect in packet.decode():
                text = _plain(rect)
                if text:
                    end_s = start_s + (duration_s or DEFAULT_LINE_S)
                    result.lines.append(
                        TranscriptLine(
                            start_s,
                            end_s,
                            text,
                            SOURCE_SUBTITLES,
                            languages[packet.stream.index],
                        )
                    )
    except av.error.FFmpegError as exc:
        result.notes.append(f"subtitle stream failed to decode ({exc}); kept what came before")


def _plain(rect) -> str:
    """The text of a decoded subtitle rectangle without ASS styling ({\\i1}, \\N line breaks)."""
    import pysubs2

    raw = getattr(rect, "dialogue", None) or getattr(rect, "text", None) or b""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return " ".join(pysubs2.SSAEvent(text=raw).plaintext.split())


def _language(stream) -> str | None:
    tag = (stream.metadata.get("language") or "").strip()
    return tag if tag and tag not in ("und", "unk", "zxx") else None
