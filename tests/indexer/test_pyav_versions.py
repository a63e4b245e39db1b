"""clipdex reads video with the PyAV it is installed with: av 18 (Python 3.11) or av 19 (3.12+)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from clipdex.server.thumbnails import render_jpeg
from indexer.frames import decode_frames
from indexer.probe import probe
from indexer.pyav_versions import AV_MAJOR, OPEN_OPTIONS

MARKER = b"clipdex-title-marker"


def _badly_tagged(path: Path) -> Path:
    """A Matroska file whose title tag is cp1251, not UTF-8 (as old rippers wrote them)."""
    with av.open(str(path), "w") as container:
        container.metadata["title"] = MARKER.decode()
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            pixels = np.full((48, 64, 3), i * 20, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    assert data.count(MARKER) == 1
    tag = "Привет, заголовок".encode("cp1251").ljust(len(MARKER), b"!")
    path.write_bytes(data.replace(MARKER, tag))
    return path


def test_the_installed_pyav_is_a_supported_one() -> None:
    assert AV_MAJOR in (18, 19)
    assert ("metadata_errors" in OPEN_OPTIONS) == (AV_MAJOR == 18)


def test_a_badly_encoded_tag_does_not_make_a_video_unreadable(tmp_path: Path) -> None:
    """av 18 raises UnicodeDecodeError on such a tag unless told to ignore it; av 19 removed
    that option (passing it is a TypeError) and decodes tags with surrogateescape."""
    path = _badly_tagged(tmp_path / "tagged.mkv")
    info = probe(path)
    assert (info.width, info.height) == (64, 48) and info.duration_s == pytest.approx(1.0, abs=0.2)
    times = [frame.time_s for frame in decode_frames(path, 48)]
    assert len(times) == 10 and times == sorted(times)
    assert times[1] - times[0] == pytest.approx(0.1, abs=1e-6)  # pts x time_base on both
    assert render_jpeg(path, 0.5).startswith(b"\xff\xd8")
