"""The page in a real browser: ``clipdex serve`` in a subprocess, Debian's Chromium driven
headless by Playwright. Type a query, see result cards, play one from its start, find similar
clips and play one from the middle of its video.

Screenshots (search, similar clips, phone-sized) go to ``artifacts/`` at the repository root, or to
``$CLIPDEX_TEST_ARTIFACTS``. The browser is never downloaded: ``.ci/run`` installs Debian's
``chromium`` package; where it is missing this test alone is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path(os.environ.get("CLIPDEX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playing from a time: the element is playing and its position is inside the hit's span.
PLAYING_FROM = """([start, end]) => {
  const v = document.getElementById('video');
  return !v.paused && v.readyState >= 2 && v.currentTime >= start && v.currentTime <= end;
}"""

pytestmark = pytest.mark.slow


def _artifacts() -> Path:
    folder = Path(os.environ.get("CLIPDEX_TEST_ARTIFACTS", REPO / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _serving(folder: Path, checkpoint: Path) -> Iterator[str]:
    """``clipdex serve`` of the library at ``folder`` on a free loopback port, as a user starts
    it; yields its URL."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "clipdex",
        "--library",
        str(folder),
        "serve",
        "--port",
        str(port),
        "--model",
        str(checkpoint),
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1].decode()
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "clipdex serve did not answer within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert b"Traceback" not in stderr, stderr.decode()


@pytest.fixture(scope="module")
def server(served, xclip_checkpoint: Path) -> Iterator[str]:
    """One ``clipdex serve`` of the shared library for the tests that only read it: each start
    (Python, the server, then the model at the first search) costs seconds."""
    with _serving(served.folder, xclip_checkpoint) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the module (a launch costs a second or two)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium):
    """The module's Chromium; the pages (and contexts) a test opened are closed after it, so
    that no video left playing runs on beside the next test."""
    yield chromium
    for context in chromium.contexts:
        context.close()


def _cards(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#results .card",
        """cards => cards.map(c => ({clip: +c.dataset.clip, video: +c.dataset.video,
            start: +c.dataset.start, end: +c.dataset.end,
            name: c.querySelector('.name').textContent, span: c.querySelector('.span').textContent,
            score: c.querySelector('.score').textContent,
            thumb: c.querySelector('img').naturalWidth}))""",
    )


def _wait_playing(page, card: dict) -> float:
    page.wait_for_function(PLAYING_FROM, arg=[card["start"], card["end"]], timeout=15_000)
    src = page.eval_on_selector("#video", "v => v.currentSrc")
    assert f"/api/videos/{card['video']}/media" in src
    return page.eval_on_selector("#video", "v => v.currentTime")


def test_search_play_and_similar_in_chromium(server, browser, served) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server)
    page.wait_for_function("document.getElementById('status').textContent.includes('3 videos')")

    page.locator("h1").click()
    page.keyboard.press("/")  # focuses the search box
    page.keyboard.type("red shapes moving", delay=30)  # search as you type, no Enter
    assert page.input_value("#q") == "red shapes moving"
    page.wait_for_selector("#results .card img")
    page.wait_for_function(
        "[...document.querySelectorAll('#results .card img')].every(i => i.complete && i.naturalWidth)"
    )
    cards = _cards(page)
    assert {c["name"] for c in cards} == {"cuts.mp4", "cuts.webm", "shapes.mp4"}
    assert all(
        c["thumb"] == 320 and c["score"].startswith("score ") and "–" in c["span"] for c in cards
    )

    first = next(c for c in cards if c["name"] == "cuts.webm")
    page.locator(f"#results .card[data-clip='{first['clip']}'] .play").focus()
    page.keyboard.press("Enter")  # a card is a button: the keyboard plays it
    assert _wait_playing(page, first) >= first["start"]
    assert page.text_content("#now-playing").startswith("cuts.webm")
    page.screenshot(path=str(_artifacts() / "serve-search.png"), full_page=True)

    page.locator(f"#results .card[data-clip='{first['clip']}'] .similar").click()
    page.wait_for_function(
        "/^\\d+ clips similar to/.test(document.getElementById('message').textContent)"
    )
    similar = _cards(page)
    assert similar and first["clip"] not in [c["clip"] for c in similar]
    later = max(similar, key=lambda c: c["start"])
    assert later["start"] >= 2.0  # a clip from the middle of a video, not its beginning
    page.locator(f"#results .card[data-clip='{later['clip']}'] .play").click()
    assert _wait_playing(page, later) >= later["start"]
    duration = page.eval_on_selector("#video", "v => v.duration")
    left = page.eval_on_selector("#span-mark", "m => parseFloat(m.style.left)")
    assert left == pytest.approx(100 * later["start"] / duration, abs=0.5)
    page.screenshot(path=str(_artifacts() / "serve-similar.png"))

    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("window.scrollTo(0, 0)")
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, "the page scrolls sideways on a phone-sized screen"
    page.screenshot(path=str(_artifacts() / "serve-phone.png"))

    # Blanking the box clears the results and sends no query (the API refuses blank ones).
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.fill("#q", "   ")
    page.wait_for_timeout(600)  # past the quarter-second debounce
    assert not [url for url in asked if "/api/search" in url]
    assert page.text_content("#message") == "" and _cards(page) == []
    assert errors == []


def test_a_said_line_is_marked_played_from_and_captioned_in_chromium(
    browser, spoken, xclip_checkpoint
) -> None:
    """A hit found by its words shows the line with the words marked, plays from the line's
    start (not the clip's), and the player loads the video's transcript as captions."""
    with _serving(spoken.folder, xclip_checkpoint) as url:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        seen = _watch(page)
        page.goto(f"{url}/?q=blue+sky&source=speech")
        page.wait_for_selector("#results .card .said mark")
        card = page.locator("#results .card").first
        assert card.locator(".said").text_content() == "The sky is blue today."
        assert card.locator(".said mark").all_text_contents() == ["sky", "blue"]
        assert page.input_value("#filters [data-param=source]") == "speech"
        card.locator(".play").click()
        at = _wait_playing(page, {**_cards(page)[0], "start": 2.5, "end": 4.5})
        assert at >= 2.5  # the line starts at 2.5 s; its clip (blue, 2.0-5.0 s) earlier
        page.wait_for_function("document.getElementById('video').textTracks[0]?.cues?.length === 2")
        cue = page.evaluate("document.getElementById('video').textTracks[0].cues[1].text")
        assert cue == "The sky is blue today."
        page.screenshot(path=str(_artifacts() / "serve-said.png"))
        assert seen == {"errors": [], "console": [], "failed": []}


def test_filters_narrow_the_search_in_chromium(server, browser, served) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server)
    page.wait_for_function("document.getElementById('status').textContent.includes('3 videos')")
    page.fill("#q", "red shapes moving")
    page.wait_for_selector("#results .card", timeout=90_000)  # the first search loads the model
    assert len(_cards(page)) == 3

    page.locator("#filters summary").click()
    page.fill("[data-param=min_duration]", "7")  # the 7.5 s cuts videos, not the 6 s shapes
    page.wait_for_function("document.querySelectorAll('#results .card').length === 2")
    assert {c["name"] for c in _cards(page)} == {"cuts.mp4", "cuts.webm"}
    page.fill("[data-param=before]", "2000-01-01")
    page.wait_for_function("/No results/.test(document.getElementById('message').textContent)")
    page.fill("[data-param=before]", "")
    page.fill("[data-param=in]", "relative/folder")
    page.wait_for_function(
        "document.getElementById('message').textContent.includes('in: must be an absolute path')"
    )
    page.fill("[data-param=in]", str(served.videos))
    page.fill("[data-param=not]", "a red square")
    page.wait_for_function("document.querySelectorAll('#results .card').length === 2")
    with urllib.request.urlopen(
        f"{server}/api/search?"
        + urllib.parse.urlencode(
            {
                "q": "red shapes moving",
                "k": 24,
                "not": "a red square",
                "min_duration": 7,
                "in": str(served.videos),
            }
        )
    ) as response:
        expected = json.load(response)["hits"]
    cards = _cards(page)
    assert [c["clip"] for c in cards] == [h["clip_id"] for h in expected]
    assert [c["score"] for c in cards] == [f"score {h['score']:.3f}" for h in expected]
    page.screenshot(path=str(_artifacts() / "serve-filters.png"))
    assert errors == []


def test_search_with_a_chosen_or_dropped_picture_in_chromium(server, browser, served) -> None:
    """A frame of the blue shot, chosen with the file input or dropped on the page, finds that
    shot first (POST /api/similar)."""
    import base64
    import io

    import av

    with av.open(str(served.videos / "cuts.mp4")) as container:
        frame = next(f for f in container.decode(video=0) if f.time >= 3.5)  # blue: 2.0-5.0 s
    buffer = io.BytesIO()
    frame.to_image().save(buffer, format="PNG")
    png = buffer.getvalue()

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server)
    page.wait_for_function("document.getElementById('status').textContent.includes('3 videos')")
    page.set_input_files(
        "#upload", files=[{"name": "blue.png", "mimeType": "image/png", "buffer": png}]
    )
    page.wait_for_function(
        "/^\\d+ clips like blue.png$/.test(document.getElementById('message').textContent)",
        timeout=90_000,  # the first upload loads the model
    )
    best = _cards(page)[0]
    assert best["name"] in {"cuts.mp4", "cuts.webm"} and best["span"] == "0:02.0–0:05.0"
    page.wait_for_function(
        "[...document.querySelectorAll('#results .card img')].every(i => i.complete && i.naturalWidth)"
    )
    page.screenshot(path=str(_artifacts() / "serve-picture.png"))

    # Then drop the same picture anywhere on the page.
    page.evaluate(
        """(data) => {
          const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
          document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
        }""",
        base64.b64encode(png).decode(),
    )
    page.wait_for_function(
        "/^\\d+ clips like dropped.png$/.test(document.getElementById('message').textContent)"
    )
    assert _cards(page)[0]["span"] == "0:02.0–0:05.0"
    assert errors == []


def _watch(page) -> dict[str, list[str]]:
    """Collect page errors, console errors and failed responses (a missing favicon is one)."""
    seen: dict[str, list[str]] = {"errors": [], "console": [], "failed": []}
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.on("console", lambda m: m.type == "error" and seen["console"].append(m.text))
    page.on("response", lambda r: r.status >= 400 and seen["failed"].append(f"{r.status} {r.url}"))
    return seen


def _count(page) -> int:
    return page.eval_on_selector_all("#results .card", "cards => cards.length")


def test_url_paging_failed_files_and_unplayable_video_in_chromium(
    browser, odd, xclip_checkpoint
) -> None:
    """A search link runs its search; the count selector and "More results" page; Back restores
    the previous search; failed files show their reason; an AVI Chromium cannot play says so
    and offers the file and the moment; "/" is typed into a box that has the focus."""
    with _serving(odd.folder, xclip_checkpoint) as url:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        seen = _watch(page)
        page.goto(f"{url}/?q=a+plain+colour&k=12")  # a bookmarked or shared search
        page.wait_for_selector("#results .card", timeout=90_000)  # the first search loads the model
        assert page.input_value("#q") == "a plain colour" and page.input_value("#count") == "12"
        assert _count(page) == 12 and page.is_visible("#more")
        page.click("#more")
        page.wait_for_function("document.querySelectorAll('#results .card').length === 16")
        assert page.is_hidden("#more")  # 14 plain videos, odd.avi and cut.mkv: nothing more
        assert len(set(c["clip"] for c in _cards(page))) == 16
        assert page.text_content("#message") == "16 results for “a plain colour”"

        # The count is part of the URL; Back returns to the 12 of the shared link.
        page.select_option("#count", "24")  # the default: left out of the URL
        page.wait_for_function("location.search === '?q=a+plain+colour'")
        page.wait_for_function("document.querySelectorAll('#results .card').length === 16")
        page.fill("#q", "a video that cannot play")
        page.wait_for_function(
            "new URLSearchParams(location.search).get('q') === 'a video that cannot play'"
        )
        page.wait_for_function(
            "/a video that cannot play/.test(document.getElementById('message').textContent)"
        )
        assert page.input_value("#count") == "24"
        page.go_back()
        page.wait_for_function("document.getElementById('q').value === 'a plain colour'")
        assert page.evaluate("location.search") == "?q=a+plain+colour"
        page.go_back()
        page.wait_for_function("document.getElementById('count').value === '12'")
        page.wait_for_function("document.querySelectorAll('#results .card').length === 12")
        assert page.evaluate("location.search") == "?q=a+plain+colour&k=12"

        # The failed file and the one read in part, with their reasons.
        toggle = page.locator("#failed-toggle")
        toggle.wait_for()
        assert toggle.text_content() == "1 failed, 1 partly read: show why"
        assert page.is_hidden("#failed")
        toggle.click()
        assert page.is_visible("#failed")
        assert toggle.text_content() == "1 failed, 1 partly read: hide why"
        broken, cut = page.eval_on_selector_all(
            "#failed-list li", "items => items.map(i => i.textContent)"
        )
        assert broken.startswith(f"{odd.videos / 'broken.mp4'} (not indexed): ")
        assert len(broken.split("(not indexed): ", 1)[1]) > 5  # a reason, not a blank
        assert cut.startswith(f"{odd.videos / 'cut.mkv'} (indexed in part): truncated (")
        page.screenshot(path=str(_artifacts() / "serve-failed-and-more.png"), full_page=True)

        # The AVI: the video element's error is turned into a message and a download link.
        page.click("#more")
        page.wait_for_function("document.querySelectorAll('#results .card').length === 16")
        avi = next(c for c in _cards(page) if c["name"] == "odd.avi")
        page.locator(f"#results .card[data-clip='{avi['clip']}'] .play").click()
        page.wait_for_selector("#cannot-play", state="visible", timeout=15_000)
        assert page.text_content("#cannot-play-why").startswith(
            "This browser cannot play odd.avi: "
        )
        href = page.get_attribute("#download", "href")
        assert href == f"/api/videos/{avi['video']}/media"
        assert page.get_attribute("#download", "download") == "odd.avi"
        assert page.text_content("#play-at") == avi["span"].split("–")[0]
        with urllib.request.urlopen(url + href) as response:
            assert response.read() == (odd.videos / "odd.avi").read_bytes()
        page.screenshot(path=str(_artifacts() / "serve-cannot-play.png"))

        # Similar clips are a search of their own in the URL; Back returns to the text search.
        page.locator(f"#results .card[data-clip='{avi['clip']}'] .similar").click()
        page.wait_for_function(
            "/clips similar to odd.avi/.test(document.getElementById('message').textContent)"
        )
        assert page.evaluate("location.search") == f"?similar={avi['clip']}&k=12"
        similar = _cards(page)
        page.go_back()
        page.wait_for_function(
            "document.getElementById('message').textContent === '12 results for “a plain colour”'"
        )
        page.go_forward()  # as a shared link of similar clips would
        page.wait_for_function(
            "/clips similar to odd.avi/.test(document.getElementById('message').textContent)"
        )
        assert [c["clip"] for c in _cards(page)] == [c["clip"] for c in similar]

        # "/" goes into a focused box; elsewhere it focuses the search box.
        page.locator("#filters summary").click()
        page.focus("[data-param=in]")
        page.keyboard.type("/srv/videos")
        assert page.input_value("[data-param=in]") == "/srv/videos"
        assert page.evaluate("document.activeElement.dataset.param") == "in"
        page.fill("#q", "a plain colour")
        page.focus("#q")
        page.keyboard.press("End")
        page.keyboard.type(" a/b")
        assert page.input_value("#q") == "a plain colour a/b"
        page.locator("h1").click()
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "q"
        assert page.input_value("#q") == "a plain colour a/b"
        page.close()
    # The browser's own fetch of the AVI for <video> may be cut short; nothing else may fail.
    assert seen["errors"] == [] and seen["failed"] == [], seen
    assert [m for m in seen["console"] if "odd.avi" not in m and "media" not in m] == [], seen


def test_empty_library_and_offline_docs_in_chromium(browser, tmp_path, xclip_checkpoint) -> None:
    """An empty library says how to index; /docs renders Swagger UI with every request to
    anywhere but the server refused."""
    with _serving(tmp_path / "empty-library", xclip_checkpoint) as url:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        outside: list[str] = []

        def offline(route) -> None:
            if route.request.url.startswith(url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", offline)
        page = context.new_page()
        seen = _watch(page)
        page.goto(url)
        page.wait_for_selector("#empty", state="visible")
        assert "clipdex index ~/Videos" in page.text_content("#empty")
        assert page.text_content("#library-path") == str(tmp_path / "empty-library")
        assert page.text_content("#status") == "0 videos, 0 clips" and _count(page) == 0
        page.screenshot(path=str(_artifacts() / "serve-empty.png"))

        page.goto(f"{url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "clipdex" in page.text_content(".swagger-ui .info .title")
        page.wait_for_selector(".swagger-ui .opblock-summary-path[data-path='/api/videos']")
        page.screenshot(path=str(_artifacts() / "serve-docs-offline.png"))
        context.close()
    assert outside == [], outside
    assert seen["errors"] == [] and seen["failed"] == [] and seen["console"] == [], seen


# The player shows a picture: it is laid out taller than its controls and has the file's size.
SHOWS_PICTURE = """() => {
  const v = document.getElementById('video');
  return v.videoWidth > 0 && v.getBoundingClientRect().height > 100;
}"""


def test_an_audio_file_is_found_by_what_it_says_and_played_as_sound_in_chromium(
    browser, xclip_checkpoint, speech_model, library_dir, tmp_path
) -> None:
    """A voice memo (audio only, indexed with speech by the real tiny.en) is a hit for what it
    says: its card shows no picture nor a broken one, its time and its line with the words
    marked; it plays as sound from the line's start in a player without a picture box, the line
    being said shown beside it. A video played next gets its picture back."""
    from tests.support.cli import run_json
    from tests.support.speech import spoken_audio, spoken_video

    media = tmp_path / "media"
    media.mkdir()
    spoken_audio(media / "memo.m4a", "The minister says inflation is falling.", lead_s=2.0)
    spoken_video(media / "harbour.mp4", "A red balloon floats over the harbour.", duration_s=4.0)
    report = run_json("index", media, "--speech", "--speech-model", speech_model)
    assert (report["indexed"], report["transcribed"], report["failed"]) == (2, 2, [])

    with _serving(library_dir, xclip_checkpoint) as url:
        with urllib.request.urlopen(f"{url}/api/search?q=inflation+is+falling&k=5") as response:
            memo = json.load(response)["hits"][0]
        assert memo["path"].endswith("memo.m4a") and memo["clip_id"] is None
        line = memo["lines"][0]
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        seen = _watch(page)
        page.goto(f"{url}/?q=inflation+is+falling")  # the default: pictures and words, fused
        page.wait_for_selector("#results .card .said mark", timeout=90_000)
        card = page.locator("#results .card").first
        assert card.locator(".name").text_content() == "memo.m4a"
        assert card.locator(".said").text_content() == line["text"]
        assert "inflation" in [m.lower() for m in card.locator(".said mark").all_text_contents()]
        assert card.locator(".span").text_content() == _clock(memo["start"], memo["end"])
        assert card.locator("img").count() == 0  # no thumbnail to load, hence none broken
        assert card.locator(".sound-tile").is_visible()
        assert card.locator(".similar").is_hidden()

        card.locator(".play").click()
        at = _wait_playing(
            page, {"video": memo["video_id"], "start": line["start"], "end": memo["end"]}
        )
        assert at >= line["start"]
        assert page.evaluate("document.getElementById('video').videoWidth") == 0
        assert page.eval_on_selector("#player", "p => p.classList.contains('sound')")
        height = page.eval_on_selector("#video", "v => v.getBoundingClientRect().height")
        assert 0 < height <= 80, f"a sound file gets a {height} px picture box"
        assert page.is_hidden("#cannot-play")
        assert page.text_content("#now-playing").startswith("memo.m4a")
        page.wait_for_function(  # the line being said, beside the controls
            "text => document.getElementById('line').textContent === text", arg=line["text"]
        )
        assert page.is_visible("#line")
        page.screenshot(path=str(_artifacts() / "serve-audio.png"))

        page.fill("#q", "a red balloon over the harbour")
        page.wait_for_function(
            "document.querySelector('#results .card .name')?.textContent === 'harbour.mp4'"
        )
        page.locator("#results .card .play").first.click()
        page.wait_for_function(SHOWS_PICTURE, timeout=15_000)
        assert not page.eval_on_selector("#player", "p => p.classList.contains('sound')")
        assert page.is_hidden("#line")
        assert page.locator("#results .card").first.locator("img").count() == 1
        page.close()
    assert seen == {"errors": [], "console": [], "failed": []}, seen


def _clock(start: float, end: float) -> str:
    """A span as the page writes it (``clock`` in app.js) for spans under an hour."""

    def one(seconds: float) -> str:
        minutes = int(seconds // 60)
        return f"{minutes}:{seconds - 60 * minutes:04.1f}"

    return f"{one(start)}–{one(end)}"
