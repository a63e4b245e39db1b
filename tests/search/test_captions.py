"""Reading a benchmark's captions file: the formats accepted, and one clear line for bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.captions import CaptionsError, read_captions


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("video7010.mp4", "video7011.mp4", "clip.webm", "twice.mp4", "twice.mkv"):
        (folder / name).write_bytes(b"")  # the reader only finds files; it never opens them
    return folder


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "captions.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_video_caption_rows(tmp_path, videos):
    captions = read_captions(
        write(tmp_path, 'video7010,a man is cooking\nvideo7011.mp4,"a cat, then a dog"\n'), videos
    )
    assert [(c.line, c.video, c.path, c.text, c.span) for c in captions] == [
        (1, "video7010", videos / "video7010.mp4", "a man is cooking", None),
        (2, "video7011.mp4", videos / "video7011.mp4", "a cat, then a dog", None),
    ]


def test_msrvtt_jsfusion_header_is_read_by_column_name(tmp_path, videos):
    text = (
        "\ufeffkey,vid_key,video_id,sentence\n"
        "ret0,msr7010,video7010,a girl wearing red top and black trouser is putting a sweater\n"
        "\n"
        "ret1,msr7011,video7011,young people sit around the edges of a room\n"
    )
    captions = read_captions(write(tmp_path, text), videos)
    assert [(c.line, c.path.name, c.text[:12]) for c in captions] == [
        (2, "video7010.mp4", "a girl weari"),
        (4, "video7011.mp4", "young people"),
    ]


def test_moment_rows_with_and_without_header(tmp_path, videos):
    for text in (
        "clip,a person opens a door,1.5,4\n",
        "video,caption,start,end\nclip,a person opens a door,1.5,4\n",
    ):
        (caption,) = read_captions(write(tmp_path, text), videos)
        assert caption.span == (1.5, 4.0) and caption.path == videos / "clip.webm"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("video7010\n", 1, "expected video,caption or video,caption,start,end"),
        ("video7010,ok\nvideo7011,a,b\n", 2, "expected 2 fields, got 3"),
        ("video,caption\nvideo7010,one, two\n", 2, "quote captions that contain commas"),
        ("video7010,ok\nvideo9999,unknown\n", 2, "no video 'video9999'"),
        ("twice,which one\n", 1, "ambiguous"),
        ("clip,a door,4,4\n", 1, "start 4 is not before end 4"),
        ("clip,a door,5,2.5\n", 1, "start 5 is not before end 2.5"),
        ("clip,a door,soon,4\n", 1, "start 'soon' is not a number of seconds"),
        ("clip,a door,-1,4\n", 1, "start '-1' is not a time in seconds"),
        ("video7010,\n", 1, "empty caption"),
        ("video,caption,start\nclip,a door,1\n", 1, "needs both a start and an end column"),
    ],
)
def test_bad_rows_name_the_file_and_line(tmp_path, videos, text, line, reason):
    path = write(tmp_path, text)
    with pytest.raises(CaptionsError) as caught:
        read_captions(path, videos)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: ") and reason in message and "\n" not in message


def test_empty_files_and_missing_folders(tmp_path, videos):
    with pytest.raises(CaptionsError, match="no captions"):
        read_captions(write(tmp_path, "\n\n"), videos)
    with pytest.raises(CaptionsError, match="no captions after the header"):
        read_captions(write(tmp_path, "video,caption\n"), videos)
    with pytest.raises(CaptionsError, match="no such folder"):
        read_captions(write(tmp_path, "video7010,x\n"), tmp_path / "nowhere")
