"""``python -m clipdex ...`` as a real process, its output lines collected as they come.

Shared by the tests that need a real process: signals, ``kill -9``, mounts, FIFOs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.support.watching import TIMEOUT_S, wait_until

REPO = Path(__file__).resolve().parents[2]


class ClipdexProcess:
    """``python -m clipdex ARGS``; ``wait_s`` bounds each wait for output and for the exit."""

    def __init__(self, *args: str, wait_s: float = 120.0, exit_s: float = 120.0) -> None:
        self.wait_s, self.exit_s = wait_s, exit_s
        self.process = subprocess.Popen(
            [sys.executable, "-m", "clipdex", *args],
            cwd=REPO,
            # One model thread: see tests/indexer/test_watch.py.
            env={**os.environ, "PYTHONPATH": str(REPO), "CLIPDEX_THREADS": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._collect, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self.stdout),
                (self.process.stderr, self.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def events(self) -> list[dict]:
        """The JSON lines printed on stdout so far (``--json``)."""
        return [json.loads(line) for line in list(self.stdout)]

    def wait_for(self, predicate, what: str) -> None:
        def met() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"exited early ({self.process.returncode}) waiting for {what}:\n"
                    + "\n".join(self.stderr)
                )
            return predicate()

        wait_until(met, what, timeout_s=self.wait_s)

    def catches(self, signum: int) -> bool:
        """Whether the process has its own handler for ``signum`` (from /proc: SigCgt)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        caught = int(
            next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
        )
        return bool(caught >> (signum - 1) & 1)

    def maps(self, library: str) -> bool:
        """Whether the process has loaded a shared library whose name contains ``library``."""
        return library in Path(f"/proc/{self.process.pid}/maps").read_text()

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.finish()

    def finish(self) -> int:
        code = self.process.wait(timeout=self.exit_s)
        for reader in self._readers:
            reader.join(timeout=10)
        return code


def watch_process(*args: str) -> ClipdexProcess:
    """``clipdex watch`` settling files after 0.3 s."""
    return ClipdexProcess("watch", "--settle", "0.3", *args, wait_s=TIMEOUT_S, exit_s=60.0)


def run_python(code: str, *, timeout_s: float = 120.0) -> str:
    """Run ``code`` in a fresh interpreter that imports this tree; its stdout. Fails the test
    with the end of stderr if it exits non-zero."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        cwd=REPO,
        timeout=timeout_s,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
