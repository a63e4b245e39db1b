"""Security: traversal payloads, symlinks escaping the indexed folder, the token and Host rules.

Traversal payloads are sent byte for byte over a socket to a real uvicorn server: HTTP client
libraries normalise ``../`` and reject NUL before sending, which would test the client instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner
from fastapi.testclient import TestClient

from clipdex.cli import cli
from clipdex.commands import register
from clipdex.server import security
from clipdex.server.app import create_app
from storage.library import Library
from tests.clipdex.server.conftest import LOOPBACK, index_into
from tests.support.videos import moving_shapes

TOKEN = "k7Qx-2vLr9_ZpW4mTn8s"

TRAVERSALS = [
    "/static/../../../../etc/passwd",
    "/static/./app.js",
    "/api/videos/../../../../etc/passwd/media",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/api/videos/%2e%2e%2f%2e%2e%2fetc%2fpasswd/media",
    "/api/videos/1%2f..%2f..%2fetc%2fpasswd/media",
    "/api/videos/..%5c..%5cwindows%5cwin.ini/media",
    "/static/..%5c..%5c..%5cetc%5cpasswd",
    "/static/..\\..\\etc\\passwd",
    "/api/videos//etc/passwd/media",
    "/api/videos/%2fetc%2fpasswd/media",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/api/videos/1%00/media",
    "/static/app.js%00.jpg",
    "/api/clips/1%00/thumbnail.jpg",
    "/api/videos/%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd/media",
    "/api/videos/-1/media",
    "/api/videos/1.0/media",
    "/api/videos/0x1/media",
    "/api/videos/1e3/media",
    "/api/clips/..%2f1/similar",
    "/api/clips/%2e%2e/thumbnail.jpg",
    "/docs-assets/../../../../etc/passwd",
    "/docs-assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/docs-assets/..%2f..%2f..%2fconsts.py",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _raw_get(port: int, target: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """Send ``GET target`` exactly as written; return (status, body)."""
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture(scope="module")
def live(served) -> Iterator[int]:
    """The app on a real uvicorn server in a thread; yields its port."""
    library = Library.open(served.folder)
    port = _free_port()
    config = uvicorn.Config(
        create_app(library, lambda: served.encoder),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)
    library.close()


def test_the_live_server_serves_media_and_static_files(live) -> None:
    assert _raw_get(live, "/api/videos/1/media")[0] == 200
    status, body = _raw_get(live, "/static/app.js")
    assert status == 200 and b"use strict" in body


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_payloads_get_404(live, target) -> None:
    status, body = _raw_get(live, target)
    assert status == 404, (target, body[:200])
    assert b"root:" not in body and b"use strict" not in body


def test_foreign_host_header_is_refused_without_a_token(live) -> None:
    """A DNS-rebinding page would reach 127.0.0.1 under its own host name."""
    assert _raw_get(live, "/api/status", host="evil.example")[0] == 400
    assert _raw_get(live, "/api/status", host="localhost")[0] == 200


def _library_with(tmp_path: Path, tiny_encoder) -> tuple[Path, Path]:
    inside = tmp_path / "videos"
    inside.mkdir()
    moving_shapes(inside / "v.mp4", seconds=2.5, seed=4)
    folder = tmp_path / "library"
    index_into(folder, tiny_encoder, [inside])
    return folder, inside / "v.mp4"


def test_a_video_replaced_by_a_symlink_leaving_its_folder_is_refused(
    tmp_path, tiny_encoder
) -> None:
    folder, video = _library_with(tmp_path, tiny_encoder)
    outside = tmp_path / "private"
    outside.mkdir()
    shutil.move(video, outside / "secret.mp4")
    video.symlink_to(outside / "secret.mp4")
    with (
        Library.open(folder) as library,
        TestClient(create_app(library, lambda: tiny_encoder), base_url=LOOPBACK) as client,
    ):
        assert client.get("/api/videos/1/media").status_code == 404
        assert client.get("/api/clips/1/thumbnail.jpg").status_code == 404
        video.unlink()
        shutil.move(outside / "secret.mp4", video)
        assert client.get("/api/videos/1/media").status_code == 200


def test_a_folder_reached_through_a_symlink_is_served(tmp_path, tiny_encoder) -> None:
    """Indexing ``~/Videos -> /mnt/disk/Videos`` stores paths through the link: not an escape."""
    real = tmp_path / "disk" / "Videos"
    real.mkdir(parents=True)
    moving_shapes(real / "v.mp4", seconds=2.5, seed=5)
    link = tmp_path / "Videos"
    link.symlink_to(real, target_is_directory=True)
    folder = tmp_path / "library"
    index_into(folder, tiny_encoder, [link])
    with (
        Library.open(folder) as library,
        TestClient(create_app(library, lambda: tiny_encoder), base_url=LOOPBACK) as client,
    ):
        assert client.get("/api/videos/1").json()["path"] == str(link / "v.mp4")
        assert client.get("/api/videos/1/media").content == (real / "v.mp4").read_bytes()


def test_safe_media_path_rules(tmp_path) -> None:
    regular = tmp_path / "a.mp4"
    regular.write_bytes(b"x")
    assert security.safe_media_path(str(regular))[0] == regular.resolve()
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "up.mp4").symlink_to(regular)  # escapes inner/ to its parent
    (tmp_path / "same.mp4").symlink_to(regular)  # stays in the folder: allowed
    assert security.safe_media_path(str(tmp_path / "same.mp4"))[0] == regular.resolve()
    for bad in (
        "a.mp4",
        str(tmp_path / "missing.mp4"),
        str(tmp_path / "inner"),
        str(tmp_path / "inner" / "up.mp4"),
        str(regular) + "\x00.txt",
        str(tmp_path / "inner" / ".." / "a.mp4"),
    ):
        with pytest.raises(security.UnsafeMediaError):
            security.safe_media_path(bad)
    os.mkfifo(tmp_path / "pipe.mp4")
    with pytest.raises(security.UnsafeMediaError):
        security.safe_media_path(str(tmp_path / "pipe.mp4"))


@pytest.fixture
def guarded(library, served) -> Iterator[TestClient]:
    """The app with a token, reached under a LAN address (as after --host 0.0.0.0)."""
    app = create_app(library, lambda: served.encoder, token=TOKEN)
    with TestClient(app, base_url="http://192.168.1.20:8000") as client:
        yield client


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/static/app.js",
        "/api/status",
        "/api/search?q=x",
        "/api/videos/1/media",
        "/api/clips/1/thumbnail.jpg",
        "/docs",
        "/redoc",
        "/docs-assets/swagger-ui.css",
        "/openapi.json",
        "/api/videos",
        "/favicon.ico",
    ],
)
def test_every_request_needs_the_token(guarded, url) -> None:
    assert guarded.get(url).status_code == 401
    assert guarded.get(url, headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert guarded.get(url, headers={"Authorization": "Bearer "}).status_code == 401
    assert guarded.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_token_in_the_url_sets_a_cookie_for_videos_and_images(guarded) -> None:
    page = guarded.get("/", params={"token": TOKEN}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/"  # token leaves the URL
    cookie = page.headers["set-cookie"]
    assert f"{security.TOKEN_COOKIE}={TOKEN}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert guarded.get("/").status_code == 200
    assert guarded.get("/api/videos/1/media", headers={"Range": "bytes=0-1"}).status_code == 206
    guarded.cookies.clear()
    assert guarded.get("/api/videos/1/media").status_code == 401
    assert guarded.get("/api/status", params={"token": TOKEN}).status_code == 200
    assert guarded.cookies.get(security.TOKEN_COOKIE) == TOKEN
    guarded.cookies.clear()
    assert guarded.get("/", params={"token": "wrong" * 4}).status_code == 401
    # A shared search link keeps its search, and only the token leaves the URL.
    shared = guarded.get(
        "/", params={"q": "a dog & cat", "k": 48, "token": TOKEN}, follow_redirects=False
    )
    assert shared.status_code == 303 and shared.headers["location"] == "/?q=a+dog+%26+cat&k=48"


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--host", "0.0.0.0"], {}, "also give --token"),
        (["--host", "192.168.1.20"], {}, "also give --token"),
        (["--host", "0.0.0.0", "--token", "short"], {}, "at least 16 characters"),
        (["--host", "::"], {"CLIPDEX_TOKEN": "has spaces in it, 16+"}, "at least 16 characters"),
    ],
)
def test_serve_refuses_to_bind_beyond_loopback_without_a_good_token(args, env, message) -> None:
    register(cli)
    result = CliRunner().invoke(cli, ["serve", *args], env=env)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("example.com", False),
        ("192.168.1.20", False),
    ],
)
def test_is_loopback(host, loopback) -> None:
    assert security.is_loopback(host) is loopback
