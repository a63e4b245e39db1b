"""What a library folder holds, named once for every reader of it.

``storage.library`` (SQLAlchemy) and ``storage.sqlite_reader`` (the standard library's sqlite3,
for a cold ``clipdex search``) both open these files; this module imports neither.
"""

from __future__ import annotations

DB_FILENAME = "clipdex.db"
INDEX_FILENAME = "index.faiss"
# A writer holds the lock for one video's commit; readers and writers wait rather than fail.
BUSY_TIMEOUT_MS = 30_000
