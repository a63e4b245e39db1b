"""Bring a database to the newest schema with Alembic, the only schema mechanism.

Opening a library runs ``upgrade head`` through the connection the library already has, so
``env.py`` uses that connection (and its pragmas) instead of building its own engine.
SQLAlchemy is imported only by the functions that use it: ``storage.sqlite_reader`` checks a
library's revision with ``declared_heads`` alone.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

logger = logging.getLogger(__name__)

# The migrations ship beside the storage package (repo root, or site-packages if packaged so).
ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"
# Any constant key works: it only has to be the same for every clipdex process.
_PG_MIGRATION_LOCK = 0x636C6970646578


# ``revision = "0003"`` and ``down_revision = "0002"`` (a type annotation allowed), at the start
# of a line of a migration script, as Alembic writes them.
_REVISION_LINE = re.compile(
    r"^(?P<name>revision|down_revision)\s*(?::[^=\n]*)?=\s*(?P<value>.+?)\s*$", re.MULTILINE
)


def declared_heads() -> set[str] | None:
    """The head revision(s), read from the migration scripts' text without importing Alembic
    (which costs a cold ``clipdex search`` about 0.2 s); None when a script does not declare
    exactly one literal revision and down revision (then only Alembic can say)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for script in sorted((ALEMBIC_DIR / "versions").glob("*.py")):
        found: dict[str, list] = {"revision": [], "down_revision": []}
        for match in _REVISION_LINE.finditer(script.read_text()):
            try:
                found[match["name"]].append(ast.literal_eval(match["value"]))
            except (ValueError, SyntaxError):
                return None
        if len(found["revision"]) != 1 or len(found["down_revision"]) != 1:
            return None
        (revision,), (down,) = found["revision"], found["down_revision"]
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        downs.update([down] if isinstance(down, str) else (down or ()))
    return (revisions - downs) or None


def _stored_revisions(engine: Engine) -> set[str] | None:
    """What the version table holds, read with plain SQL; None if it cannot be read."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            return {row[0] for row in rows}
    except SQLAlchemyError:
        return None


def alembic_config():
    """An Alembic Config for the project's migrations, without reading alembic.ini.

    Skipping the ini file also skips its logging setup, which would replace the app's.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    return config


def head_revisions() -> set[str]:
    """The revision(s) the code expects the database to be at."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    """The revision(s) the database is at (empty for a new database)."""
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(connection).get_current_heads())


def upgrade(engine: Engine) -> None:
    """Migrate the database to head, once, even if several processes open it at the same time.

    The up-to-date case only reads. Otherwise a lock is taken before Alembic looks at the
    version table (SQLite: ``BEGIN IMMEDIATE``, the write lock; PostgreSQL: a transaction-scoped
    advisory lock), so a second process waits and then finds nothing to do instead of
    creating the same tables again. A database already at the heads the scripts declare is
    recognised without importing Alembic (most opens: every search).
    """
    declared = declared_heads()
    if declared is not None and _stored_revisions(engine) == declared:
        return
    from alembic import command

    heads = head_revisions()
    with engine.connect() as connection:
        if current_revisions(connection) == heads:
            return
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        config = alembic_config()
        config.attributes["connection"] = connection
        logger.info("migrating %s to %s", engine.url.render_as_string(), ", ".join(sorted(heads)))
        command.upgrade(config, "head")
