"""Two reads of one search at once: one on a thread of its own, the other on the caller's.

The fused search reads the transcript lines (the database's full-text search) while it ranks
pictures (text tower, FAISS, features, re-rank). Both spend most of their time outside the
GIL (SQLite and PostgreSQL drivers, ONNX Runtime or torch on one thread, FAISS), so on two
cores the words cost max(pictures, words) instead of the sum.

What runs aside must be safe on another thread: the ``Library``'s reads each take a session
(a pooled connection) of their own; ``SqliteReader`` keeps its ``sqlite3`` connection, which
belongs to the thread that opened it, for the caller's side and hands the words to its
``Library``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Aside = TypeVar("Aside")
Here = TypeVar("Here")


def beside(
    aside: Callable[[], Aside], here: Callable[[], Here], *, parallel: bool = True
) -> tuple[Aside, Here]:
    """``(aside(), here())``, with ``aside`` run on a new thread while ``here`` runs on this one
    (with ``parallel=False``: one after the other, here, ``aside`` first).

    Both have finished when this returns or raises. An exception of ``here`` is raised once
    ``aside`` is done (its result or error then dropped); else one of ``aside`` is raised.
    """
    if not parallel:
        first = aside()
        return first, here()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clipdex-beside") as pool:
        future = pool.submit(aside)
        result = here()
        return future.result(), result
