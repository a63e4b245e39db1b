"""A real library for the server tests: three small videos indexed with the tiny checkpoint.

``cuts.mp4`` has three shots (red 0-2 s, blue 2-5 s, green 5-7.5 s), hence three clips;
``cuts.webm`` is the same frames in VP9 (a browser without H.264 can play it, and its clips are
the nearest neighbours of ``cuts.mp4``'s); ``shapes.mp4`` is one 6 s shot of a moving disc.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clipdex.encoder import XClipEncoder
from clipdex.server.app import create_app
from indexer.pipeline import Indexer
from storage.library import Library
from storage.repository import get_video_by_path
from storage.transcript import TranscriptLine
from storage.transcripts import replace_transcript
from tests.support.library import bind_settings
from tests.support.videos import cut_off, encode_with, known_cuts, moving_shapes

LOOPBACK = "http://127.0.0.1:8000"
PLAIN = 14
SHOTS = [(2.0, (220, 40, 40)), (3.0, (40, 80, 220)), (2.5, (40, 200, 70))]


@dataclass
class Served:
    folder: Path  # the library folder
    videos: Path  # the indexed video folder
    encoder: XClipEncoder


@pytest.fixture(scope="session")
def tiny_encoder(xclip_checkpoint: Path) -> XClipEncoder:
    return XClipEncoder(str(xclip_checkpoint))


def index_into(folder: Path, encoder: XClipEncoder, roots: list[Path]) -> None:
    """Index ``roots`` into the library at ``folder`` through its own Library (as another
    process would), then close it."""
    with Library.open(folder) as library:
        settings = library.bind(bind_settings(encoder))
        report = Indexer(library, encoder, settings).run(roots)
    assert not report.failed, report.failed


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: XClipEncoder) -> Served:
    videos = tmp_path_factory.mktemp("served-videos")
    known_cuts(videos / "cuts.mp4", SHOTS, fps=24)
    encode_with(videos / "cuts.webm", videos / "cuts.mp4", codec="libvpx-vp9")
    moving_shapes(videos / "shapes.mp4", seconds=6.0, fps=25, seed=3)
    folder = tmp_path_factory.mktemp("served-library")
    index_into(folder, tiny_encoder, [videos])
    return Served(folder, videos, tiny_encoder)


@pytest.fixture
def library(served: Served) -> Iterator[Library]:
    with Library.open(served.folder) as library:
        yield library


@pytest.fixture
def client(library: Library, served: Served) -> Iterator[TestClient]:
    app = create_app(library, lambda: served.encoder)
    with TestClient(app, base_url=LOOPBACK) as client:
        yield client


@pytest.fixture(scope="session")
def odd(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: XClipEncoder) -> Served:
    """A library with ``odd.avi`` (MPEG-4 Part 2 in AVI: PyAV reads it, Chromium cannot play
    it), ``broken.mp4`` (not a video: it fails to index, with a reason), ``cut.mkv`` (cut off at
    30 %: indexed in part, with the reason) and ``PLAIN`` one-shot
    videos of distinct colours ``plain-NN.mp4`` (more hits than a page of 12)."""
    videos = tmp_path_factory.mktemp("odd-videos")
    for n in range(PLAIN):
        colour = (40 + 15 * n, 220 - 12 * n, (90 * n) % 256)
        known_cuts(videos / f"plain-{n:02d}.mp4", [(1.2, colour)], fps=10, size=(96, 64))
    moving_shapes(videos / "odd.avi", seconds=3.0, fps=25, seed=5, codec="mpeg4")
    (videos / "broken.mp4").write_bytes(b"this is not a video\n" * 50)
    whole = moving_shapes(tmp_path_factory.mktemp("whole") / "cut.mkv", 20.0, 10, (96, 64), 7)
    cut_off(videos / "cut.mkv", whole, 0.3)  # indexed in part: 6 of the 20 s it claims
    folder = tmp_path_factory.mktemp("odd-library")
    with Library.open(folder) as library:
        settings = library.bind(bind_settings(tiny_encoder))
        report = Indexer(library, tiny_encoder, settings).run([videos])
    assert [Path(path).name for path, _ in report.failed] == ["broken.mp4"], report.failed
    return Served(folder, videos, tiny_encoder)


SAID = {  # what the videos of ``served`` say, as the indexer would store it
    "cuts.mp4": [
        TranscriptLine(0.5, 1.5, "A red card & a <b>", "subtitles", "en"),
        TranscriptLine(2.5, 4.0, "The sky is blue today.", "speech", "en"),
    ],
    "shapes.mp4": [TranscriptLine(1.0, 2.0, "Circles and shapes.", "sidecar", None)],
}


@pytest.fixture(scope="session")
def spoken(tmp_path_factory: pytest.TempPathFactory, served: Served) -> Served:
    """A copy of ``served``'s library whose videos say ``SAID`` (stored through
    storage.transcripts, as the indexer stores them); the same video files."""
    folder = tmp_path_factory.mktemp("spoken") / "library"
    with Library.open(served.folder):  # checkpoints the WAL: the copy is whole
        pass
    shutil.copytree(served.folder, folder)
    with Library.open(folder) as library, library.session() as session, session.begin():
        for name, lines in SAID.items():
            video = get_video_by_path(str(served.videos / name), session=session)
            replace_transcript(video.id, lines, session=session)
    return Served(folder, served.videos, served.encoder)
