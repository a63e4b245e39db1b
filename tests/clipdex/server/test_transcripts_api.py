"""Words in the HTTP API: /api/search's ``source``, why each hit matched, and a video's
transcript as JSON and as WebVTT captions; on a copy of the served library whose videos say
things (conftest.SAID)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clipdex.server.app import create_app
from storage.library import Library
from tests.clipdex.server.conftest import LOOPBACK, SAID, Served


@pytest.fixture
def said_client(spoken: Served) -> Iterator[TestClient]:
    with Library.open(spoken.folder) as library:
        app = create_app(library, lambda: spoken.encoder)
        with TestClient(app, base_url=LOOPBACK) as client:
            yield client


def _search(client: TestClient, **params) -> dict:
    response = client.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _video_id(client: TestClient, name: str) -> int:
    videos = client.get("/api/videos").json()["videos"]
    return next(v["video_id"] for v in videos if Path(v["path"]).name == name)


def test_search_fuses_words_and_says_why(said_client: TestClient) -> None:
    body = _search(said_client, q="blue sky", k=3)
    assert body["source"] == "all"  # the library has transcripts
    first = body["hits"][0]
    assert Path(first["path"]).name == "cuts.mp4"
    assert first["visual_score"] is not None and first["text_score"] > 0
    (line,) = first["lines"]
    assert (line["start"], line["end"], line["text"]) == (2.5, 4.0, "The sky is blue today.")
    assert [line["text"][a:b] for a, b in line["marks"]] == ["sky", "blue"]

    speech = _search(said_client, q="circle", source="speech")
    assert [Path(h["path"]).name for h in speech["hits"]] == ["shapes.mp4"]
    assert speech["hits"][0]["visual_score"] is None and speech["hits"][0]["clip_id"]
    visual = _search(said_client, q="blue sky", k=3, source="visual")
    assert all(h["lines"] == [] and h["text_score"] is None for h in visual["hits"])


def test_bad_sources_are_rejected(said_client: TestClient) -> None:
    bad = said_client.get("/api/search", params={"q": "sky", "source": "audio"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "source"]
    mixed = said_client.get("/api/search", params={"q": "sky", "source": "speech", "not": "x"})
    assert mixed.status_code == 422 and mixed.json()["detail"][0]["loc"] == ["query", "source"]


def test_transcript_as_json_and_as_webvtt(said_client: TestClient) -> None:
    cuts = _video_id(said_client, "cuts.mp4")
    body = said_client.get(f"/api/videos/{cuts}/transcript").json()
    assert body["video_id"] == cuts and Path(body["path"]).name == "cuts.mp4"
    assert [(x["start"], x["end"], x["text"], x["source"]) for x in body["lines"]] == [
        (line.start_s, line.end_s, line.text, line.source) for line in SAID["cuts.mp4"]
    ]
    vtt = said_client.get(f"/api/videos/{cuts}/transcript.vtt")
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text == (
        "WEBVTT\n\n"
        "00:00:00.500 --> 00:00:01.500\nA red card &amp; a &lt;b&gt;\n\n"
        "00:00:02.500 --> 00:00:04.000\nThe sky is blue today.\n"
    )
    silent = _video_id(said_client, "cuts.webm")
    assert said_client.get(f"/api/videos/{silent}/transcript").json()["lines"] == []
    assert said_client.get(f"/api/videos/{silent}/transcript.vtt").text == "WEBVTT\n"
    for bad in ("999999", "abc"):
        assert said_client.get(f"/api/videos/{bad}/transcript").status_code == 404
        assert said_client.get(f"/api/videos/{bad}/transcript.vtt").status_code == 404
