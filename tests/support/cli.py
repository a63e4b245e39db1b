"""Run the ``clipdex`` CLI in tests: in-process with click's CliRunner, or as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> Result:
    """Invoke ``clipdex ARGS`` in-process; the environment (CLIPDEX_LIBRARY...) is inherited."""
    from clipdex.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args], catch_exceptions=False)


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def subprocess_run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m clipdex ARGS`` in a real process, with this checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "clipdex", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
    )


def terminal_run(*args: str, timeout: float = 300) -> tuple[int, str]:
    """``python -m clipdex ARGS`` on a real pseudo-terminal (160 columns): (exit status, screen)
    with stdout and stderr interleaved as a user sees them, progress bars included."""
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "clipdex", *map(str, args)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        cwd=REPO,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    return proc.wait(timeout=timeout), b"".join(chunks).decode(errors="replace")
