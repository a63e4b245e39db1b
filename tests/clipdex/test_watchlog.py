"""What ``clipdex watch`` prints for a partial file: a JSON event, or nothing beyond the
indexer's own ``clipdex: partial PATH: reason`` line."""

from __future__ import annotations

import json
from pathlib import Path

from clipdex.watchlog import EventPrinter

REASON = "truncated (16259 of 54198 bytes): decoded 3.52 s of 20.00 s"


def test_a_partial_file_is_a_json_event_with_its_reason(capsys) -> None:
    EventPrinter(as_json=True).file_done(Path("/media/download.mp4"), "partial", REASON)
    out = capsys.readouterr().out
    assert json.loads(out) == {"event": "partial", "path": "/media/download.mp4", "error": REASON}


def test_a_partial_file_prints_no_second_line(capsys) -> None:
    EventPrinter(as_json=False).file_done(Path("/media/download.mp4"), "partial", REASON)
    assert capsys.readouterr() == ("", "")


def test_json_events_carry_fields_not_sentences(capsys) -> None:
    printer = EventPrinter(as_json=True, roots=[Path("/media/a, b"), Path("/media/c")])
    printer.notice("watching", detail="/media/a, b, /media/c")
    printer.file_done(Path("/media/a, b/x.mp4"), "indexed", "7")
    printer.file_done(Path("/media/c/y.mp4"), "moved", "/media/c/old.mp4")
    printer.file_done(Path("/media/c/z.mp4"), "failed", "not a readable video")
    printer.file_done(Path("/media/c/w.mp4"), "removed")
    printer.notice("unavailable", Path("/media/c"))
    printer.notice("rescan", detail="the event queue overflowed")
    printer.notice("stopped")
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events == [
        {"event": "watching", "roots": ["/media/a, b", "/media/c"]},
        {"event": "indexed", "path": "/media/a, b/x.mp4", "clips": 7},
        {"event": "moved", "path": "/media/c/y.mp4", "from": "/media/c/old.mp4"},
        {"event": "failed", "path": "/media/c/z.mp4", "error": "not a readable video"},
        {"event": "removed", "path": "/media/c/w.mp4"},
        {"event": "unavailable", "path": "/media/c"},
        {"event": "rescan", "reason": "the event queue overflowed"},
        {"event": "stopped"},
    ]


def test_one_clip_is_one_clip(capsys) -> None:
    EventPrinter(as_json=False).file_done(Path("/media/one.mp4"), "indexed", "1")
    EventPrinter(as_json=False).file_done(Path("/media/two.mp4"), "indexed", "2")
    err = capsys.readouterr().err.splitlines()
    assert err == ["indexed /media/one.mp4 (1 clip)", "indexed /media/two.mp4 (2 clips)"]
