"""What ``clipdex watch`` prints: a line per file event on stderr, or JSON lines on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import click

from indexer.watch import WatchObserver

# Outcomes worth a line; "skipped" (unchanged) and "ignored" (not a video) are the quiet ones.
_REPORTED = ("indexed", "partial", "moved", "copied", "removed", "failed")


class EventPrinter(WatchObserver):
    """One line per file event on stderr, or one JSON object per event on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def file_done(self, path: Path, outcome: str, detail: str = "") -> None:
        if outcome not in _REPORTED:
            return
        if self.as_json:
            key = {"moved": "from", "copied": "from", "failed": "error", "partial": "error"}.get(
                outcome, "detail"
            )
            self._json({"event": outcome, "path": str(path), **({key: detail} if detail else {})})
        elif outcome in ("failed", "partial"):
            return  # the indexer already logged "failed PATH: reason" on stderr
        elif outcome in ("moved", "copied"):
            click.echo(f"{outcome} {detail} -> {path}", err=True)
        else:
            click.echo(f"{outcome} {path}" + (f" ({detail})" if detail else ""), err=True)

    def notice(self, event: str, path: Path | None = None, detail: str = "") -> None:
        if self.as_json:
            self._json(
                {
                    "event": event,
                    **({"path": str(path)} if path else {}),
                    **({"detail": detail} if detail else {}),
                }
            )
        elif event == "watching":
            click.echo(f"watching {detail}", err=True)
        # unavailable / returned / rescan are logged as warnings by the watcher itself

    @staticmethod
    def _json(payload: dict) -> None:
        click.echo(json.dumps(payload))
