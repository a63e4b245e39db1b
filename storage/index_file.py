"""The layout of ``index.faiss``: a small clipdex header, then the FAISS index's bytes.

The header holds magic, format version, dim, generation, payload length, payload CRC32 and the
shortlist's length; the payload is the exact index (``faiss.serialize_index``) followed by the
shortlist's bytes (none when it has none). ``storage.vectors`` writes and reads the file with
FAISS; ``storage.flat_index`` reads an exact index without it. This module imports neither.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from storage.errors import CorruptIndexError

MAGIC = b"CLIPDEXF"
FORMAT_VERSION = 2
# magic, format version, dim, generation, payload length, payload CRC32, shortlist length.
HEADER = struct.Struct("<8sIIqQIQ")


def parse_index_file(data: bytes, path: Path) -> tuple[int, int, bytes, bytes]:
    """Check the header and payload; return (dim, generation, index bytes, shortlist bytes).

    Raises CorruptIndexError when the file is truncated, damaged or of another format.
    """
    if len(data) < HEADER.size:
        raise CorruptIndexError(f"{path}: file is too short to be a clipdex index")
    magic, version, dim, generation, length, crc, extra = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptIndexError(f"{path}: not a clipdex index file")
    if version != FORMAT_VERSION:
        raise CorruptIndexError(f"{path}: index format {version}, expected {FORMAT_VERSION}")
    payload = data[HEADER.size :]
    if len(payload) != length or zlib.crc32(payload) != crc or extra > length:
        raise CorruptIndexError(f"{path}: index file is truncated or damaged")
    return dim, generation, payload[: length - extra], payload[length - extra :]
