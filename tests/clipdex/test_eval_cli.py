"""``clipdex eval``: its numbers equal ranks and IoUs worked out independently on the same library.

The tiny model is random, so which video a caption finds is not known in advance; the ground
truth is computed here without the code under test: every clip of the library is scored
directly with the encoder (plain cosine, and the model's re-rank), each video takes its best
clip's score, and the metrics are worked out inline.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.support import videos
from tests.support.cli import run, run_json, terminal_run

CAPTIONS = [
    ("video1", "a red screen"),
    ("video2", "three shots in a row"),
    ("video3", "a blue wall"),
    ("video4", "a ball rolling across the floor"),
    ("video5", "stripes and checks"),
    ("video1", "nothing happens"),
    ("video3", "the sky at noon"),
    ("video4", "a green light"),
]


def _readme_eval_keys() -> set[str]:
    """The top-level keys the "JSON shapes" of docs/commands.md give for ``eval --json``."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text()
    start = text.index("eval   --json")
    shape = text[start : text.index("see quality.md", start)]
    depth, keys = 0, set()
    for token in re.findall(r'[{}\[\]]|"[a-z_]+"', shape):
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
        elif depth == 1:
            keys.add(token.strip('"'))
    return keys


README_EVAL_KEYS = _readme_eval_keys()


@pytest.fixture(scope="module")
def eval_videos(tmp_path_factory, known_videos) -> Path:
    """Five short videos named like MSR-VTT's (video1.mp4 ... video5.mp4), eight clips."""
    folder = tmp_path_factory.mktemp("eval-videos")
    shutil.copy(known_videos["red.mp4"].path, folder / "video1.mp4")
    shutil.copy(known_videos["cuts.mp4"].path, folder / "video2.mp4")
    videos.solid_color(folder / "video3.mp4", (30, 60, 200), seconds=2.0, fps=25)
    videos.moving_shapes(folder / "video4.mp4", seconds=3.0, fps=25, seed=3)
    videos.known_cuts(folder / "video5.mp4", [(2.0, "checker"), (2.0, "hstripes")], fps=25)
    return folder


def write_csv(path: Path, rows) -> Path:
    path.write_text("".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


def library_and_encoder(folder: Path, checkpoint: Path):
    from clipdex.encoder import XClipEncoder
    from storage.library import Library

    return Library.open(folder), XClipEncoder(str(checkpoint))


def clip_table(library, paths):
    """(path, start, end, features, unit embedding) of every clip of the videos ``paths``."""
    from storage import repository as repo

    rows = []
    with library.session() as session:
        for path in paths:
            video = repo.get_video_by_path(str(path), session=session)
            clips = repo.clips_of_video(video.id, session=session)
            inputs = repo.clip_rerank_inputs([c.id for c in clips], session=session)
            rows += [(str(path), c.start_s, c.end_s, *inputs[c.id]) for c in clips]
    return rows


def independent_ranks(encoder, clips, text):
    """The right video's rank for each video, by plain cosine and by the model's re-rank."""
    embedding = encoder.encode_text(text)
    unit = embedding / np.linalg.norm(embedding)
    features = np.stack([c[3] for c in clips]).astype(np.float32)
    vectors = np.stack([c[4] for c in clips])
    scores = {
        "no_rerank": vectors @ unit,
        "rerank": np.asarray(encoder.rerank(embedding, features, vectors)),
    }
    ranks = {}
    for mode, values in scores.items():
        best: dict[str, float] = {}
        for clip, score in zip(clips, values):
            best[clip[0]] = max(best.get(clip[0], -np.inf), float(score))
        ranks[mode] = {p: 1 + sum(s > best[p] for s in best.values()) for p in best}
    return ranks


def test_video_retrieval_metrics_equal_independent_ranks(eval_videos, tmp_path, xclip_checkpoint):
    captions = write_csv(tmp_path / "captions.csv", [("video", "caption"), *CAPTIONS])
    result = run("--library", tmp_path / "lib", "eval", captions, "--videos", eval_videos, "--json")
    assert result.exit_code == 0 and result.stderr == ""  # no bars when not on a terminal
    report = json.loads(result.stdout)
    assert set(report) == README_EVAL_KEYS

    library, encoder = library_and_encoder(tmp_path / "lib", xclip_checkpoint)
    with library:
        paths = [eval_videos / f"video{i}.mp4" for i in range(1, 6)]
        clips = clip_table(library, paths)
        expected = {
            mode: [
                independent_ranks(encoder, clips, text)[mode][str(eval_videos / f"{v}.mp4")]
                for v, text in CAPTIONS
            ]
            for mode in ("rerank", "no_rerank")
        }
    assert report["queries"] == 8 and report["videos"] == 5 and report["clips"] == len(clips)
    assert report["failed"] == [] and report["moment_retrieval"] is None
    for mode, ranks in expected.items():
        assert [q["rank"][mode] for q in report["per_query"]] == ranks
        n = len(ranks)
        assert report["video_retrieval"][mode] == {
            "r1": pytest.approx(100 * sum(r <= 1 for r in ranks) / n),
            "r5": pytest.approx(100 * sum(r <= 5 for r in ranks) / n),
            "r10": pytest.approx(100 * sum(r <= 10 for r in ranks) / n),
            "median_rank": statistics.median(ranks),
            "mean_rank": pytest.approx(sum(ranks) / n),
        }
    # The set is not trivial: captions land at several ranks, and re-rank changes some.
    assert len(set(expected["rerank"])) > 1 and len(set(expected["no_rerank"])) > 1
    assert [q["line"] for q in report["per_query"]] == list(range(2, 10))


def test_moment_retrieval_at_iou_by_construction(eval_videos, tmp_path, xclip_checkpoint):
    """Rows whose moment is the top span itself (IoU 1), 0.6 of it, disjoint from it, or in the
    other video: R@1 at IoU 0.5 and 0.7 are then 2/4 and 1/4 by construction."""
    from search.text import SearchOptions, search_text

    files = [eval_videos / "video2.mp4", eval_videos / "video5.mp4"]
    lib = tmp_path / "lib"
    assert run("--library", lib, "index", *files).exit_code == 0
    text = "a hand waving"
    library, encoder = library_and_encoder(lib, xclip_checkpoint)
    with library:
        spans = {
            (mode, n): [
                (h.path, h.start_s, h.end_s)
                for h in search_text(library, encoder, text, SearchOptions(n, mode == "rerank"))
            ]
            for mode in ("rerank", "no_rerank")
            for n in (1, 5)
        }
    top_path, a, b = spans[("rerank", 1)][0]
    other = next(f for f in files if str(f) != top_path)
    rows = [
        (Path(top_path).stem, text, a, b),  # IoU 1
        (Path(top_path).stem, text, a, a + (b - a) / 0.6),  # IoU 0.6
        (Path(top_path).stem, text, b + 1, b + 3),  # IoU 0
        (other.stem, text, a, b),  # the wrong video at the top
    ]
    captions = write_csv(tmp_path / "moments.csv", rows)
    report = run_json("--library", lib, "eval", captions, "--videos", eval_videos)

    moments = report["moment_retrieval"]
    assert moments["rerank"]["r1_iou0.5"] == 50.0 and moments["rerank"]["r1_iou0.7"] == 25.0
    for mode in ("rerank", "no_rerank"):  # every figure against the spans search returned
        best = []
        for stem, _, start, end in rows:
            best.append(
                {
                    n: max(
                        (
                            _iou((start, end), (s, e))
                            for p, s, e in spans[(mode, n)]
                            if Path(p).stem == stem
                        ),
                        default=0.0,
                    )
                    for n in (1, 5)
                }
            )
        got = [q["best_iou"][mode] for q in report["per_query"]]
        assert got == [{f"top{n}": pytest.approx(b[n], abs=1e-4) for n in (1, 5)} for b in best]
        for n in (1, 5):
            for t in (0.5, 0.7):
                share = 100 * sum(b[n] >= t - 1e-9 for b in best) / len(best)
                assert moments[mode][f"r{n}_iou{t}"] == pytest.approx(share)
    assert report["per_query"][0]["best_iou"]["rerank"]["top1"] == pytest.approx(1.0)
    assert report["per_query"][1]["best_iou"]["rerank"]["top1"] == pytest.approx(0.6)


def _iou(x, y):
    inter = max(0.0, min(x[1], y[1]) - max(x[0], y[0]))
    return inter / (x[1] - x[0] + y[1] - y[0] - inter)


@pytest.mark.slow
def test_on_a_terminal_bars_then_a_table_and_the_temporary_library_is_removed(
    eval_videos, tmp_path, monkeypatch, library_dir
):
    """As a user runs it on CLIP4Clip's MSR-VTT test list (header key,vid_key,video_id,sentence),
    in a real process on a terminal: the indexing bar, the captions bar, then the table."""
    # A short folder of its own: the decode worker's socket lives in TMPDIR, and a socket path
    # may not exceed 107 bytes (tmp_path under a test worker's folder comes close).
    scratch = Path(tempfile.mkdtemp(prefix="cdx-eval-"))
    monkeypatch.setenv("TMPDIR", str(scratch))
    rows = [("key", "vid_key", "video_id", "sentence")]
    rows += [(f"ret{i}", f"msr{v[5:]}", v, t) for i, (v, t) in enumerate(CAPTIONS)]
    captions = write_csv(tmp_path / "MSRVTT_JSFUSION_test.csv", rows)
    status, screen = terminal_run("eval", captions, "--videos", eval_videos)
    assert status == 0, screen
    assert "5/5" in screen and "clips_per_s" in screen  # the indexing bar, as index draws it
    assert re.search(r"8/8 \[[^\]]*caption", screen)  # the captions bar: 8/8 [..caption/s]
    lines = [line.strip("\r") for line in screen.split("\n")]
    top = next(i for i, line in enumerate(lines) if line.startswith("8 captions, 5 videos, "))
    table = lines[top + 1 : top + 7]
    assert table[0].split() == ["metric", "re-rank", "no", "re-rank"]
    labels = [line.rsplit(None, 2)[0] for line in table[1:]]
    assert labels == ["R@1", "R@5", "R@10", "median rank", "mean rank"]
    assert table[3].split()[1:] == ["100.0", "100.0"]  # R@10 of 5 videos
    assert len({len(line) for line in table}) == 1  # right-aligned columns
    assert list(scratch.iterdir()) == []
    scratch.rmdir()
    assert list(library_dir.iterdir()) == []  # CLIPDEX_LIBRARY (an archive) is left alone


def test_a_library_with_other_videos_is_refused(eval_videos, tmp_path, known_videos):
    lib = tmp_path / "lib"
    assert run("--library", lib, "index", known_videos["red.mp4"].path).exit_code == 0
    captions = write_csv(tmp_path / "c.csv", CAPTIONS[:2])
    result = run("--library", lib, "eval", captions, "--videos", eval_videos)
    assert result.exit_code == 2
    assert "holds 1 videos that" in result.stderr and result.stderr.count("\n") == 1


def test_a_video_that_cannot_be_indexed_is_reported_and_the_rest_measured(eval_videos, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(eval_videos / "video1.mp4", folder / "video1.mp4")
    shutil.copy(eval_videos / "video3.mp4", folder / "video3.mp4")
    videos.random_bytes(folder / "broken.mp4")
    captions = write_csv(tmp_path / "c.csv", [*CAPTIONS[:3:2], ("broken", "static")])
    result = run("eval", captions, "--videos", folder, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["queries"] == 2 and report["videos"] == 1 + 1
    assert [f["path"] for f in report["failed"]] == [str(folder / "broken.mp4")]
    assert "broken.mp4" in result.stderr


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        (["video1"], "c.csv:1: expected video,caption"),
        (["video1,a red screen", "video99,missing"], "c.csv:2: no video 'video99'"),
        (["video1,a red screen,3,1"], "c.csv:1: start 3 is not before end 1"),
    ],
)
def test_bad_captions_are_one_line_and_exit_2_before_any_indexing(
    eval_videos, tmp_path, rows, reason
):
    captions = tmp_path / "c.csv"
    captions.write_text("\n".join(rows) + "\n")
    result = run("eval", captions, "--videos", eval_videos)
    assert result.exit_code == 2
    assert result.stderr.startswith("clipdex: error: ") and reason in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_a_missing_captions_file_or_videos_folder_is_one_line(eval_videos, tmp_path):
    captions = write_csv(tmp_path / "c.csv", CAPTIONS[:1])
    for args, reason in (
        ((tmp_path / "none.csv", "--videos", eval_videos), "none.csv: cannot read"),
        ((captions, "--videos", tmp_path / "nowhere"), "nowhere: no such folder"),
    ):
        result = run("eval", *args)
        assert result.exit_code == 2 and reason in result.stderr
        assert result.stderr.startswith("clipdex: error: ") and result.stderr.count("\n") == 1
