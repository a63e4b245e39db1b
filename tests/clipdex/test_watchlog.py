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
