"""The JSON API, thumbnails and media streaming on a real library (tiny X-CLIP, real videos)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from clipdex.server.app import create_app
from search.fusion import search_spans
from search.hits import hits_for, merge_top
from search.text import SearchOptions
from storage import repository as repo
from storage.library import Library
from tests.clipdex.server.conftest import LOOPBACK, PLAIN, Served, index_into
from tests.support.videos import moving_shapes

REPO = Path(__file__).resolve().parents[3]
HIT_KEYS = {"path", "start", "end", "score", "clip_id", "video_id"}
SEARCH_HIT_KEYS = HIT_KEYS | {"visual_score", "text_score", "lines"}  # why each hit matched


def _video(client: TestClient, name: str) -> dict:
    for hit in client.get("/api/search", params={"q": "shapes", "k": 10}).json()["hits"]:
        if Path(hit["path"]).name == name:
            return client.get(f"/api/videos/{hit['video_id']}").json()
    raise AssertionError(f"{name} not found by search")


def test_search_returns_the_cli_json_shape_and_ranking(client, library, served) -> None:
    response = client.get("/api/search", params={"q": "red shapes moving", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "red shapes moving"
    assert 1 <= len(body["hits"]) <= 3
    assert all(set(hit) == SEARCH_HIT_KEYS for hit in body["hits"])
    scores = [hit["score"] for hit in body["hits"]]
    assert scores == sorted(scores, reverse=True)
    options = SearchOptions(k=3)
    expected = search_spans(library, served.encoder, "red shapes moving", options, "visual")
    assert body["hits"] == [hit.to_json() for hit in expected]


def test_no_rerank_returns_the_recall_cosine(client, library, served) -> None:
    plain = client.get("/api/search", params={"q": "a blue sky", "rerank": "false"}).json()
    options = SearchOptions(rerank=False)
    expected = search_spans(library, served.encoder, "a blue sky", options, "visual")
    assert plain["hits"] == [hit.to_json() for hit in expected]
    reranked = client.get("/api/search", params={"q": "a blue sky"}).json()
    assert [h["score"] for h in plain["hits"]] != [h["score"] for h in reranked["hits"]]


def test_bad_search_parameters_and_blank_queries_are_rejected(client) -> None:
    for params in ({"q": ""}, {"q": "   "}, {"q": "\t\n"}, {}):
        response = client.get("/api/search", params=params)
        assert response.status_code == 422, params
        assert response.json() == {"detail": "the query is empty: describe what to find"}
    assert client.get("/api/search", params={"q": "x", "k": 0}).status_code == 422
    assert client.get("/api/search", params={"q": "x", "k": 101}).status_code == 422


def test_encoder_is_loaded_once_and_only_for_text_search(library, served) -> None:
    loads = []

    def load():
        loads.append(1)
        return served.encoder

    with TestClient(create_app(library, load), base_url=LOOPBACK) as client:
        clip_id = client.get("/api/videos/1").json()["clips"][0]["clip_id"]
        for url in (
            "/api/status",
            f"/api/clips/{clip_id}",
            f"/api/clips/{clip_id}/similar",
            f"/api/clips/{clip_id}/thumbnail.jpg",
            "/api/videos/1/media",
            "/",
        ):
            assert client.get(url).status_code == 200, url
        assert loads == []
        client.get("/api/search", params={"q": "a dog"})
        client.get("/api/search", params={"q": "a cat"})
        assert loads == [1]


def test_status_matches_the_library(client) -> None:
    body = client.get("/api/status").json()
    assert body["videos"] == 3 and body["clips"] == 7 and body["failed"] == []
    assert body["model"] and body["generation"] >= 3


def test_clip_and_video_details_agree(client, served) -> None:
    video = _video(client, "cuts.mp4")
    assert video["path"] == str(served.videos / "cuts.mp4")
    assert video["status"] == "indexed" and video["codec"] == "h264"
    assert [(c["start"], c["end"]) for c in video["clips"]] == [(0.0, 2.0), (2.0, 5.0), (5.0, 7.5)]
    second = video["clips"][1]
    clip = client.get(f"/api/clips/{second['clip_id']}").json()
    assert clip == {
        "clip_id": second["clip_id"],
        "video_id": video["video_id"],
        "path": video["path"],
        "start": 2.0,
        "end": 5.0,
    }
    assert client.get("/api/clips/999999").status_code == 404
    assert client.get("/api/videos/999999").status_code == 404


def test_similar_finds_the_same_shot_in_the_re_encoded_copy(client) -> None:
    mp4, webm = _video(client, "cuts.mp4"), _video(client, "cuts.webm")
    for mine, twin in zip(mp4["clips"], webm["clips"]):
        body = client.get(f"/api/clips/{mine['clip_id']}/similar", params={"k": 3}).json()
        assert body["clip"] == client.get(f"/api/clips/{mine['clip_id']}").json()
        hits = body["hits"]
        assert len(hits) == 3 and all(set(h) == HIT_KEYS for h in hits)
        assert mine["clip_id"] not in [h["clip_id"] for h in hits]
        assert hits[0]["clip_id"] == twin["clip_id"]
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    other = client.get(
        f"/api/clips/{mp4['clips'][0]['clip_id']}/similar",
        params={"k": 10, "exclude_same_video": "true"},
    ).json()["hits"]
    assert len(other) == 4 and all(h["video_id"] != mp4["video_id"] for h in other)


def _mean_rgb(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=float).mean(axis=(0, 1))


def test_thumbnail_is_a_cached_jpeg_of_the_clips_middle(client, served) -> None:
    video = _video(client, "cuts.mp4")
    red, blue = video["clips"][0]["clip_id"], video["clips"][1]["clip_id"]
    response = client.get(f"/api/clips/{red}/thumbnail.jpg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG" and image.size == (320, 240)
    r, _, b = _mean_rgb(response.content)
    assert r > b + 40  # the red shot (0-2 s), not the blue one
    r, _, b = _mean_rgb(client.get(f"/api/clips/{blue}/thumbnail.jpg").content)
    assert b > r + 40
    (cached,) = (served.folder / "thumbs").glob(f"{red}-*.jpg")
    before = cached.stat().st_mtime_ns
    again = client.get(f"/api/clips/{red}/thumbnail.jpg")
    assert again.content == response.content == cached.read_bytes()
    assert cached.stat().st_mtime_ns == before


@pytest.fixture
def media(client: TestClient, served: Served) -> tuple[str, bytes]:
    video = _video(client, "cuts.mp4")
    return f"/api/videos/{video['video_id']}/media", (served.videos / "cuts.mp4").read_bytes()


def test_media_without_range_is_the_whole_file(client, media) -> None:
    url, data = media
    response = client.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=0-1", 0, 1),
        ("bytes=100-", 100, None),
        ("bytes=-500", -500, None),
        ("bytes=10-20", 10, 20),
        ("bytes=0-99999999", 0, None),
    ],
)
def test_single_ranges_get_206_with_content_range(client, media, header, first, last) -> None:
    url, data = media
    size = len(data)
    start = first % size
    end = size - 1 if last is None else last
    response = client.get(url, headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.content == data[start : end + 1]
    assert response.headers["content-length"] == str(end + 1 - start)


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{size}", "bytes=-0"])
def test_ranges_past_the_end_get_416(client, media, header) -> None:
    url, data = media
    response = client.get(url, headers={"Range": header.format(size=len(data))})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"


def test_two_ranges_come_back_as_multipart_byteranges(client, media) -> None:
    url, data = media
    response = client.get(url, headers={"Range": "bytes=0-9,1000-1009"})
    assert response.status_code == 206
    boundary = re.fullmatch(
        r"multipart/byteranges; boundary=(\w+)", response.headers["content-type"]
    )
    parts = response.content.split(f"--{boundary.group(1)}".encode())
    assert len(parts) == 4 and parts[-1] == b"--"
    assert b"Content-Range: bytes 0-9/" in parts[1] and parts[1].endswith(data[:10] + b"\r\n")
    assert b"Content-Range: bytes 1000-1009/" in parts[2]
    assert parts[2].endswith(data[1000:1010] + b"\r\n")


def test_a_thousand_ranges_are_answered_without_amplification(client, media) -> None:
    """Many small disjoint ranges (or many copies of the whole file) must not turn one request
    into a thousand parts: past 100 ranges the header is ignored and the file sent once."""
    url, data = media
    disjoint = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(1000))
    response = client.get(url, headers={"Range": disjoint})
    assert response.status_code == 200 and response.content == data
    whole = "bytes=" + ",".join("0-" for _ in range(1000))
    response = client.get(url, headers={"Range": whole})
    assert response.status_code == 200 and response.content == data
    overlapping = "bytes=" + ",".join(f"{i}-{i + 100}" for i in range(60))
    response = client.get(url, headers={"Range": overlapping})
    assert response.status_code == 206 and response.content == data[:160]


def test_webm_is_served_with_its_type(client, served) -> None:
    video = _video(client, "cuts.webm")
    response = client.get(f"/api/videos/{video['video_id']}/media", headers={"Range": "bytes=0-3"})
    assert response.status_code == 206 and response.headers["content-type"] == "video/webm"
    assert response.content == b"\x1a\x45\xdf\xa3"  # the EBML magic of Matroska/WebM


def test_openapi_docs_are_served(client) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/clips/{clip_id}/similar", "/api/videos/{video_id}/media"} <= set(
        schema["paths"]
    )
    assert "swagger-ui" in client.get("/docs").text.lower()


def test_videos_indexed_by_another_process_appear_without_restart(tmp_path, tiny_encoder) -> None:
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir(), later.mkdir()
    moving_shapes(first / "a.mp4", seconds=3.0, seed=1)
    moving_shapes(later / "b.mp4", seconds=3.0, seed=2)
    folder = tmp_path / "library"
    index_into(folder, tiny_encoder, [first])
    with (
        Library.open(folder) as library,
        TestClient(create_app(library, lambda: tiny_encoder), base_url=LOOPBACK) as client,
    ):
        assert client.get("/api/status").json()["videos"] == 1
        assert len(client.get("/api/search", params={"q": "a disc"}).json()["hits"]) == 1
        index_into(folder, tiny_encoder, [later])
        assert client.get("/api/status").json()["videos"] == 2
        hits = client.get("/api/search", params={"q": "a disc"}).json()["hits"]
        assert {Path(h["path"]).name for h in hits} == {"a.mp4", "b.mp4"}
        new = next(h for h in hits if h["path"].endswith("b.mp4"))
        assert (
            client.get(f"/api/videos/{new['video_id']}/media").content
            == (later / "b.mp4").read_bytes()
        )
        assert (
            client.get(f"/api/clips/{new['clip_id']}/similar").json()["hits"][0]["clip_id"]
            != new["clip_id"]
        )


def test_concurrent_searches_agree_with_one_at_a_time(client) -> None:
    queries = ["red shapes", "a blue sky", "a dog jumping", "green stripes"] * 3
    alone = {q: client.get("/api/search", params={"q": q}).json() for q in set(queries)}
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda q: client.get("/api/search", params={"q": q}), queries))
    assert [r.json() for r in together] == [alone[q] for q in queries]


def test_serve_help_imports_no_model_or_server_code() -> None:
    """``clipdex serve --help`` stays instant: no torch, transformers, PyAV or FastAPI."""
    script = (
        "import sys\n"
        "from clipdex.cli import cli\n"
        "from clipdex.commands import register\n"
        "register(cli)\n"
        "try:\n"
        "    cli.main(['serve', '--help'], prog_name='clipdex')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({'torch', 'transformers', 'av', 'fastapi', 'uvicorn'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "--token" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_model_that_cannot_load_is_a_503_with_its_message(library, tmp_path) -> None:
    from clipdex.encoder import XClipEncoder

    missing = tmp_path / "no-such-model"
    app = create_app(library, lambda: XClipEncoder(str(missing)))
    with TestClient(app, base_url=LOOPBACK) as client:
        response = client.get("/api/search", params={"q": "a dog"})
        assert response.status_code == 503
        assert str(missing) in response.json()["detail"]
        assert client.get("/api/status").status_code == 200


NEGATIVE_CANDIDATES = (
    "a cat",
    "a red square",
    "blue water",
    "a green field",
    "a moving disc",
    "people talking",
    "fireworks at night",
    "a snowy street",
    "a close-up of a face",
    "a car on a road",
    "a black screen",
    "a white circle",
)


def _all_clips(library: Library) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Every clip id with its stored re-rank features and unit video embedding."""
    ids = library.vectors().ids().tolist()
    with library.session() as session:
        inputs = repo.clip_rerank_inputs(ids, session=session)
    return ids, np.stack([inputs[i][0] for i in ids]), np.stack([inputs[i][1] for i in ids])


def _spans(hits: list[dict]) -> list[tuple]:
    return [(h["path"], h["start"], h["end"], h["clip_id"]) for h in hits]


def _expected(library: Library, ids: list[int], scores: np.ndarray, k: int = 10) -> list[dict]:
    ranked = sorted(zip(ids, map(float, scores)), key=lambda pair: -pair[1])
    return [hit.to_json() for hit in merge_top(hits_for(library, ranked), k)]


def test_a_negative_text_lowers_what_matches_it_by_the_documented_formula(
    client, library, served
) -> None:
    encoder, query = served.encoder, "red shapes moving"
    ids, features, embeddings = _all_clips(library)
    positive = encoder.encode_text(query)
    plain = client.get("/api/search", params={"q": query}).json()["hits"]
    assert _spans(plain) == _spans(
        _expected(library, ids, encoder.rerank(positive, features, embeddings))
    )
    top_video = plain[0]["video_id"]
    # A negative whose best-matching clip is in the top video, and which (by the formula
    # rerank(pos) - rerank(neg), computed here from the stored features) moves that video down.
    chosen = None
    for text in NEGATIVE_CANDIDATES:
        negative = encoder.rerank(encoder.encode_text(text), features, embeddings)
        expected = _expected(
            library, ids, encoder.rerank(positive, features, embeddings) - negative
        )
        with library.session() as session:
            best = repo.clip_hits([ids[int(np.argmax(negative))]], session=session)
        if next(iter(best.values())).video_id == top_video and expected[0]["video_id"] != top_video:
            chosen = text, expected
            break
    assert chosen is not None, "no candidate negative matches the top video: extend the list"
    text, expected = chosen
    hits = client.get("/api/search", params={"q": query, "not": text}).json()["hits"]
    assert _spans(hits) == _spans(expected)
    np.testing.assert_allclose(
        [h["score"] for h in hits], [h["score"] for h in expected], atol=2e-6
    )
    assert [h["video_id"] for h in hits].index(top_video) > 0

    # Stage one alone (no re-rank): cos(pos, v) - cos(neg, v) on the stored embeddings.
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    recall = embeddings @ unit(positive) - embeddings @ unit(encoder.encode_text(text))
    hits = client.get("/api/search", params={"q": query, "not": text, "rerank": "false"}).json()
    np.testing.assert_allclose(
        [h["score"] for h in hits["hits"]],
        [h["score"] for h in _expected(library, ids, recall)],
        atol=2e-6,
    )
    assert _spans(hits["hits"]) == _spans(_expected(library, ids, recall))
    assert set(hits) == {"query", "source", "offset", "more", "hits"} and all(
        set(h) == SEARCH_HIT_KEYS for h in hits["hits"]
    )


def test_filters_and_min_score_narrow_the_search(client, served) -> None:
    def search(**params) -> list[dict]:
        response = client.get("/api/search", params={"q": "shapes", **params})
        assert response.status_code == 200, response.text
        return response.json()["hits"]

    everything = search()
    assert len(everything) == 3  # one span per video
    durations = {
        h["video_id"]: _video(client, Path(h["path"]).name)["duration"] for h in everything
    }
    long = [h for h in everything if durations[h["video_id"]] >= 7.0]
    assert len(long) == 2  # the two 7.5 s cuts videos, not the 6 s shapes.mp4
    assert search(min_duration=7) == long
    assert search(max_duration=6.5) == [h for h in everything if h not in long]
    assert search(min_duration=6.5, max_duration=7.0) == []
    assert search(**{"in": str(served.videos)}) == everything
    assert search(**{"in": [str(served.videos / "nowhere"), str(served.videos)]}) == everything
    assert search(**{"in": str(served.videos / "nowhere")}) == []
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert search(after="2000-01-01", before=tomorrow) == everything
    assert search(after=tomorrow) == []
    assert search(before="2000-01-01T00:00:00+00:00") == []
    cut = (everything[0]["score"] + everything[1]["score"]) / 2
    assert search(min_score=cut) == everything[:1]
    assert search(min_score=cut, rerank="false") == [
        h for h in search(rerank="false") if h["score"] >= cut
    ]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"after": "yesterday"}, "after"),
        ({"before": "2024-13-01"}, "before"),
        ({"after": "2024-05-02", "before": "2024-05-01"}, "after"),
        ({"in": "relative/folder"}, "in"),
        ({"min_duration": -1}, "min_duration"),
        ({"min_duration": 10, "max_duration": 5}, "min_duration"),
        ({"not": "  "}, "not"),
        ({"not": [f"t{i}" for i in range(11)]}, "not"),
        ({"min_score": "nan"}, "min_score"),
        ({"min_score": "high"}, "min_score"),
    ],
)
def test_bad_filters_are_a_422_naming_the_parameter(client, params, parameter) -> None:
    response = client.get("/api/search", params={"q": "x", **params})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", parameter] and error["msg"]


def test_json_times_are_rounded_to_the_millisecond(tmp_path, tiny_encoder) -> None:
    """A variable-frame-rate file's average rate (30.4438137219148...) and every time in the
    JSON come out with at most three decimals."""
    from tests.support.videos import variable_frame_rate

    videos = tmp_path / "videos"
    videos.mkdir()
    variable_frame_rate(videos / "vfr.mp4")
    index_into(tmp_path / "lib", tiny_encoder, [videos])
    with Library.open(tmp_path / "lib") as library:
        app = create_app(library, lambda: tiny_encoder)
        with TestClient(app, base_url=LOOPBACK) as client:
            hit = client.get("/api/search", params={"q": "anything"}).json()["hits"][0]
            video = client.get(f"/api/videos/{hit['video_id']}").json()
            status = client.get("/api/status").json()
            similar = client.get(f"/api/clips/{hit['clip_id']}/similar").json()
    numbers = [video["duration"], video["fps"], *status["clip_seconds"].values()]
    for item in [hit, *video["clips"], similar["clip"], *similar["hits"]]:
        numbers += [item["start"], item["end"]]
    assert all(round(n, 3) == n for n in numbers), numbers
    assert video["fps"] == 30.444


def test_search_pages_with_offset(client) -> None:
    """A page is the slice of the deeper ranking; ``more`` is true while pages are full."""
    params = {"q": "red shapes moving"}
    deep = client.get("/api/search", params={**params, "k": 2}).json()
    assert len(deep["hits"]) == 2 and deep["more"] is True and deep["offset"] == 0
    second = client.get("/api/search", params={**params, "k": 1, "offset": 1}).json()
    assert second["offset"] == 1 and second["more"] is True
    assert second["hits"] == deep["hits"][1:2]
    first = client.get("/api/search", params={**params, "k": 1}).json()
    assert [h["clip_id"] for h in first["hits"]] == [h["clip_id"] for h in deep["hits"][:1]]
    everything = client.get("/api/search", params={**params, "k": 100}).json()
    assert everything["more"] is False and len(everything["hits"]) == 3  # one span per video
    last = client.get("/api/search", params={**params, "k": 10, "offset": 3}).json()
    assert last["hits"] == [] and last["more"] is False
    too_deep = client.get("/api/search", params={**params, "k": 100, "offset": 901})
    assert too_deep.status_code == 422
    assert too_deep.json()["detail"][0]["loc"] == ["query", "offset"]


def test_videos_lists_the_library_a_page_at_a_time(client, served) -> None:
    whole = client.get("/api/videos").json()
    assert whole["total"] == 3 and whole["offset"] == 0
    names = [Path(v["path"]).name for v in whole["videos"]]
    assert names == ["cuts.mp4", "cuts.webm", "shapes.mp4"]  # by path
    cuts = whole["videos"][0]
    detail = client.get(f"/api/videos/{cuts['video_id']}").json()
    assert cuts == {
        "video_id": detail["video_id"],
        "path": str(served.videos / "cuts.mp4"),
        "status": "indexed",
        "error": None,
        "duration": detail["duration"],
        "clips": len(detail["clips"]),
    }
    assert cuts["clips"] == 3 and cuts["duration"] == pytest.approx(7.5, abs=0.05)
    page = client.get("/api/videos", params={"offset": 1, "limit": 1}).json()
    assert page["total"] == 3 and page["videos"] == whole["videos"][1:2]
    assert client.get("/api/videos", params={"offset": 3}).json()["videos"] == []
    assert client.get("/api/videos", params={"limit": 0}).status_code == 422
    assert client.get("/api/videos", params={"offset": -1}).status_code == 422


def test_videos_lists_failed_files_with_their_reason(odd) -> None:
    with Library.open(odd.folder) as library:
        with TestClient(create_app(library, lambda: odd.encoder), base_url=LOOPBACK) as client:
            body = client.get("/api/videos").json()
    assert body["total"] == 3 + PLAIN
    broken, cut, avi = body["videos"][:3]
    assert Path(cut["path"]).name == "cut.mkv" and cut["status"] == "indexed"
    assert cut["error"].startswith("truncated (") and cut["clips"] >= 1
    assert Path(broken["path"]).name == "broken.mp4" and broken["status"] == "failed"
    assert broken["error"] and broken["clips"] == 0 and broken["duration"] is None
    assert Path(avi["path"]).name == "odd.avi" and avi["status"] == "indexed" and avi["clips"] >= 1


def test_docs_work_offline_from_local_assets(client) -> None:
    """/docs and /redoc reference only this server's own URLs, and those are served."""
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", response.text)
        assert urls, response.text
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), (page, url)
            assert client.get(url).status_code == 200, url
        assert "cdn." not in response.text and "googleapis" not in response.text
    js = client.get("/docs-assets/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"] and len(js.content) > 500_000
    assert client.get("/openapi.json").json()["paths"]["/api/videos"]


def test_favicon_is_served(client) -> None:
    for url in ("/favicon.ico", "/static/favicon.svg"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert response.content.startswith(b"<svg")
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/").text
