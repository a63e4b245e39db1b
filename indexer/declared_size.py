"""The byte size a file's container declares for itself: how a cut-off file is recognised.

FFmpeg reads a truncated file without complaint as far as it goes: a faststart mp4 or a Matroska
file cut at 30 % opens with its full duration and decodes until the data runs out, then ends as
if the video were over. The container's own framing says how long the file should be, so a file
shorter than that was cut off. Read here, from a few headers, for the three families whose
top-level framing carries sizes:

- ISO BMFF (mp4, mov, m4v, 3gp): consecutive top-level boxes (``ftyp``, ``moov``, ``mdat``...),
  each starting with its size;
- Matroska and WebM: the EBML header, then one ``Segment`` element whose size covers the rest;
- RIFF (AVI): one or more ``RIFF`` chunks (``AVIX`` after the first in OpenDML files).

Other formats (MPEG-TS, Ogg, FLV...) carry no such size: ``declared_size`` returns None and
truncation shows only as decoding ending early.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

# Top-level boxes an ISO BMFF file may start with.
_BMFF_FIRST = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp"})
_EBML_ID = b"\x1a\x45\xdf\xa3"
_SEGMENT_ID = b"\x18\x53\x80\x67"
# A mp4 has a handful of top-level boxes; a fragmented one a few per fragment. Past this many,
# stop walking (the answer is then unknown rather than slow).
_MAX_BOXES = 100_000


def declared_size(path: Path) -> int | None:
    """Bytes the container's top-level framing accounts for, or None when it does not say
    (another format, an unknown or streaming size, or framing too damaged to follow).

    A result larger than the file's size means the file was cut off. For ISO BMFF it counts the
    boxes up to the first one that the file does not hold whole, so an mp4 cut before its last
    box header declares less than the original had (still more than it has).
    """
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            head = handle.read(12)
            if len(head) >= 8 and head[4:8] in _BMFF_FIRST:
                return _bmff(handle, size)
            if head[:4] == _EBML_ID:
                return _matroska(handle)
            if head[:4] == b"RIFF":
                return _riff(handle, size)
    except OSError:
        return None
    return None


def _bmff(handle: BinaryIO, size: int) -> int | None:
    offset = 0
    for _ in range(_MAX_BOXES):
        if offset >= size:
            return offset
        handle.seek(offset)
        header = handle.read(16)
        if len(header) < 8:
            return offset + 8  # a box header cut in two
        length = struct.unpack(">I", header[:4])[0]
        if length == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return offset + 16
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:  # "extends to the end of the file": a streaming writer's mdat
            return None
        if length < 8:
            return None  # not a box: damaged framing
        offset += length
    return None


def _matroska(handle: BinaryIO) -> int | None:
    handle.seek(4)
    header_size = _vint(handle)
    if header_size is None:
        return None
    handle.seek(4 + header_size[0] + header_size[1])
    if handle.read(4) != _SEGMENT_ID:
        return None
    segment = _vint(handle)
    if segment is None or segment[2]:  # unknown size: written live, never finalised
        return None
    return handle.tell() + segment[0]


def _vint(handle: BinaryIO) -> tuple[int, int, bool] | None:
    """An EBML variable-length size: (value, bytes it took, whether it means "unknown")."""
    first = handle.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = handle.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = first[0] & (0xFF >> length)
    for byte in rest:
        value = (value << 8) | byte
    return value, length, value == (1 << (7 * length)) - 1


def _riff(handle: BinaryIO, size: int) -> int | None:
    offset = 0
    while offset < size:
        handle.seek(offset)
        header = handle.read(8)
        if len(header) < 8 or header[:4] != b"RIFF":
            break
        length = struct.unpack("<I", header[4:8])[0]
        offset += 8 + length + (length & 1)
    return offset or None
