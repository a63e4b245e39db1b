"""Files cut off mid-way are indexed as far as they decode, stored with the duration decoded,
reported as partial (stderr, ``index --json``, ``status --json``) and indexed whole once they
are complete; complete files whose header overstates their length get the decoded duration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexer.completeness import Completeness, judge
from indexer.probe import probe
from indexer.sampling import SamplingPlan, iter_clips
from indexer.segment import SegmentRules
from storage import repository as repo
from storage.library import Library
from tests.support import videos
from tests.support.cli import run, run_json

SECONDS = 20.0
MAX_CLIP_S = 10.0  # the library default: "± a clip"
PLAN = SamplingPlan(SegmentRules(2.0, MAX_CLIP_S), 8, 224, 224)


def stored(library_dir: Path, path: Path) -> tuple[float, str | None, list[tuple[float, float]]]:
    """(duration_s, error, clip spans) of the row the library holds for ``path``."""
    with Library.open(library_dir) as library, library.session() as session:
        video = repo.get_video_by_path(str(path), session=session)
        assert video is not None and video.status == "indexed"
        spans = [(c.start_s, c.end_s) for c in repo.clips_of_video(video.id, session=session)]
        return video.duration_s, video.error, spans


@pytest.fixture(scope="module")
def whole_files(tmp_path_factory) -> dict[str, Path]:
    """20 s of moving shapes as a faststart mp4 (index first), a Matroska file and a WebM."""
    folder = tmp_path_factory.mktemp("whole")
    return {
        "faststart.mp4": videos.moving_shapes(
            folder / "faststart.mp4", SECONDS, container_options={"movflags": "faststart"}
        ),
        "cut.mkv": videos.moving_shapes(folder / "cut.mkv", SECONDS),
        "cut.webm": videos.moving_shapes(folder / "cut.webm", SECONDS, codec="libvpx-vp9"),
    }


@pytest.mark.parametrize("name", ["faststart.mp4", "cut.mkv"])
def test_a_file_cut_at_30_percent_is_partial_then_whole_when_completed(
    name, whole_files, tmp_path, library_dir
):
    whole = whole_files[name]
    path = videos.cut_off(tmp_path / name, whole, 0.3)
    assert probe(path).duration_s == pytest.approx(SECONDS, abs=0.1)  # the header's claim

    result = run("index", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["indexed"] == 1 and report["failed"] == []
    ((where, reason),) = [(p["path"], p["error"]) for p in report["partial"]]
    assert where == str(path) and reason.startswith("truncated (")
    assert f"of {SECONDS:.2f} s" in reason
    lines = [line for line in result.stderr.splitlines() if "partial" in line]
    assert lines == [f"clipdex: partial {path}: {reason}"]

    duration, error, spans = stored(library_dir, path)
    assert error == reason
    assert duration == pytest.approx(0.3 * SECONDS, abs=MAX_CLIP_S / 2)
    assert duration < SECONDS - MAX_CLIP_S / 2
    assert spans[-1][1] == pytest.approx(duration, abs=0.05)  # clips cover what was decoded
    assert f"decoded {duration:.2f} s" in reason
    status = run_json("status")
    assert status["partial"] == [{"path": str(path), "error": reason}]
    assert status["videos"] == 1 and status["failed"] == []

    unchanged = run_json("index", tmp_path)  # an unchanged partial file is not decoded again
    assert (unchanged["skipped"], unchanged["partial"]) == (1, [])

    shutil.copy(whole, path)  # the download completes: same path, new size and mtime
    again = run_json("index", tmp_path)
    assert (again["indexed"], again["partial"], again["failed"]) == (1, [], [])
    duration, error, spans = stored(library_dir, path)
    assert error is None
    assert duration == pytest.approx(SECONDS, abs=0.1)
    assert spans[-1][1] == pytest.approx(SECONDS, abs=0.1)
    assert run_json("status")["partial"] == []


def test_status_lists_partial_files_and_their_copies(whole_files, tmp_path):
    path = videos.cut_off(tmp_path / "cut.webm", whole_files["cut.webm"], 0.3)
    assert run("index", path).exit_code == 0
    lines = run("status").stdout.splitlines()
    assert "videos:   1 indexed (1 partial), 0 failed" in lines
    assert any(line.startswith(f"partial:  {path}: truncated (") for line in lines)

    copy = Path(shutil.copy(path, tmp_path / "copy.webm"))  # its clips are reused...
    report = run_json("index", copy)
    reason = run_json("status")["partial"][0]["error"]
    assert report["partial"] == [{"path": str(copy), "error": reason}]  # ...and its verdict
    assert len(run_json("status")["partial"]) == 2


def test_an_avi_whose_header_overstates_its_length_gets_the_decoded_duration(tmp_path, library_dir):
    source = videos.moving_shapes(tmp_path / "source.mp4", 4.0)
    avi = videos.encode_with(tmp_path / "whole.avi", source, codec="mpeg4")
    path = videos.avi_with_false_length(tmp_path / "lying" / "clip.avi", avi)
    assert probe(path).duration_s == pytest.approx(331.68, abs=0.1)  # (100 ^ 8192) / 25

    report = run_json("index", path)
    assert (report["indexed"], report["partial"], report["failed"]) == (1, [], [])
    duration, error, spans = stored(library_dir, path)
    assert duration == pytest.approx(4.0, abs=0.05) and error is None  # complete, not partial
    assert spans[-1][1] == pytest.approx(4.0, abs=0.05)


def test_a_frame_short_of_the_header_is_not_partial(known_videos):
    """Decoding that ends within the slack of the stated duration is complete, even when bytes
    are missing (a lost trailing index) or the last packet failed to decode."""
    path = known_videos["cuts.mp4"].path
    info, size = probe(path), path.stat().st_size
    assert info.declared_bytes == size
    short = info.duration_s - 1 / info.fps
    assert judge(info, size - 100, short).partial is None  # the last 100 bytes are missing
    assert judge(info, size, short, "decoding failed at 7.46 s (x)").partial is None
    assert judge(info, size, short).duration_s == info.duration_s
    three_short = info.duration_s - 3 / info.fps
    assert judge(info, size - 100, three_short).partial == (
        f"truncated ({size - 100} of {size} bytes): decoded {three_short:.2f} s of 7.50 s"
    )
    verdict = judge(info, size, 3.0, "decoding failed at 2.96 s (Invalid data)")
    assert verdict.partial == "decoding failed at 2.96 s (Invalid data); decoded 3.00 s of 7.50 s"
    assert verdict.duration_s == 3.0


def test_a_decoding_error_midway_keeps_the_clips_before_it(whole_files, tmp_path, xclip_checkpoint):
    """With explicit decoder threads (machines with more than 2 cores) FFmpeg reports the cut
    as an error, not as the end of the stream: the clips before it are kept all the same."""
    from clipdex.encoder import XClipEncoder
    from indexer.decode_process import DecodeWorker
    from indexer.errors import DecodeStopped
    from indexer.pipeline import Indexer
    from tests.support.library import bind_settings

    path = videos.cut_off(tmp_path / "cut.mp4", whole_files["faststart.mp4"], 0.3)
    plan = SamplingPlan(SegmentRules(2.0, 10.0), 8, 224, 224, decode_threads=1)
    here = []
    with pytest.raises(DecodeStopped) as stopped:
        here.extend(iter_clips(path, plan, 25.0))
    assert stopped.value.reason.startswith("decoding failed at ") and here
    assert here[-1].end_s == pytest.approx(stopped.value.time_s + 0.04, abs=1e-6)

    with DecodeWorker(plan) as worker:
        worker.submit(0, path, 25.0, SECONDS)
        events = list(iter(worker.next, None))
    assert [e.kind for e in events] == ["start"] + ["clip"] * len(here) + ["done"]
    assert events[-1].payload.stopped == stopped.value.reason

    encoder = XClipEncoder(str(xclip_checkpoint))
    with Library.open(tmp_path / "lib") as library:
        settings = library.bind(bind_settings(encoder))
        indexer = Indexer(library, encoder, settings)
        indexer.executor.plan = plan  # decode_threads=1, as above
        report = indexer.run([path])
    ((where, reason),) = report.partial
    assert (where, report.indexed, report.failed) == (str(path), 1, [])
    assert reason.startswith("truncated (") and f"decoded {here[-1].end_s:.2f} s" in reason
    duration, error, spans = stored(tmp_path / "lib", path)
    assert (duration, error) == (pytest.approx(here[-1].end_s), reason)


def test_a_truncated_file_of_a_format_that_declares_no_size_is_partial_by_duration(tmp_path):
    """FLV states a duration but no size: decoding ending well before it is the evidence.
    MPEG-TS states neither (FFmpeg estimates the duration from the data there): nothing to
    flag, and the duration is right."""
    source = videos.moving_shapes(tmp_path / "source.mp4", 10.0)
    for suffix, partial in ((".flv", True), (".ts", False)):
        whole = videos.encode_with(tmp_path / f"whole{suffix}", source)
        cut = videos.cut_off(tmp_path / f"cut{suffix}", whole, 0.3)
        for path, expect_partial in ((whole, False), (cut, partial)):
            info = probe(path)
            assert info.declared_bytes is None
            decoded_s = list(iter_clips(path, PLAN, info.fps))[-1].end_s
            verdict = judge(info, path.stat().st_size, decoded_s)
            assert verdict.duration_s == pytest.approx(decoded_s, abs=0.1), path
            if expect_partial:
                assert verdict.partial == (
                    "decoding ended early (truncated or damaged): "
                    f"decoded {decoded_s:.2f} s of {info.duration_s:.2f} s"
                )
                assert decoded_s < 0.5 * info.duration_s
            else:
                assert verdict.partial is None, path


def test_audio_running_past_the_picture_is_not_partial(tmp_path):
    """FLV states the container's duration (the audio's 3 s) for 2 s of video: complete."""
    path = videos.with_longer_audio(tmp_path / "talk.flv", video_s=2.0, audio_s=3.0)
    info = probe(path)
    assert info.duration_s == pytest.approx(3.0, abs=0.15) and not info.duration_is_video
    decoded_s = list(iter_clips(path, PLAN, info.fps))[-1].end_s
    verdict = judge(info, path.stat().st_size, decoded_s)
    assert verdict == Completeness(pytest.approx(2.0, abs=0.05), None)


def test_a_span_of_a_file_whose_header_overstates_it_is_embedded_like_the_whole_file(
    tmp_path, xclip_checkpoint
):
    """``clipdex similar FILE`` on the AVI claiming 331 s: the span is the 4 s decoded, cut and
    sampled as in the complete file, not 34 slivers of it."""
    import numpy as np

    from clipdex.encoder import XClipEncoder
    from indexer.span_embedding import embed_span

    source = videos.moving_shapes(tmp_path / "source.mp4", 4.0)
    whole = videos.encode_with(tmp_path / "whole.avi", source, codec="mpeg4")
    lying = videos.avi_with_false_length(tmp_path / "lying.avi", whole)
    encoder = XClipEncoder(str(xclip_checkpoint))
    truth, span = embed_span(whole, encoder, PLAN), embed_span(lying, encoder, PLAN)
    assert span.end_s == pytest.approx(truth.end_s) and truth.end_s == pytest.approx(4.0, abs=0.05)
    np.testing.assert_allclose(span.embedding, truth.embedding, atol=1e-5)
