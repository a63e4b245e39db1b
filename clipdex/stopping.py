"""Stopping a long-running command (``watch``, ``serve``) on SIGINT or SIGTERM, with exit 0.

The handlers are installed first thing in the command, before its heavy imports and the model
load, so a signal that arrives while it is still starting up is not fatal (Python's default
SIGTERM action would end the process with status 143, before anything could be saved).
While the command starts, the first signal abandons the start at once (KeyboardInterrupt:
imports, opening the library and loading the model hold nothing that must be finished).
Once the command calls ``started()``, the first signal only asks to stop (its main loop waits
on ``event`` and finishes the video in progress); a second one raises KeyboardInterrupt to
abandon that work too. Leaving the ``with`` block swallows the KeyboardInterrupt, so the
command exits 0 either way, also when the interrupt surfaced wrapped in another error
(``caused``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignal(KeyboardInterrupt):
    """What the handler raises: a KeyboardInterrupt (every ``except KeyboardInterrupt`` meets
    it), but not the exact class. CPython 3.11 flags a plain KeyboardInterrupt that leaves an
    ``exec`` of a source string (as ``dataclasses`` does for every class it makes, during
    imports) as unhandled, even when our code catches it afterwards, and then ends the process
    by SIGINT instead of with its exit status; the check compares the class by identity."""


class StopRequest:
    """``with StopRequest() as stop:`` installs the handlers and restores the previous ones."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._previous: dict[int, object] = {}
        self._starting = True

    def __enter__(self) -> StopRequest:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, *_tb: object
    ) -> bool:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        # A KeyboardInterrupt in the block came from ``_handle`` (every SIGINT meets it while
        # it is installed): a stop during start-up or a second signal. Exit 0.
        return exc is not None and self.caused(exc)

    def caused(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the stop itself or an error it caused. The handler's exception
        can land anywhere, and some places wrap it: Python turns an exception raised by
        ``__set_name__`` while a class is created (a dataclass, during an import) into a
        RuntimeError whose cause is the KeyboardInterrupt."""
        if isinstance(exc, KeyboardInterrupt):
            return True
        if not self.event.is_set():
            return False
        seen: set[int] = set()
        link: BaseException | None = exc
        while link is not None and id(link) not in seen:
            if isinstance(link, StopSignal):
                return True
            seen.add(id(link))
            link = link.__cause__ or link.__context__
        return False

    def started(self) -> None:
        """From now on the first signal only sets ``event``: the command stops by itself."""
        self._starting = False

    @property
    def running(self) -> bool:
        """Whether ``started()`` was called."""
        return not self._starting

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the signal handler) when a stop is asked after ``started()``;
        at once if it already was. The server uses it to tell uvicorn, whose own handlers are
        not installed yet in the moment before it runs."""
        self._callbacks.append(callback)
        if self.requested:
            callback()

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        if self._starting or self.event.is_set():
            self.event.set()
            raise StopSignal
        self.event.set()
        for callback in self._callbacks:
            callback()
