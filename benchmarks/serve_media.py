"""How ``clipdex serve`` answers media and thumbnail requests, against baselines in the same run.

The app runs on a real uvicorn server in a thread; requests go over loopback HTTP/1.1.

Range requests: a plain GET of the whole file is the baseline; a request naming 1,000 ranges must
cost about the same (it is answered with the file once), not a thousand times more. Thumbnails:
the first request decodes a frame with PyAV; later ones read the cached JPEG.

    python -m benchmarks.serve_media            # prints a table; no assertions
"""

from __future__ import annotations

import http.client
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from clipdex.encoder import XClipEncoder
from clipdex.server.app import create_app
from indexer.pipeline import Indexer
from storage.library import Library
from tests.support.checkpoint import build_checkpoint
from tests.support.library import bind_settings
from tests.support.videos import moving_shapes

REPEAT = 20


def _median_ms(call, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


class _Client:
    """GET over one keep-alive connection; returns (status, body)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, url: str, headers: dict | None = None) -> tuple[int, bytes]:
        self.connection.request("GET", url, headers=headers or {})
        response = self.connection.getresponse()
        return response.status, response.read()


def _serve(app) -> tuple[uvicorn.Server, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, port


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        encoder = XClipEncoder(str(build_checkpoint(root / "ckpt")))
        moving_shapes(root / "videos" / "v.mp4", seconds=60.0, fps=25, size=(640, 480), seed=1)
        with Library.open(root / "lib") as library:
            settings = library.bind(bind_settings(encoder))
            Indexer(library, encoder, settings).run([root / "videos"])
            server, port = _serve(create_app(library, lambda: encoder))
            client = _Client(port)
            size = (root / "videos" / "v.mp4").stat().st_size
            url = "/api/videos/1/media"
            cases = {
                "whole file (baseline)": None,
                "bytes=0-1": "bytes=0-1",
                "suffix bytes=-65536": "bytes=-65536",
                "100 disjoint ranges": "bytes="
                + ",".join(f"{i * (size // 100)}-{i * (size // 100) + 99}" for i in range(100)),
                "1,000 disjoint ranges": "bytes="
                + ",".join(f"{i * (size // 1000)}-{i * (size // 1000) + 9}" for i in range(1000)),
                "1,000 x bytes=0-": "bytes=" + ",".join("0-" for _ in range(1000)),
            }
            print(f"media: {size / 1e6:.1f} MB file, median of {REPEAT} requests")
            base = None
            for name, header in cases.items():
                headers = {"Range": header} if header else {}
                status, body = client.get(url, headers)
                ms = _median_ms(lambda h=headers: client.get(url, h))
                base = base or ms
                print(f"  {name:24s} {status}  {len(body):>9,d} B  {ms:8.2f} ms  x{ms / base:5.2f}")
            cold = []
            for clip in (1, 2, 3, 4, 5, 6):
                start = time.perf_counter()
                assert client.get(f"/api/clips/{clip}/thumbnail.jpg")[0] == 200
                cold.append(time.perf_counter() - start)
            warm = _median_ms(lambda: client.get("/api/clips/1/thumbnail.jpg"))
            cold_ms = 1000 * statistics.median(cold)
            print(
                f"thumbnail: first request {cold_ms:.1f} ms (PyAV decode), cached {warm:.2f} ms"
                f"  (x{cold_ms / warm:.0f})"
            )
            server.should_exit = True


if __name__ == "__main__":
    main()
