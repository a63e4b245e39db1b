"""Bring a database to the newest schema with Alembic, the only schema mechanism.

Opening a library runs ``upgrade head`` through the connection the library already has, so
``env.py`` uses that connection (and its pragmas) instead of building its own engine.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from alembic import command

logger = logging.getLogger(__name__)

# The migrations ship beside the storage package (repo root, or site-packages if packaged so).
ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"
# Any constant key works: it only has to be the same for every clipdex process.
_PG_MIGRATION_LOCK = 0x636C6970646578


def alembic_config() -> Config:
    """An Alembic Config for the project's migrations, without reading alembic.ini.

    Skipping the ini file also skips its logging setup, which would replace the app's.
    """
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    return config


def head_revisions() -> set[str]:
    """The revision(s) the code expects the database to be at."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    """The revision(s) the database is at (empty for a new database)."""
    return set(MigrationContext.configure(connection).get_current_heads())


def upgrade(engine: Engine) -> None:
    """Migrate the database to head, once, even if several processes open it at the same time.

    The up-to-date case only reads. Otherwise a lock is taken before Alembic looks at the
    version table (SQLite: ``BEGIN IMMEDIATE``, the write lock; PostgreSQL: a transaction-scoped
    advisory lock), so a second process waits and then finds nothing to do instead of
    creating the same tables again.
    """
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
