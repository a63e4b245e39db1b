"""File-system events for the watched roots, from watchdog, with the failures made visible.

watchdog runs its own threads; they only put events on a queue that the watcher drains in its
own thread, so indexing never happens inside an observer callback. Three things can make events
go missing, and each one is reported so the watcher can rescan instead of silently drifting:
- inotify cannot add a watch (``fs.inotify.max_user_watches`` reached): that root is polled;
- the kernel's event queue overflows (``fs.inotify.max_queued_events``): watchdog only logs it,
  so a logging handler on its logger turns that record into a flag;
- an emitter or observer thread dies (a root unmounted under it, an unexpected error).
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

logger = logging.getLogger(__name__)

# Where watchdog's inotify layer logs "Inotify queue overflowed; filesystem events were lost".
_INOTIFY_LOGGER = "watchdog.observers.inotify_c"
_EMITTER_LOGGER = "watchdog.observers.inotify"
FALLBACK_POLL_S = 5.0


class _Sink(FileSystemEventHandler):
    def __init__(self, events: queue.Queue[FileSystemEvent]) -> None:
        self._events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._events.put(event)


class _OverflowFlag(logging.Handler):
    """Raises a flag when watchdog reports that the kernel dropped events."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.raised = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.raised.set()


class _QuietShutdown(logging.Filter):
    """Drops watchdog's "queue_events() called when the thread is inactive" ERROR.

    An emitter thread that checked "keep running?" just before ``stop()``/``unschedule()``
    reads once more and finds its watch gone; watchdog logs that at ERROR although nothing was
    lost (we are the ones stopping it).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


class EventSource:
    """Recursive watches on a set of roots; events arrive on ``self.events``.

    ``poll_s`` selects watchdog's polling observer (network file systems, where inotify sees
    nothing); otherwise the native observer (inotify on Linux) is used.
    """

    def __init__(self, poll_s: float | None = None) -> None:
        self.events: queue.Queue[FileSystemEvent] = queue.Queue()
        self.poll_s = poll_s
        self._sink = _Sink(self.events)
        self._observer: BaseObserver | None = None
        self._fallback: BaseObserver | None = None
        self._watches: dict[Path, tuple[BaseObserver, ObservedWatch]] = {}
        self._overflow = _OverflowFlag()
        self._quiet = _QuietShutdown()

    def start(self) -> None:
        logging.getLogger(_INOTIFY_LOGGER).addHandler(self._overflow)
        logging.getLogger(_EMITTER_LOGGER).addFilter(self._quiet)
        self._observer = self._new_observer(self.poll_s)
        self._observer.start()

    def stop(self) -> None:
        logging.getLogger(_INOTIFY_LOGGER).removeHandler(self._overflow)
        for observer in (self._observer, self._fallback):
            if observer is not None:
                observer.stop()
        for observer in (self._observer, self._fallback):
            if observer is not None and observer.is_alive():
                observer.join(timeout=5)
        self._observer = self._fallback = None
        self._watches.clear()
        logging.getLogger(_EMITTER_LOGGER).removeFilter(self._quiet)

    @property
    def watched(self) -> set[Path]:
        return set(self._watches)

    def watch(self, root: Path) -> None:
        """Watch ``root`` recursively; fall back to polling it when inotify cannot."""
        if root in self._watches or self._observer is None:
            return
        try:
            watch = self._observer.schedule(self._sink, str(root), recursive=True)
            self._watches[root] = (self._observer, watch)
        except FileNotFoundError:
            logger.debug("cannot watch %s: it is gone", root)  # the root check reports it
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EMFILE) or self.poll_s is not None:
                raise
            logger.warning(
                "cannot watch %s with inotify (%s; raise fs.inotify.max_user_watches): "
                "polling it every %gs instead",
                root,
                exc.strerror,
                FALLBACK_POLL_S,
            )
            if self._fallback is None:
                self._fallback = self._new_observer(FALLBACK_POLL_S)
                self._fallback.start()
            watch = self._fallback.schedule(self._sink, str(root), recursive=True)
            self._watches[root] = (self._fallback, watch)

    def unwatch(self, root: Path) -> None:
        held = self._watches.pop(root, None)
        if held is None:
            return
        observer, watch = held
        try:
            observer.unschedule(watch)
        except (KeyError, OSError) as exc:  # its emitter may already be gone with the root
            logger.debug("unwatching %s: %r", root, exc)

    def trouble(self) -> str | None:
        """Why events may have been lost since the last call (clears the overflow flag), or
        None while everything is healthy."""
        if self._overflow.raised.is_set():
            self._overflow.raised.clear()
            return "the kernel's event queue overflowed"
        for observer in (self._observer, self._fallback):
            if observer is not None and not observer.is_alive():
                return "the file-system observer stopped"
        for root, (observer, _watch) in self._watches.items():
            if not os.path.isdir(root):
                continue  # gone: the watcher's root check deals with it
            if any(not e.is_alive() for e in observer.emitters if Path(e.watch.path) == root):
                return f"watching {root} stopped"
        return None

    def restart(self) -> None:
        """Throw away every observer and watch the same roots afresh."""
        roots = list(self._watches)
        self.stop()
        self.start()
        for root in roots:
            self.watch(root)

    @staticmethod
    def _new_observer(poll_s: float | None) -> BaseObserver:
        if poll_s is not None:
            return PollingObserver(timeout=poll_s)
        return Observer()
