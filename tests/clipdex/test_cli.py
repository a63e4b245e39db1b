"""The command-line contract of DESIGN.md: commands, JSON fields, exit codes, error lines."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from tests.support import videos
from tests.support.checkpoint import retrained_copy
from tests.support.cli import run, run_json, subprocess_run


def test_index_search_clips_status(video_dir, known_videos):
    report = run_json("index", video_dir)
    assert report["indexed"] == 3 and report["failed"] == [] and report["removed"] == 0
    assert report["clips_added"] >= 3 + 2 + 1  # cuts.mp4 >= 3, still.mp4 3, red.mp4 1
    assert set(report) >= {"indexed", "skipped", "removed", "clips_added", "failed"}

    found = run_json("search", "a red square", "-k", "2")
    assert found["query"] == "a red square"
    assert 1 <= len(found["hits"]) <= 2
    for hit in found["hits"]:
        assert set(hit) == {
            *("path", "start", "end", "score", "clip_id", "video_id"),
            *("visual_score", "text_score", "lines"),  # why it matched: pictures only here
        }
        assert hit["visual_score"] == hit["score"] and hit["text_score"] is None
        assert hit["path"].startswith(str(video_dir)) and 0 <= hit["start"] < hit["end"]
    scores = [h["score"] for h in found["hits"]]
    assert scores == sorted(scores, reverse=True)

    cut = run_json("clips", known_videos["cuts.mp4"].path)
    spans = [(c["start"], c["end"]) for c in cut["clips"]]
    assert spans == sorted(spans) and spans[0][0] == 0.0
    assert spans[-1][1] == pytest.approx(7.5, abs=0.05)
    assert [s for s, _ in spans[1:]] == [pytest.approx(2.0, abs=0.2), pytest.approx(5.0, abs=0.2)]

    status = run_json("status")
    assert status["videos"] == 3 and status["clips"] == report["clips_added"]
    assert status["failed"] == [] and status["model"]


def test_human_output_is_an_aligned_table(video_dir):
    assert run("index", video_dir).exit_code == 0
    result = run("search", "moving shapes", "-k", "3")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["#", "score", "span", "path"]
    assert len({line.index("/") for line in lines[1:]}) == 1  # the path column is aligned
    assert "00:00:" in lines[1] and "-" in lines[1].split()[2]


def test_bad_inputs_are_reported_and_the_rest_is_indexed(tmp_path, known_videos):
    good = shutil.copy(known_videos["red.mp4"].path, tmp_path / "good.mp4")
    videos.truncated_mp4(tmp_path / "truncated.mp4", known_videos["cuts.mp4"].path)
    videos.random_bytes(tmp_path / "random.mp4")
    videos.empty_file(tmp_path / "empty.mp4")
    videos.text_file(tmp_path / "notes.avi")
    videos.audio_only_mp4(tmp_path / "song.mp4")
    (tmp_path / "readme.txt").write_text("not a video, and not reported")

    result = run("index", tmp_path, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["indexed"] == 1
    failed = {item["path"].rsplit("/", 1)[-1]: item["error"] for item in report["failed"]}
    assert set(failed) == {"truncated.mp4", "random.mp4", "empty.mp4", "notes.avi", "song.mp4"}
    assert "no video stream" in failed["song.mp4"] and "empty" in failed["empty.mp4"]
    assert "Traceback" not in result.stderr
    for name in failed:  # one line per failure on stderr, naming the file and the reason
        assert any(name in line and failed[name] in line for line in result.stderr.splitlines())
    status = run_json("status")
    assert status["videos"] == 1 and len(status["failed"]) == 5
    assert run_json("clips", good)["clips"]


def test_missing_path_is_a_usage_error(tmp_path):
    result = run("index", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "no such file" in result.stderr


def test_clips_of_unknown_file_is_an_error(tmp_path):
    result = run("clips", tmp_path / "x.mp4")
    assert result.exit_code == 2 and "not in the library" in result.stderr


def test_search_on_empty_library_returns_no_hits():
    assert run_json("search", "anything")["hits"] == []


def test_model_mismatch_is_refused(video_dir, xclip_checkpoint, tmp_path):
    assert run("index", video_dir / "red.mp4").exit_code == 0
    other = retrained_copy(xclip_checkpoint, tmp_path / "other-model")
    for args in (("search", "x", "--model", other), ("index", video_dir, "--model", other)):
        result = run(*args)
        assert result.exit_code == 2
        line = result.stderr.strip()
        assert "\n" not in line and str(xclip_checkpoint) in line and str(other) in line


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("/nonexistent/xclip", "no such folder"),
        ("microsoft/xclip-base-patch32", "hub cannot be reached"),
    ],
)
def test_unloadable_model_is_one_line_and_exit_2(video_dir, model, expected):
    result = run("index", video_dir / "red.mp4", "--model", model)
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message and expected in message and "--model" in message


def test_a_checkpoint_that_is_not_xclip_is_refused(tmp_path, video_dir):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    result = run("index", video_dir / "red.mp4", "--model", tmp_path)
    assert result.exit_code == 2 and "not X-CLIP" in result.stderr


def test_changing_clip_lengths_of_a_library_is_refused(video_dir):
    assert run("index", video_dir / "red.mp4").exit_code == 0
    result = run("index", video_dir / "red.mp4", "--max-clip", "20")
    assert result.exit_code == 2 and "--max-clip 10" in result.stderr


def test_real_videos_index_and_are_searchable(sample_videos, tmp_path):
    for path in sample_videos:
        shutil.copy(path, tmp_path / path.name)
    report = run_json("index", tmp_path)
    assert report["indexed"] == len(sample_videos) and not report["failed"]
    hits = run_json("search", "people riding bikes", "-k", "20")["hits"]
    assert {h["path"].rsplit("/", 1)[-1] for h in hits} == {p.name for p in sample_videos}
    bikes = run_json("clips", tmp_path / "bikes.mp4")["clips"]
    assert len(bikes) >= 2  # bikes.mp4 has several shots


@pytest.mark.slow
def test_subprocess_end_to_end(video_dir):
    """A real process, as a script would run it: no progress bar when piped, JSON on stdout."""
    indexed = subprocess_run("index", video_dir / "cuts.mp4")
    assert indexed.returncode == 0, indexed.stderr
    assert indexed.stdout.startswith("indexed 1, skipped 0")
    assert indexed.stderr == ""  # no bar, no warnings, no model-loading noise
    found = subprocess_run("search", "three coloured shots", "--json", "-k", "1")
    assert found.returncode == 0 and found.stderr == ""
    assert json.loads(found.stdout)["hits"][0]["path"] == str(video_dir / "cuts.mp4")


def test_help_is_fast_and_light():
    import subprocess
    import sys

    code = (
        "import sys; from clipdex.cli import build_cli; build_cli(); "
        "print('torch' in sys.modules, 'transformers' in sys.modules, 'av' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


@pytest.mark.slow
def test_progress_bar_on_a_terminal(video_dir):
    """On a real pseudo-terminal, index draws a bar with files, clips/s and real-time factor."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    from tests.support.cli import REPO

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "clipdex", "index", str(video_dir / "cuts.mp4")],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        cwd=REPO,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "1/1" in screen and "clips_per_s" in screen and "realtime" in screen
    assert "indexed 1" in screen


def test_search_filters_min_score_and_negatives(tmp_path, known_videos, monkeypatch):
    folders = {name: tmp_path / name for name in ("a", "b", "bb")}
    for folder in folders.values():
        folder.mkdir()
    # Recording times come from the files' mtimes (local time, as a user means a bare date).
    placed = [
        ("a", "red.mp4", datetime(2020, 3, 1, 12, 0, 0)),  # 3 s
        ("b", "cuts.mp4", datetime(2024, 6, 1, 12, 0, 0)),  # 7.5 s
        ("bb", "red.mp4", datetime(2022, 1, 1, 12, 0, 0)),  # a sibling sharing b's prefix
    ]
    for folder, name, when in placed:
        copy = shutil.copy(known_videos[name].path, folders[folder] / name)
        os.utime(copy, (when.timestamp(), when.timestamp()))
    assert run_json("index", tmp_path)["indexed"] == 3

    def found(*args: str) -> list[str]:
        return sorted(Path(h["path"]).parent.name for h in run_json("search", "red", *args)["hits"])

    assert found() == ["a", "b", "bb"]
    assert found("--in", folders["a"], "--in", folders["bb"]) == ["a", "bb"]
    monkeypatch.chdir(tmp_path)
    assert found("--in", "b") == ["b"]  # relative to the working folder; not bb
    assert found("--after", "2020-03-01", "--before", "2022-01-02") == ["a", "bb"]
    assert found("--after", "2024-06-01T12:00:00") == ["b"]  # inclusive
    assert found("--after", "2024-06-01T12:00:01") == []
    assert found("--min-duration", "2", "--max-duration", "5") == ["a", "bb"]

    hits = run_json("search", "red")["hits"]
    scores = sorted({h["score"] for h in hits}, reverse=True)  # the two red.mp4 copies tie
    cut = (scores[0] + scores[1]) / 2
    kept = run_json("search", "red", "--min-score", cut)["hits"]
    assert kept == [h for h in hits if h["score"] > cut] and 1 <= len(kept) < len(hits)
    result = run("search", "red", "--min-score", "2")
    assert result.exit_code == 0 and result.stdout == "" and "no hits" in result.stderr
    # A negative equal to the query cancels it exactly, in the re-rank and in recall alone.
    for extra in ((), ("--no-rerank",)):
        same = run_json("search", "red", "--not", "red", *extra)
        assert same["query"] == "red" and set(same) == {"query", "source", "hits"}
        assert len(same["hits"]) == 3 and {h["score"] for h in same["hits"]} == {0.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--after", "yesterday"), "clipdex: error: --after: not a date: 'yesterday'"),
        (("--before", "2024-02-30"), "clipdex: error: --before: not a date"),
        (("--after", "2024-05-02", "--before", "2024-05-01"), "clipdex: error: --after: "),
        (("--min-duration", "9", "--max-duration", "3"), "clipdex: error: --min-duration: "),
        (("--max-duration", "-1"), "clipdex: error: --max-duration: "),
        (("--not", " "), "clipdex: error: --not: "),
        (("--min-score", "nan"), "clipdex: error: --min-score: "),
    ],
)
def test_bad_search_filters_are_one_usage_line(args, message):
    result = run("search", "x", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_a_count_of_one_is_singular(known_videos):
    result = run("index", known_videos["red.mp4"].path)  # 3 s of one colour: one clip
    assert result.exit_code == 0
    assert "; 1 clip added; 0 failed" in result.stdout


def test_a_newline_in_a_path_is_escaped_in_the_table_not_in_json(tmp_path, known_videos):
    odd = tmp_path / "two\nlines\t.mp4"
    shutil.copy(known_videos["red.mp4"].path, odd)
    shutil.copy(known_videos["cuts.mp4"].path, tmp_path / "plain.mp4")
    assert run("index", tmp_path).exit_code == 0
    lines = run("search", "red", "-k", "2").stdout.splitlines()
    assert len(lines) == 3  # the header and two hits, one line each
    assert any(line.endswith("/two\\nlines\\t.mp4") for line in lines[1:])
    assert len({line.index("/") for line in lines[1:]}) == 1  # still aligned
    assert str(odd) in {hit["path"] for hit in run_json("search", "red", "-k", "2")["hits"]}


def test_similar_returns_single_clips_as_the_docs_say(video_dir):
    """``similar`` never merges adjacent clips (``search`` does); docs/duplicates.md says so."""
    assert run("index", video_dir).exit_code == 0
    clips = run_json("clips", video_dir / "cuts.mp4")["clips"]  # red 0-2, blue 2-5, green 5-7.5
    hits = run_json("similar", "--clip", clips[0]["clip_id"], "-k", "10")["hits"]
    spans = {(h["start"], h["end"]) for h in hits if h["path"].endswith("cuts.mp4")}
    assert spans == {(2.0, 5.0), (5.0, 7.5)}  # touching, yet two hits
    page = (Path(__file__).resolve().parents[2] / "docs" / "duplicates.md").read_text()
    assert "it does not merge adjacent clips of a video: each hit is one clip" in page
