"""Typed errors raised by the library on disk.

Only the CLI turns these into one-line messages and exit codes; everything below it raises.
"""

from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """Base class for every error the storage layer raises on purpose."""


class ModelMismatchError(StorageError):
    """The library was built with one model and is being used with another.

    Embeddings of two models live in different spaces, so mixing them would return nonsense
    ranks; refusing is the only safe answer. Models are compared by digest (config and weights)
    where both are known, so this names two models that really differ; the message says what
    to run instead.
    """

    def __init__(
        self,
        folder: Path | str,
        stored: str,
        requested: str,
        *,
        stored_digest: str | None = None,
        requested_digest: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.stored = stored
        self.requested = requested
        self.stored_digest = stored_digest
        self.requested_digest = requested_digest
        if stored_digest and requested_digest:
            why = (
                f"{requested} is a different model (weights or config differ: "
                f"fingerprint {requested_digest[:12]}, the library's {stored_digest[:12]})"
            )
            advice = f"use a new --library for it, or --model {stored} or a copy of it"
        elif not stored_digest and requested_digest:
            why = (
                f"it has not fingerprinted that model yet, so it cannot tell whether {requested} "
                "is the same"
            )
            advice = (
                f"run `clipdex index` once with --model {stored} to record its fingerprint, "
                "or use a new --library"
            )
        else:
            why = f"it cannot be searched or extended with {requested}"
            advice = f"use a new --library, or --model {stored}"
        super().__init__(
            f"library at {self.folder} was built with model {stored}; {why} ({advice})"
        )


class LibraryNotBoundError(StorageError):
    """The library has no model yet, so it has no embedding size and no clips to search."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        super().__init__(
            f"library at {self.folder} is empty (no model bound yet): index some videos first"
        )


class CorruptIndexError(StorageError):
    """The FAISS index file cannot be read; the library rebuilds it from the database."""


class DatabaseUnavailableError(StorageError):
    """The metadata database cannot be used: a malformed ``--db-url``, a backend clipdex does
    not support, a missing driver, or a server that refuses the connection.

    Messages show the URL with its password masked, since they end up in terminals and logs.
    """


class LibraryWriteError(StorageError):
    """The library could not be written: its disk is full, or its folder or database is
    read-only. What was committed before stays whole (each video is one transaction).

    ``reason`` is one of ``DISK_FULL``, ``READ_ONLY_FOLDER``, ``READ_ONLY_DATABASE``;
    ``path`` is the folder or database file concerned.
    """

    DISK_FULL = "disk_full"
    READ_ONLY_FOLDER = "read_only_folder"
    READ_ONLY_DATABASE = "read_only_database"

    def __init__(self, reason: str, path: Path | str) -> None:
        self.reason = reason
        self.path = Path(path)
        what = {
            self.DISK_FULL: "the library's disk is full",
            self.READ_ONLY_FOLDER: "the library's folder is read-only",
            self.READ_ONLY_DATABASE: "the library's database is read-only",
        }[reason]
        super().__init__(f"{what} ({self.path})")
