"""``clipdex similar IMAGE``: a still picture searched as a clip in which nothing moves."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from PIL import Image

from tests.support.cli import run


def _frame_at(video: Path, time_s: float) -> Image.Image:
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            if frame.time >= time_s:
                return frame.to_image()
    raise AssertionError(f"no frame at {time_s} s in {video}")


@pytest.fixture
def indexed(video_dir: Path) -> Path:
    assert run("index", video_dir).exit_code == 0
    return video_dir


@pytest.mark.parametrize(
    ("video", "time_s", "fmt", "name"),
    [
        ("cuts.mp4", 3.5, "PNG", "blue.png"),  # the blue shot, 2.0 to 5.0 s
        ("still.mp4", 12.0, "WEBP", "shapes.webp"),
        ("still.mp4", 12.0, "JPEG", "shapes.png"),  # a JPEG named .png: content decides
    ],
)
def test_a_frame_saved_as_a_picture_finds_its_clip_first(
    tmp_path, indexed, video, time_s, fmt, name
) -> None:
    picture = tmp_path / name
    _frame_at(indexed / video, time_s).save(picture, format=fmt)
    result = run("similar", picture, "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["query"] == {"path": str(picture), "picture": True}
    best = body["hits"][0]
    assert Path(best["path"]).name == video
    if video == "cuts.mp4":  # three solid shots: the tiny model tells them apart
        assert (best["start"], best["end"]) == (2.0, 5.0)
    table = run("similar", picture, "-k", "3").stdout.splitlines()
    assert table[1].endswith(str(indexed / video))


def test_neither_picture_nor_video_is_one_error_line(tmp_path, indexed) -> None:
    notes = tmp_path / "notes.png"
    notes.write_text("just some text, not a picture\n")
    result = run("similar", notes)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"clipdex: error: {notes}: neither a picture (PNG, JPEG, WebP) nor a readable video "
        f"({result.stderr.split('(', 2)[2].rsplit(')', 1)[0]})"
    ]
    assert result.stdout == ""


def test_a_broken_picture_is_one_error_line(tmp_path, indexed) -> None:
    broken = tmp_path / "cut.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    result = run("similar", broken)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"clipdex: error: {broken}: not a readable picture (")


def test_start_and_end_do_not_apply_to_a_picture(tmp_path) -> None:
    picture = tmp_path / "p.png"
    Image.new("RGB", (64, 48), (10, 200, 10)).save(picture)
    result = run("similar", picture, "--start", "1")
    assert result.exit_code == 2
    assert "is a picture" in result.stderr
