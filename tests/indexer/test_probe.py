"""Probing and decoding: bad files get clear reasons; rotation and sizes are as displayed."""

from __future__ import annotations

import errno
from pathlib import Path

import av
import numpy as np
import pytest

from indexer.declared_size import declared_size
from indexer.diagnosis import MAX_PIXELS
from indexer.errors import VideoOpenError
from indexer.frames import decode_frames
from indexer.probe import probe
from tests.support import videos


@pytest.mark.parametrize(
    ("make", "name", "reason"),
    [
        (lambda p, src: videos.truncated_mp4(p, src), "truncated.mp4", "not a readable video"),
        (lambda p, src: videos.random_bytes(p), "random.mp4", "not a readable video"),
        (lambda p, src: videos.empty_file(p), "empty.mp4", "empty file"),
        (lambda p, src: videos.text_file(p), "notes.avi", "not a readable video"),
        (lambda p, src: videos.audio_only_mp4(p), "song.mp4", "no video stream"),
    ],
)
def test_bad_inputs_have_reasons(tmp_path, known_videos, make, name, reason):
    path = make(tmp_path / name, known_videos["cuts.mp4"].path)
    with pytest.raises(VideoOpenError) as caught:
        probe(path)
    assert reason in caught.value.reason
    assert str(path) in str(caught.value)


def test_probe_facts(known_videos):
    video = known_videos["cuts.mp4"]
    info = probe(video.path)
    assert info.duration_s == pytest.approx(video.duration_s, abs=0.05)
    assert info.fps == pytest.approx(video.fps)
    assert (info.width, info.height) == video.size
    assert info.codec == "h264"
    assert info.rotation == 0


def test_rotation_is_applied(tmp_path):
    """A portrait phone video (display matrix -90: turn clockwise) is decoded upright."""
    path = videos.rotated(tmp_path / "portrait.mp4", rotation=-90)
    info = probe(path)
    assert info.rotation == 90
    assert (info.width, info.height) == (240, 320)
    frame = next(iter(decode_frames(path, 224))).rgb
    assert frame.shape == (298, 224, 3)  # upright portrait, shortest edge 224
    # stored: red top, blue bottom, green square top-left; turned clockwise: red right,
    # blue left, green square top-right
    left, right = frame[150, 40].astype(int), frame[150, 180].astype(int)
    assert right[0] > 200 and right[2] < 60
    assert left[2] > 200 and left[0] < 60
    corner = frame[10, 215].astype(int)
    assert corner[1] > 200 and corner[0] < 60


def test_frame_times_come_from_timestamps(tmp_path):
    path = videos.variable_frame_rate(tmp_path / "vfr.mp4", cut_s=2.0, seconds=4.0)
    times = np.array([f.time_s for f in decode_frames(path, 224)])
    gaps = np.diff(times)
    assert gaps[:50].mean() == pytest.approx(0.02, abs=0.002)
    assert gaps[-10:].mean() == pytest.approx(0.1, abs=0.01)
    assert times[-1] == pytest.approx(3.9, abs=0.05)


@pytest.fixture(scope="module")
def matroska_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("matroska")
    return {
        "mkv": videos.moving_shapes(folder / "whole.mkv", 2.0),
        "webm": videos.moving_shapes(folder / "whole.webm", 2.0, codec="libvpx-vp9"),
        "mp4": videos.moving_shapes(
            folder / "whole.mp4", 2.0, container_options={"movflags": "faststart"}
        ),
    }


@pytest.mark.parametrize("kind", ["mkv", "webm", "mp4"])
@pytest.mark.parametrize("keep", [100, 200, 1000])
def test_a_file_cut_inside_its_header_is_truncated_not_an_io_error(
    matroska_files, tmp_path, kind, keep
):
    """FFmpeg fails these with EIO ("Input/output error"), EOF, or opens them with no stream or
    no frame; each is one reason that says the file is cut off, and by how much."""
    whole = matroska_files[kind]
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(whole.read_bytes()[:keep])
    with pytest.raises(VideoOpenError) as caught:
        probe(path)
    # Matroska declares its whole size up front; an mp4 cut inside its index declares as much
    # as the boxes read so far
    declared = whole.stat().st_size if kind != "mp4" else declared_size(path)
    assert keep < declared <= whole.stat().st_size
    assert caught.value.reason == f"not a readable video: truncated ({keep} of {declared} bytes)"


def test_ffmpeg_reports_a_cut_matroska_header_as_an_io_error(matroska_files, tmp_path):
    """What the reason above replaces (if FFmpeg changes this, the mapping may be moot)."""
    path = tmp_path / "cut.mkv"
    path.write_bytes(matroska_files["mkv"].read_bytes()[:100])
    with pytest.raises(OSError) as caught:
        av.open(str(path))
    assert caught.value.errno == errno.EIO


@pytest.mark.parametrize(("width", "height"), [(60000, 60000), (12000, 12000)])
def test_a_header_claiming_a_huge_picture_is_too_large(tmp_path, width, height):
    """60000x60000: FFmpeg refuses it at open with EBUSY ("Device or resource busy");
    12000x12000 it opens, and the pixel limit refuses it before any frame is decoded."""
    path = videos.y4m_claiming_size(tmp_path / "huge.y4m", width, height)
    for read in (probe, lambda p: next(iter(decode_frames(p, 224)))):
        with pytest.raises(VideoOpenError) as caught:
            read(path)
        assert caught.value.reason == (
            f"too large ({width}x{height} pixels; the limit is 134 megapixels)"
        )
    assert width * height > MAX_PIXELS


def test_a_picture_under_the_limit_is_not_too_large(tmp_path):
    path = videos.y4m_claiming_size(tmp_path / "wide.y4m", 16, 16)
    path.write_bytes(path.read_bytes()[:-4096] + b"\x80" * (16 * 16 * 3 // 2))
    info = probe(path)
    assert (info.width, info.height) == (16, 16)


def test_reasons_for_unreadable_headers_never_show_a_foreign_errno(tmp_path):
    """A header FFmpeg rejects for another reason is "not a readable video", with FFmpeg's
    own words, never an errno string such as "Device or resource busy"."""
    path = videos.y4m_claiming_size(tmp_path / "zero.y4m", 0, 240)
    with pytest.raises(VideoOpenError) as caught:
        probe(path)
    reason = caught.value.reason
    assert reason.startswith("not a readable video")
    assert "busy" not in reason and "Input/output" not in reason
