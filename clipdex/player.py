"""Which video player opens a hit at its start, and launching it detached.

mpv and vlc take a start time on the command line; the desktop's default opener (``xdg-open``
on Linux, ``open`` on macOS) cannot be told one, so it opens the file at its beginning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass


class PlayerError(Exception):
    """No player could be found or started."""


@dataclass(frozen=True)
class Launch:
    """A player's command line for one file and whether it starts at the requested time."""

    player: str
    argv: list[str]
    seeks: bool


def seconds_arg(seconds: float) -> str:
    """Seconds as players read them: ``70.04``, ``3``, never ``1e-05`` (millisecond precision)."""
    text = f"{max(seconds, 0.0):.3f}".rstrip("0").rstrip(".")
    return text or "0"


def choose(
    path: str,
    start_s: float,
    which: Callable[[str], str | None] = shutil.which,
    platform: str = sys.platform,
) -> Launch:
    """The command that opens ``path`` at ``start_s``: mpv, else vlc, else the desktop's opener.

    Raises PlayerError when none is on PATH.
    """
    start = seconds_arg(start_s)
    mpv = which("mpv")
    if mpv:
        return Launch("mpv", [mpv, f"--start={start}", path], seeks=True)
    vlc = which("vlc")
    if vlc:
        return Launch("vlc", [vlc, f"--start-time={start}", path], seeks=True)
    opener_name = "open" if platform == "darwin" else "xdg-open"
    opener = which(opener_name)
    if opener:
        return Launch(opener_name, [opener, path], seeks=False)
    raise PlayerError(f"no video player found: install mpv or vlc (or {opener_name}) on PATH")


def launch(command: Launch) -> None:
    """Start the player in its own session, detached from this process's terminal and output,
    and return at once (the player outlives clipdex)."""
    try:
        subprocess.Popen(
            command.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise PlayerError(f"cannot start {command.player}: {exc.strerror or exc}") from None
