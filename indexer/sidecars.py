"""Subtitle files next to a video: ``name.srt``, ``name.vtt``, ``name.ass`` (or ``.ssa``), with an
optional language tag (``name.en.srt``, ``name.pt-BR.vtt``), read with pysubs2.

pysubs2 is pure Python with no dependencies, so it is a core dependency: sidecars are read
whether or not the speech extra (and its model) is installed.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from storage.transcript import SOURCE_SIDECAR, TranscriptLine

logger = logging.getLogger(__name__)

SIDECAR_EXTENSIONS = (".srt", ".vtt", ".ass", ".ssa")
# A language tag between the video's stem and the extension: ISO 639 (en, eng) with an
# optional region or script (pt-BR, zh-Hans), as players (VLC, mpv, Plex) name them.
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,4})?$")
# Sidecars larger than this are not subtitles (a 2-hour film's SRT is about 100 KB).
MAX_SIDECAR_BYTES = 20 * 1024 * 1024


class SidecarError(Exception):
    """A sidecar could not be read; ``reason`` is one short line."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Sidecar:
    path: Path
    language: str | None  # the tag in its name ("en"), None for a plain name.srt


def find_sidecars(video: Path) -> list[Sidecar]:
    """The subtitle files beside ``video``, in name order (one listing of its folder)."""
    try:
        names = sorted(os.listdir(video.parent))
    except OSError:
        return []
    return sidecars_in(video, names)


def sidecars_in(video: Path, names: list[str]) -> list[Sidecar]:
    """The sidecars of ``video`` among ``names``, the sorted listing of its folder."""
    found = [_named(video, name) for name in names]
    return [s for s in found if s is not None and s.path.is_file()]


def is_sidecar_name(name: str) -> bool:
    return Path(name).suffix.lower() in SIDECAR_EXTENSIONS


def is_sidecar_of(video: Path, sidecar: Path) -> bool:
    """Whether ``sidecar`` (present or not) is named as a sidecar of ``video``."""
    return sidecar.parent == video.parent and _named(video, sidecar.name) is not None


def _named(video: Path, name: str) -> Sidecar | None:
    stem = video.stem
    suffix = Path(name).suffix
    if suffix.lower() not in SIDECAR_EXTENSIONS or not name.startswith(stem + "."):
        return None
    middle = name[len(stem) + 1 : -len(suffix)]
    if middle == "":
        return Sidecar(video.parent / name, None)
    if _LANGUAGE.match(middle):
        return Sidecar(video.parent / name, middle.replace("_", "-"))
    return None


def read_sidecar(sidecar: Sidecar) -> list[TranscriptLine]:
    """The sidecar's lines as plain text (styling tags removed), in time order.

    Raises SidecarError for a file that cannot be read or parsed."""
    import pysubs2

    path = sidecar.path
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise SidecarError(path, f"over {MAX_SIDECAR_BYTES // 2**20} MB: not a subtitle file")
        # Subtitle files in the wild are not always UTF-8; latin-1 never fails to decode.
        try:
            subs = pysubs2.load(str(path), encoding="utf-8")
        except UnicodeDecodeError:
            subs = pysubs2.load(str(path), encoding="latin-1")
    except OSError as exc:
        raise SidecarError(path, f"cannot read subtitles ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - pysubs2 raises many types for malformed files
        raise SidecarError(path, f"not a readable subtitle file ({type(exc).__name__})") from None
    lines = []
    for event in subs:
        if event.is_comment:
            continue
        text = " ".join(event.plaintext.split())
        if not text or event.end < event.start:
            continue
        lines.append(
            TranscriptLine(
                event.start / 1000, event.end / 1000, text, SOURCE_SIDECAR, sidecar.language
            )
        )
    lines.sort(key=lambda line: (line.start_s, line.end_s))
    return lines
