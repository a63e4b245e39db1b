"""What ``clipdex watch`` prints: a line per file event on stderr, or JSON lines on stdout.

The JSON events (one object per line; docs/watching.md lists them): ``indexed`` {path, clips},
``partial`` {path, error}, ``failed`` {path, error}, ``moved`` and ``copied`` {path, from},
``removed`` {path}, ``watching`` {roots}, ``unavailable`` {path: the watched folder, reason,
videos: how many are kept}, ``returned`` {path}, ``rescan`` {reason, and path when one folder
is scanned again}, ``stopped`` {}. Every object has ``event``; fields are never a
sentence to parse.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from clipdex.render import plural
from indexer.watch import WatchObserver

# Outcomes worth a line; "skipped" (unchanged) and "ignored" (not a video) are the quiet ones.
_REPORTED = ("indexed", "partial", "moved", "copied", "removed", "failed")
# The field that carries the indexer's ``detail`` for each outcome.
_DETAIL_FIELD = {"moved": "from", "copied": "from", "failed": "error", "partial": "error"}


class EventPrinter(WatchObserver):
    """One line per file event on stderr, or one JSON object per event on stdout."""

    def __init__(self, as_json: bool, roots: list[Path] | None = None) -> None:
        self.as_json = as_json
        self.roots = roots or []

    def file_done(self, path: Path, outcome: str, detail: str = "") -> None:
        if outcome not in _REPORTED:
            return
        if self.as_json:
            event: dict = {"event": outcome, "path": str(path)}
            if outcome == "indexed" and detail.isdigit():
                event["clips"] = int(detail)
            elif outcome in _DETAIL_FIELD and detail:
                event[_DETAIL_FIELD[outcome]] = detail
            self._json(event)
        elif outcome in ("failed", "partial"):
            return  # the indexer already logged "failed PATH: reason" on stderr
        elif outcome in ("moved", "copied"):
            click.echo(f"{outcome} {detail} -> {path}", err=True)
        elif outcome == "indexed" and detail.isdigit():
            click.echo(f"indexed {path} ({plural(int(detail), 'clip')})", err=True)
        else:
            click.echo(f"{outcome} {path}", err=True)

    def notice(
        self, event: str, path: Path | None = None, detail: str = "", videos: int | None = None
    ) -> None:
        if self.as_json:
            payload: dict = {"event": event}
            if event == "watching":
                payload["roots"] = [str(root) for root in self.roots]
            elif path is not None:
                payload["path"] = str(path)
            if event in ("rescan", "unavailable") and detail:
                payload["reason"] = detail
            if videos is not None:
                payload["videos"] = videos
            self._json(payload)
        elif event == "watching":
            click.echo(f"watching {detail}", err=True)
        # unavailable / returned / rescan are logged as warnings by the watcher itself

    @staticmethod
    def _json(payload: dict) -> None:
        click.echo(json.dumps(payload))
