"""Transcript lines as WebVTT (https://www.w3.org/TR/webvtt1/), the captions format of HTML's
``<track>``: what the page's player shows under a video."""

from __future__ import annotations

from collections.abc import Iterable

from storage.transcript import TranscriptLine


def vtt_time(seconds: float) -> str:
    """HH:MM:SS.mmm, the one timestamp form every WebVTT reader accepts."""
    millis = int(round(max(0.0, seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def cue_text(text: str) -> str:
    """Text safe inside a cue: ``&`` and ``<`` escaped (cue text is markup), and on one line (a
    blank line would end the cue; ``-->`` on a line of its own would start a new one)."""
    flat = " ".join(text.split())
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(lines: Iterable[TranscriptLine]) -> str:
    """A WebVTT file with one cue per line, in the given order; just the header for none."""
    parts = ["WEBVTT", ""]
    for line in lines:
        end = max(line.end_s, line.start_s + 0.001)  # a cue must not end before it starts
        parts += [f"{vtt_time(line.start_s)} --> {vtt_time(end)}", cue_text(line.text), ""]
    return "\n".join(parts)
