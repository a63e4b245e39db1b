"""``POST /api/similar``: search with an uploaded picture or short video (tiny X-CLIP, real
files, real multipart bodies)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import av
import pytest
from PIL import Image

from clipdex.server.upload import MAX_UPLOAD_BYTES
from indexer.picture import embed_picture
from indexer.sampling import SamplingPlan
from search.similar import similar_to_embedding


def _png_of_frame(video: Path, time_s: float) -> bytes:
    with av.open(str(video)) as container:
        frame = next(f for f in container.decode(video=0) if f.time >= time_s)
    buffer = io.BytesIO()
    frame.to_image().save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """The temporary folder the server uses during the test, to check it is left empty."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_picture_finds_its_shot_like_the_cli(client, library, served, private_tmp) -> None:
    data = _png_of_frame(served.videos / "cuts.mp4", 3.5)  # the blue shot, 2.0 to 5.0 s
    files = {"file": ("frame.png", data, "image/png")}
    response = client.post("/api/similar", params={"k": 4}, files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == {"name": "frame.png", "kind": "picture"}
    best = body["hits"][0]
    assert Path(best["path"]).name in {"cuts.mp4", "cuts.webm"}  # the same frames twice
    assert (best["start"], best["end"]) == (2.0, 5.0)
    plan = SamplingPlan.for_library(served.encoder, library.settings)
    expected = similar_to_embedding(library, embed_picture(data, served.encoder, plan), 4)
    assert body["hits"] == [hit.to_json() for hit in expected]
    assert list(private_tmp.iterdir()) == []


def test_a_short_video_is_recognised_by_content(client, served, private_tmp) -> None:
    data = (served.videos / "shapes.mp4").read_bytes()
    files = {"file": ("clip.bin", data, "application/octet-stream")}  # name and type say nothing
    response = client.post("/api/similar", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    query = body["query"]
    assert (query["name"], query["kind"], query["start"]) == ("clip.bin", "video", 0.0)
    assert query["end"] == pytest.approx(6.0, abs=0.05)  # the last kept frame's end
    assert Path(body["hits"][0]["path"]).name == "shapes.mp4"
    assert list(private_tmp.iterdir()) == []  # the video's temporary copy is gone


def test_too_large_is_413(client, private_tmp) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (8, 8)).save(picture, format="PNG")
    data = picture.getvalue() + b"\0" * (MAX_UPLOAD_BYTES + 1 - len(picture.getvalue()))
    response = client.post("/api/similar", files={"file": ("big.png", data, "image/png")})
    assert response.status_code == 413
    assert response.json() == {"detail": "the file is larger than 20 MB"}
    assert list(private_tmp.iterdir()) == []


def test_neither_picture_nor_video_is_415(client, private_tmp) -> None:
    files = {"file": ("cat.png", b"just some text, named like a picture\n", "image/png")}
    response = client.post("/api/similar", files=files)
    assert response.status_code == 415
    assert response.json()["detail"].startswith("cat.png: neither a picture (PNG, JPEG, WebP)")
    assert list(private_tmp.iterdir()) == []


def test_a_body_that_is_not_a_form_is_415_and_no_file_is_422(client) -> None:
    response = client.post(
        "/api/similar", content=b"\x89PNG", headers={"content-type": "image/png"}
    )
    assert response.status_code == 415
    response = client.post("/api/similar", data={"other": "x"}, files={"x": ("a", b"b")})
    assert response.status_code == 422


def test_a_chunked_body_is_cut_off_at_the_limit(client, private_tmp) -> None:
    """Without Content-Length the limit is counted as the body arrives."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    def body():
        yield head
        for _ in range(22):
            yield b"\0" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    response = client.post("/api/similar", content=body(), headers=headers)
    assert response.status_code == 413
    assert list(private_tmp.iterdir()) == []


def test_an_upload_from_another_site_is_403(client) -> None:
    files = {"file": ("x.png", b"\x89PNG\r\n\x1a\n", "image/png")}
    headers = {"origin": "http://evil.example"}
    assert client.post("/api/similar", files=files, headers=headers).status_code == 403
    headers = {"origin": "http://127.0.0.1:8000"}  # the page itself
    assert client.post("/api/similar", files=files, headers=headers).status_code == 422
