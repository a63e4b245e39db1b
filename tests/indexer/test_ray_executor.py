"""Indexing on a real local Ray cluster: the same clips and embeddings as a local run, into
SQLite and PostgreSQL; workers killed mid-run are retried, then their file fails with a reason;
speech recognised in the files' tasks.

One cluster for the file (``ray_cluster``); the videos are the session's tiny synthetic set.
"""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from clipdex.encoder import XClipEncoder
from indexer.file_stages import file_stages
from indexer.pipeline import Indexer
from indexer.ray_executor import RayExecutor, Sizing
from indexer.sampling import SamplingPlan
from storage import repository as repo
from storage import transcripts
from storage.library import Library
from tests.support.cli import run_json
from tests.support.library import bind_settings
from tests.support.speech import spoken_audio, spoken_video

# Float tolerance between a local run and a Ray worker's: the same code on the same CPU, but
# torch may pick other kernels for other thread counts.
ATOL = 1e-5


def stored(library: Library) -> dict[str, list[tuple[float, float, np.ndarray]]]:
    """Each video's clips (start, end, embedding), by file name."""
    from storage.codec import decode_embedding

    dim = library.settings.embed_dim
    with library.session() as session:
        return {
            Path(video.path).name: [
                (c.start_s, c.end_s, decode_embedding(c.embedding, dim))
                for c in repo.clips_of_video(video.id, session=session)
            ]
            for video in repo.videos_under(["/"], session=session)
        }


def assert_same(local: dict, remote: dict) -> None:
    assert sorted(local) == sorted(remote)
    for name, clips in local.items():
        spans = [(round(a, 6), round(b, 6)) for a, b, _ in clips]
        assert spans == [(round(a, 6), round(b, 6)) for a, b, _ in remote[name]], name
        for (_, _, mine), (_, _, theirs) in zip(clips, remote[name]):
            np.testing.assert_allclose(mine, theirs, atol=ATOL)


@pytest.fixture(scope="module")
def encoder(xclip_checkpoint: Path) -> XClipEncoder:
    return XClipEncoder(str(xclip_checkpoint))


@pytest.fixture(scope="module")
def local_clips(tmp_path_factory, encoder, video_dir) -> dict:
    """The clips of the session's videos indexed by the local executor (the reference)."""
    with Library.open(tmp_path_factory.mktemp("local")) as library:
        settings = library.bind(bind_settings(encoder))
        report = Indexer(library, encoder, settings).run([video_dir])
        assert report.indexed == 3 and not report.failed
        return stored(library)


def ray_indexer(library: Library, encoder, checkpoint: Path, **options) -> Indexer:
    settings = library.bind(bind_settings(encoder))
    executor = RayExecutor(
        options.pop("factory", functools.partial(XClipEncoder, str(checkpoint))),
        SamplingPlan.for_library(encoder, settings),
        **options,
    )
    return Indexer(library, encoder, settings, executor=executor)


@pytest.fixture
def in_driver(monkeypatch) -> list[str]:
    """The name of the recogniser of each transcription done in this process, the driver's
    (a worker's are not seen: the patch is in this process only)."""
    from clipdex.speech_model import WhisperRecognizer

    calls: list[str] = []
    transcribe = WhisperRecognizer.transcribe

    def counted(self, samples):
        calls.append(self.name)
        return transcribe(self, samples)

    monkeypatch.setattr(WhisperRecognizer, "transcribe", counted)
    return calls


@pytest.mark.slow
def test_cli_ray_index_into_postgresql_equals_the_local_run(
    ray_cluster, postgres_url, video_dir, local_clips, tmp_path, speech_model, in_driver
):
    """``clipdex --db-url postgresql://... index PATH --ray auto`` joins the running cluster.
    With ``--speech``, a file's task decodes its audio with its pictures and recognises it
    there (tiny.en loaded by the worker): the driver's recogniser is never called. An
    audio-only file's task decodes only its audio."""
    said = tmp_path / "said"
    said.mkdir()
    spoken = spoken_video(said / "spoken.mp4", "The minister says inflation is falling.")
    memo = spoken_audio(said / "memo.m4a", "A red balloon floats over the harbour.")
    report = run_json(
        "--db-url", postgres_url, "index", video_dir, said, "--ray", "auto", "--speech",
        "--speech-model", speech_model,
    )  # fmt: skip
    assert (report["indexed"], report["failed"], report["transcribed"]) == (5, [], 2)
    assert in_driver == []
    with Library.open(Path(os.environ["CLIPDEX_LIBRARY"]), db_url=postgres_url) as library:
        clips = stored(library)
        assert_same(local_clips, {n: c for n, c in clips.items() if n in local_clips})
        assert clips["spoken.mp4"] and clips["memo.m4a"] == []
        with library.session() as session:
            lines = {
                name: transcripts.transcript_of(
                    repo.get_video_by_path(str(path), session=session).id, session=session
                )
                for name, path in (("spoken", spoken), ("memo", memo))
            }
            assert repo.get_video_by_path(str(memo), session=session).audio_only
    assert [line.source for line in lines["spoken"]] == ["speech"]
    assert "inflation" in lines["spoken"][0].text.lower()
    assert "balloon" in lines["memo"][0].text.lower()


def said(folder: Path) -> dict[str, list[tuple]]:
    """Each file's transcript lines in the library at ``folder``, by file name."""
    with Library.open(folder) as library, library.session() as session:
        return {
            Path(video.path).name: [
                (round(x.start_s, 3), round(x.end_s, 3), x.source, x.language, x.text)
                for x in transcripts.transcript_of(video.id, session=session)
            ]
            for video in repo.videos_under(["/"], session=session)
        }


@pytest.mark.slow
def test_speech_always_through_ray_stores_what_the_local_run_stores(
    ray_cluster, tmp_path, speech_model, in_driver
):
    """``--speech-always`` listens to files that have subtitles too (``--speech`` would read
    only their subtitles). Through Ray, each file's task recognises its speech (never the
    driver) and the library ends up with exactly the transcripts of the local run: subtitles
    and speech of a video with an embedded subtitle stream, sidecar and speech of a voice memo
    with a sidecar.

    The sentences are ones tiny.en hears clearly: on a worker (``OMP_NUM_THREADS=1``, set by
    Ray) numpy's OpenBLAS computes the recogniser's audio features on one thread, and a
    sentence it half-hears may come out in other words than in a process with two BLAS threads
    (docs/cluster.md)."""
    from tests.support.speech import write_srt

    media = tmp_path / "media"
    media.mkdir()
    cues = write_srt(tmp_path / "cues.srt", [(0.2, 1.0, "a red balloon floats")])
    spoken_video(media / "subbed.mp4", "The minister says inflation is falling.", subtitles=cues)
    spoken_audio(media / "memo.m4a", "The harbour is calm tonight.")
    write_srt(media / "memo.srt", [(0.5, 2.0, "a note about the harbour")])
    always = ("--speech-always", "--speech-model", speech_model)
    local = run_json("--library", tmp_path / "local", "index", media, *always)
    assert (local["indexed"], local["transcribed"], local["failed"]) == (2, 2, [])
    assert len(in_driver) == 2
    in_driver.clear()
    remote = run_json("--library", tmp_path / "ray", "index", media, "--ray", "auto", *always)
    assert (remote["indexed"], remote["transcribed"], remote["failed"]) == (2, 2, [])
    assert in_driver == []  # recognised in the files' tasks

    heard = said(tmp_path / "local")
    assert {name: sorted({x[2] for x in lines}) for name, lines in heard.items()} == {
        "subbed.mp4": ["speech", "subtitles"],
        "memo.m4a": ["sidecar", "speech"],
    }
    assert "inflation" in " ".join(x[4] for x in heard["subbed.mp4"]).lower()
    assert said(tmp_path / "ray") == heard


def dies_on(path: Path, plan, fps_hint, *, markers: Path, **kwargs):
    """``file_stages``, except that a worker given ``red.mp4`` always dies, and one given
    ``cuts.mp4`` dies the first time (a marker file remembers it) after its first clip went
    out: with chunks of one clip, the task has streamed a chunk when it dies."""
    attempt = markers / f"{path.name}.{len(list(markers.glob(path.name + '.*')))}"
    attempt.touch()
    if path.name == "red.mp4":
        os.kill(os.getpid(), signal.SIGKILL)
    for count, item in enumerate(file_stages(path, plan, fps_hint, **kwargs)):
        if path.name == "cuts.mp4" and attempt.suffix == ".0" and count == 1:
            (markers.parent / "streamed-then-died").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        yield item


class DyingEncoder(XClipEncoder):
    """The real encoder, whose process is killed in the middle of its first forward pass."""

    def __init__(self, *args, marker: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._marker = marker

    def encode_clips(self, pixels, *, threads=None):
        if not self._marker.exists():
            self._marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().encode_clips(pixels, threads=threads)


@pytest.mark.allow_error_logs  # Ray logs the deaths it recovers from
@pytest.mark.slow
def test_ray_index_into_sqlite_with_killed_workers(
    ray_cluster, tmp_path, encoder, xclip_checkpoint, video_dir, local_clips
):
    """A distributed index into SQLite where a decode worker is killed mid-file (cuts.mp4,
    once, after streaming its first clip) and the model actor mid-batch: both are retried and their files come out as the
    local run makes them. A file whose worker dies every time (red.mp4) fails after the
    bounded retries, with the reason, and the run goes on."""
    markers = tmp_path / "markers"
    markers.mkdir()
    factory = functools.partial(DyingEncoder, str(xclip_checkpoint), marker=tmp_path / "model-died")
    with Library.open(tmp_path / "lib") as library:
        indexer = ray_indexer(
            library,
            encoder,
            xclip_checkpoint,
            factory=factory,
            stages=functools.partial(dies_on, markers=markers),
            max_retries=1,
            batch_clips=1,
        )
        try:
            report = indexer.run([video_dir])
            again = indexer.run([video_dir])  # the driver plans as ever: nothing changed
        finally:
            indexer.executor.shutdown()
        assert (report.indexed, again.skipped) == (2, 3)
        ((path, reason),) = report.failed
        assert Path(path).name == "red.mp4" and reason.startswith("decoder died (2 tries")
        assert sorted(p.name for p in markers.iterdir()) == [
            "cuts.mp4.0",
            "cuts.mp4.1",
            "red.mp4.0",
            "red.mp4.1",
            "still.mp4.0",
        ]
        assert (tmp_path / "model-died").exists()  # the model actor was killed mid-batch
        assert (tmp_path / "streamed-then-died").exists()  # cuts.mp4 has clips to stream
        clips = stored(library)
        assert_same(
            {n: c for n, c in local_clips.items() if n != "red.mp4"},
            {n: c for n, c in clips.items() if n != "red.mp4"},
        )
        assert clips["red.mp4"] == []  # recorded as failed, with its reason
        assert len(library.vectors()) == sum(map(len, clips.values()))


def test_sizing_leaves_cpus_to_decoding_and_puts_one_model_on_each_gpu():
    assert Sizing.for_cluster({"CPU": 2}) == Sizing(1, 1, 0.0, 2)  # both cores, as locally
    assert Sizing.for_cluster({"CPU": 3}) == Sizing(2, 1, 0.0, 1)
    assert Sizing.for_cluster({"CPU": 16}) == Sizing(6, 2, 0.0, 2)
    assert Sizing.for_cluster({"CPU": 16, "GPU": 4}) == Sizing(4, 1, 1.0, 1)
    assert Sizing.for_cluster({"CPU": 16, "GPU": 4}, use_gpus=False).actor_gpus == 0.0
    assert Sizing.for_cluster({"CPU": 2}, actors=3).actors == 3
