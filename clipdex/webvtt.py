"""Transcript lines as WebVTT (https://www.w3.org/TR/webvtt1/), the captions format of HTML's
``<track>``: what the page's player shows under a video."""

from __future__ import annotations

from collections.abc import Iterable

from clipdex.render import timestamp
from storage.transcript import TranscriptLine


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
        parts += [f"{timestamp(line.start_s)} --> {timestamp(end)}", cue_text(line.text), ""]
    return "\n".join(parts)
