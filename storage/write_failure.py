"""Recognising a write to the library that the disk refused: full, or read-only.

SQLite says "database or disk is full" or "attempt to write a readonly database", the FAISS
save and the folder's creation raise OSError (ENOSPC, EROFS, EACCES). Each is turned into one
LibraryWriteError that names the cause and the folder or file, so the CLI can say what to fix
instead of printing an "internal error". Nothing is lost: the failed transaction rolls back
and what was committed before it stays.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from storage.errors import LibraryWriteError

logger = logging.getLogger(__name__)

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


class WriteFailures:
    """Translates the failed writes of one library, and remembers whether one happened (after
    which saving the FAISS cache on close is pointless and would only repeat the error)."""

    def __init__(self, folder: Path, database: Path | None) -> None:
        self.folder = folder
        self.database = database  # the SQLite file, or None for a server database
        self.seen: LibraryWriteError | None = None

    def attach(self, engine: Engine) -> None:
        """Raise LibraryWriteError instead of the driver's error for the engine's writes."""
        if self.database is not None:
            event.listen(engine, "handle_error", self._on_database_error)

    def from_os_error(self, exc: OSError) -> LibraryWriteError | None:
        """The LibraryWriteError for a file operation in the folder, or None if it is another
        kind of failure."""
        if exc.errno in _FULL_ERRNOS:
            return self._seen(LibraryWriteError(LibraryWriteError.DISK_FULL, self.folder))
        if exc.errno in _READ_ONLY_ERRNOS:
            return self._seen(self._read_only() or self._read_only_folder())
        return None

    def _on_database_error(self, context: ExceptionContext) -> LibraryWriteError | None:
        exc = context.original_exception
        if not isinstance(exc, sqlite3.Error):
            return None
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_FULL":
            error = LibraryWriteError(LibraryWriteError.DISK_FULL, self.folder)
        elif name.startswith("SQLITE_READONLY"):
            error = self._read_only() or self._read_only_folder()
        elif name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR")):
            # Cannot create the journal, or a write failed: say why only if the disk shows it.
            error = self._read_only() or self._full()
        else:
            return None
        if error is None:
            return None
        logger.debug("SQLite said %s: %s", name, exc)
        return self._seen(error)

    def _seen(self, error: LibraryWriteError) -> LibraryWriteError:
        self.seen = error
        return error

    def _read_only(self) -> LibraryWriteError | None:
        """Which of the folder and the database file cannot be written, if either."""
        if _read_only_mount(self.folder) or not os.access(self.folder, os.W_OK):
            return self._read_only_folder()
        database = self.database
        if database is not None and database.exists() and not os.access(database, os.W_OK):
            return LibraryWriteError(LibraryWriteError.READ_ONLY_DATABASE, database)
        return None

    def _read_only_folder(self) -> LibraryWriteError:
        return LibraryWriteError(LibraryWriteError.READ_ONLY_FOLDER, self.folder)

    def _full(self) -> LibraryWriteError | None:
        try:
            free = os.statvfs(self.folder).f_bavail
        except OSError:
            return None
        return LibraryWriteError(LibraryWriteError.DISK_FULL, self.folder) if free == 0 else None


def _read_only_mount(path: Path) -> bool:
    """Whether ``path`` is on a file system mounted read-only (root may write anything else)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
