"""The executor seam's contract, run against every implementation: the local executor (decode
worker, and in-process), and the Ray executor on a local cluster (``ray_cluster``).

Each submitted file ends in exactly one FileResult: clips in time order with their embeddings
and how decoding ended, or a one-line error; ClipsEmbedded counts every clip once. A file whose
audio is asked for brings its samples back from the same pass."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from clipdex.encoder import XClipEncoder
from indexer.audio import SAMPLE_RATE, read_audio
from indexer.executor import ClipsEmbedded, FileJob, FileResult, FileStarted
from indexer.file_stages import Streams
from indexer.local_executor import LocalExecutor
from indexer.probe import probe
from indexer.sampling import SamplingPlan
from indexer.segment import SegmentRules
from tests.support import videos
from tests.support.speech import spoken_video

# Ray: the cluster and the executor's model actors start here (seconds each).
KINDS = ["local-worker", "local-inline", pytest.param("ray", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def encoder(xclip_checkpoint: Path) -> XClipEncoder:
    return XClipEncoder(str(xclip_checkpoint))


@pytest.fixture(scope="module")
def plan(encoder) -> SamplingPlan:
    spec = encoder.preprocess
    return SamplingPlan(
        SegmentRules(2.0, 10.0), encoder.frames_per_clip, spec.shortest_edge, spec.crop_size
    )


@pytest.fixture(scope="module")
def ray_executor(ray_cluster, plan, xclip_checkpoint):
    """One Ray executor for the module: its model actors start once (seconds each time)."""
    from indexer.ray_executor import RayExecutor

    made = RayExecutor(functools.partial(XClipEncoder, str(xclip_checkpoint)), plan)
    yield made
    made.shutdown()


@pytest.fixture(params=KINDS)
def executor(request, encoder, plan):
    if request.param == "ray":
        made = request.getfixturevalue("ray_executor")
        yield made
        made.release()
        return
    made = LocalExecutor(encoder, plan, decode_in_worker=request.param == "local-worker")
    yield made
    made.release()


def run(executor, jobs: list[FileJob]) -> tuple[dict[int, FileResult], list]:
    for job in jobs:
        executor.submit(job)
    results: dict[int, FileResult] = {}
    events = []
    while len(results) < len(jobs):
        event = executor.next()
        events.append(event)
        if isinstance(event, FileResult):
            assert event.job not in results
            results[event.job] = event
    return results, events


def test_each_file_ends_in_one_result(executor, known_videos, tmp_path):
    cuts = known_videos["cuts.mp4"].path
    broken = videos.random_bytes(tmp_path / "broken.mp4")
    info = probe(cuts)
    jobs = [FileJob(7, cuts, info.fps, info.duration_s), FileJob(9, broken, 25.0, 1.0)]
    results, events = run(executor, jobs)
    assert set(results) == {7, 9}
    good, bad = results[7], results[9]
    assert good.error is None and good.decoded is not None and good.decoded.stopped is None
    assert [round(c.start_s, 3) for c in good.clips] == sorted(
        round(c.start_s, 3) for c in good.clips
    )
    assert len(good.clips) == 3  # cuts.mp4: three shots
    for clip in good.clips:
        assert clip.embedding.shape == (clip.features.shape[-1],)
        assert np.isclose(np.linalg.norm(clip.embedding), 1.0, atol=1e-4)
    assert len(good.decoded.hashes) > 0
    assert bad.error and "\n" not in bad.error and not bad.clips
    assert sum(e.count for e in events if isinstance(e, ClipsEmbedded)) == 3
    assert {e.job for e in events if isinstance(e, FileStarted)} <= {7, 9}


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("spoken")
    return spoken_video(folder / "spoken.mp4", "The minister says inflation is falling.")


def test_the_audio_comes_back_from_the_pictures_pass(executor, spoken):
    """A file whose speech is wanted gets its audio decoded in the same pass as its pictures,
    and the samples come back with its clips: the ones a pass of its own decodes."""
    info = probe(spoken)
    assert info.has_audio and not info.text_subtitles
    jobs = [
        FileJob(1, spoken, info.fps, info.duration_s, Streams(audio=True)),
        FileJob(2, spoken, info.fps, info.duration_s),
    ]
    results, _ = run(executor, jobs)
    with_audio, without = results[1], results[2]
    assert with_audio.error is None and len(with_audio.clips) == len(without.clips) > 0
    track = with_audio.decoded.audio
    alone = read_audio(spoken)
    assert track.error is None and not track.truncated and with_audio.decoded.heard is None
    assert track.audio.start_s == alone.audio.start_s
    assert abs(track.audio.samples.size / SAMPLE_RATE - 4.0) < 0.1
    np.testing.assert_array_equal(track.audio.samples, alone.audio.samples)
    assert without.decoded.audio is None and without.decoded.heard is None
