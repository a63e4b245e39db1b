"""A benchmark's captions file: which caption should find which video (and moment).

Accepted CSV (UTF-8, a byte-order mark is fine, blank lines are skipped):

- ``video,caption`` rows (MSR-VTT 1k-A style: the caption should retrieve the video), or
  ``video,caption,start,end`` rows (DiDeMo / Charades-STA style: the moment, in seconds).
- An optional header row, recognised when it names a video column (``video``, ``video_id``,
  ``video_name``, ``video_path`` or ``file``) and a caption column (``caption``, ``sentence``,
  ``text``, ``query`` or ``description``); columns are then found by name, others are ignored
  (so CLIP4Clip's ``MSRVTT_JSFUSION_test.csv``, ``key,vid_key,video_id,sentence``, is read as
  it is), with ``start``/``end`` (or ``start_s``/``end_s``) for moments. Without a header the
  columns are positional and every row has 2 or every row has 4 of them.
- ``video`` names a file in the videos folder: ``video7010.mp4`` as it is, or ``video7010``
  for the one file ``video7010.<extension>`` there.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

VIDEO_COLUMNS = ("video", "video_id", "video_name", "video_path", "file")
CAPTION_COLUMNS = ("caption", "sentence", "text", "query", "description")
START_COLUMNS = ("start", "start_s")
END_COLUMNS = ("end", "end_s")


class CaptionsError(ValueError):
    """A captions file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Caption:
    """One row: ``path`` is the video file (absolute), ``span`` the moment or None."""

    line: int
    video: str
    path: Path
    text: str
    span: tuple[float, float] | None = None


@dataclass(frozen=True)
class _Columns:
    video: int
    caption: int
    width: int  # every row has exactly this many cells
    start: int | None = None
    end: int | None = None


def read_captions(csv_path: Path, videos_dir: Path) -> list[Caption]:
    """The rows of ``csv_path``, each checked and its video found in ``videos_dir``.
    Raises CaptionsError on the first bad row."""
    if not videos_dir.is_dir():
        raise CaptionsError(f"{videos_dir}: no such folder")
    folder = _Folder(videos_dir)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            rows = [(n, row) for n, row in _numbered(csv.reader(handle)) if any(row)]
    except OSError as exc:
        raise CaptionsError(f"{csv_path}: cannot read ({exc.strerror})") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CaptionsError(f"{csv_path}: not a UTF-8 CSV file ({exc})") from exc
    if not rows:
        raise CaptionsError(f"{csv_path}: no captions")
    columns = _header(csv_path, *rows[0])
    if columns is None:
        columns = _positional(csv_path, *rows[0])
    else:
        rows = rows[1:]
    captions = [_caption(csv_path, n, row, columns, folder) for n, row in rows]
    if not captions:
        raise CaptionsError(f"{csv_path}: no captions after the header")
    return captions


def _numbered(reader):
    for row in reader:
        yield reader.line_num, row


def _header(csv_path: Path, line: int, row: list[str]) -> _Columns | None:
    names = [cell.strip().lower() for cell in row]

    def find(options: tuple[str, ...]) -> int | None:
        return next((names.index(o) for o in options if o in names), None)

    video, caption = find(VIDEO_COLUMNS), find(CAPTION_COLUMNS)
    if video is None or caption is None:
        return None
    start, end = find(START_COLUMNS), find(END_COLUMNS)
    if (start is None) != (end is None):
        raise CaptionsError(f"{csv_path}:{line}: a moment needs both a start and an end column")
    return _Columns(video, caption, len(row), start, end)


def _positional(csv_path: Path, line: int, row: list[str]) -> _Columns:
    if len(row) == 2:
        return _Columns(0, 1, 2)
    if len(row) == 4:
        return _Columns(0, 1, 4, start=2, end=3)
    raise CaptionsError(
        f"{csv_path}:{line}: expected video,caption or video,caption,start,end "
        f"(or a header naming the columns), got {len(row)} fields"
    )


def _caption(csv_path: Path, line: int, row: list[str], columns: _Columns, folder) -> Caption:
    where = f"{csv_path}:{line}"
    if len(row) != columns.width:
        hint = " (quote captions that contain commas)" if len(row) > columns.width else ""
        raise CaptionsError(f"{where}: expected {columns.width} fields, got {len(row)}{hint}")
    video, text = row[columns.video].strip(), row[columns.caption].strip()
    if not video:
        raise CaptionsError(f"{where}: empty video name")
    if not text:
        raise CaptionsError(f"{where}: empty caption")
    span = None
    if columns.start is not None and columns.end is not None:
        start = _seconds(where, "start", row[columns.start])
        end = _seconds(where, "end", row[columns.end])
        if start >= end:
            raise CaptionsError(f"{where}: start {start:g} is not before end {end:g}")
        span = (start, end)
    return Caption(line, video, folder.find(where, video), text, span)


def _seconds(where: str, name: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise CaptionsError(
            f"{where}: {name} {cell.strip()!r} is not a number of seconds"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise CaptionsError(f"{where}: {name} {cell.strip()!r} is not a time in seconds")
    return value


class _Folder:
    """The videos folder, listed once (a benchmark folder may hold 10,000 files)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(os.path.abspath(folder))
        self._by_stem: dict[str, list[Path]] | None = None

    def find(self, where: str, name: str) -> Path:
        exact = self.folder / name
        if exact.is_file():
            return exact
        if os.sep in name or (os.altsep and os.altsep in name):
            matches = sorted(p for p in exact.parent.glob(f"{exact.name}.*") if p.is_file())
        else:
            matches = self._stems().get(name, [])
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise CaptionsError(f"{where}: no video {name!r} in {self.folder}")
        listed = ", ".join(p.name for p in matches)
        raise CaptionsError(f"{where}: {name!r} is ambiguous in {self.folder}: {listed}")

    def _stems(self) -> dict[str, list[Path]]:
        if self._by_stem is None:
            self._by_stem = {}
            with os.scandir(self.folder) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    if entry.is_file() and "." in entry.name:
                        stem = entry.name.rsplit(".", 1)[0]
                        self._by_stem.setdefault(stem, []).append(self.folder / entry.name)
        return self._by_stem
