"""Probing and decoding: bad files get clear reasons; rotation and sizes are as displayed."""

from __future__ import annotations

import numpy as np
import pytest

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
