"""Find candidate video files under the given paths (and audio files, when speech is on).

Whether a file is a video is decided by probing it, not by its name: the extension only decides
how loudly a file that does not probe is reported. A file with a video extension that cannot be
read is a failure the user must hear about; any other file that is not a video is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".wmv",
        ".flv",
        ".mpg",
        ".mpeg",
        ".m2v",
        ".ts",
        ".mts",
        ".m2ts",
        ".3gp",
        ".3g2",
        ".ogv",
        ".vob",
        ".mxf",
        ".dv",
        ".asf",
        ".rm",
        ".rmvb",
        ".f4v",
        ".divx",
        ".y4m",
    ]
)
# Audio-only files: indexed for their speech when the library has speech on (else skipped
# without probing, like the never-videos below, which list them too).
AUDIO_EXTENSIONS = frozenset(
    [".m4a", ".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".aac", ".wma", ".aiff"]
)
# Never videos: skipped without probing (ffmpeg opens still images as one-frame "videos").
NOT_VIDEO_EXTENSIONS = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".heic",
        ".svg",
        ".ico",
        ".psd",
        ".raw",
        ".cr2",
        ".nef",
        ".dng",
        ".mp3",
        ".wav",
        ".flac",
        ".aac",
        ".ogg",
        ".opus",
        ".m4a",
        ".wma",
        ".aiff",
        ".txt",
        ".md",
        ".json",
        ".xml",
        ".csv",
        ".srt",
        ".vtt",
        ".ass",
        ".sub",
        ".nfo",
        ".pdf",
        ".doc",
        ".docx",
        ".html",
        ".htm",
        ".py",
        ".sh",
        ".zip",
        ".tar",
        ".gz",
        ".7z",
        ".rar",
        ".iso",
        ".db",
        ".sqlite",
        ".db-wal",
        ".db-shm",
        ".faiss",
        ".log",
        ".ini",
        ".cfg",
        ".lnk",
        ".url",
        ".exe",
        ".dll",
        ".so",
        ".dylib",
        ".thm",
        ".lrv",
        ".xmp",
        ".ds_store",
    ]
)
TEMPORARY_SUFFIXES = (".part", ".crdownload", ".tmp", ".download", ".partial", "~")


@dataclass(frozen=True)
class Candidate:
    """A file that may be a video. ``expected`` is True when a read failure must be reported
    (a video extension, or a file the user named explicitly)."""

    path: Path
    expected: bool


def is_ignored_name(name: str) -> bool:
    """Hidden files and files still being downloaded or written by an editor."""
    return name.startswith(".") or name.lower().endswith(TEMPORARY_SUFFIXES)


def classify(path: Path, *, named: bool = False, audio: bool = False) -> Candidate | None:
    """A Candidate for ``path``, or None when it is certainly not a video (nor, with
    ``audio``, an audio file: the library has speech on)."""
    suffix = path.suffix.lower()
    if named:
        return Candidate(path, expected=True)
    if is_ignored_name(path.name):
        return None
    if audio and suffix in AUDIO_EXTENSIONS:
        return Candidate(path, expected=True)
    if suffix in NOT_VIDEO_EXTENSIONS:
        return None
    return Candidate(path, expected=suffix in VIDEO_EXTENSIONS)


def walk(
    root: Path, on_error: Callable[[Path, OSError], None] | None = None, *, audio: bool = False
) -> Iterator[Candidate]:
    """Candidates under ``root`` in a stable order; hidden folders are not entered; audio
    files too with ``audio`` (see ``classify``).

    Only regular files are candidates: a FIFO, socket or device named ``x.mp4`` is skipped like a
    folder named ``x.mp4`` (opening a FIFO blocks until something writes to it). A folder that
    cannot be listed is passed to ``on_error`` with the reason; its files are not yielded, and
    they are not gone either (see ``indexer.presence``).
    """
    if os.path.isfile(root):
        candidate = classify(root, named=True)
        if candidate:
            yield candidate
        return

    def unreadable(exc: OSError) -> None:
        if on_error is not None:
            on_error(Path(exc.filename) if exc.filename else root, exc)

    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if not path.is_file():  # S_ISREG, after symlinks
                continue
            candidate = classify(path, audio=audio)
            if candidate:
                yield candidate
