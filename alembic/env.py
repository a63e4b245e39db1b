"""Alembic environment for clipdex.

The database URL is, in order: the connection the app passes in
(``config.attributes["connection"]``, used by ``Library.open``); ``-x db_url=...``;
the ``CLIPDEX_DB_URL`` environment variable; ``sqlalchemy.url`` from alembic.ini; and last
``sqlite:///clipdex.db`` in the current folder, so ``alembic upgrade head`` works from the repo.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from sqlalchemy import Connection, create_engine, pool

from alembic import context
from storage.models import Base, is_modelled

DEFAULT_URL = "sqlite:///clipdex.db"

config = context.config
target_metadata = Base.metadata

# Only the command line reads alembic.ini's logging; an app calling in keeps its own logging.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """The URL to migrate when no connection was passed in."""
    return (
        context.get_x_argument(as_dictionary=True).get("db_url")
        or os.environ.get("CLIPDEX_DB_URL")
        or config.get_main_option("sqlalchemy.url")
        or DEFAULT_URL
    )


def _configure(**kwargs: object) -> None:
    # render_as_batch: SQLite cannot ALTER most things, batch mode copies the table instead.
    # include_name: autogenerate leaves alone the full-text index, which the models do not describe.
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,
        include_name=is_modelled,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``) without a database."""
    _configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_with_connection(connection: Connection) -> None:
    """Run the migrations on an open connection."""
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the app's connection, or a throwaway engine built from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with_connection(connection)
        return
    # The app's URL rules (a bare postgresql:// means psycopg 3, unsupported backends refused).
    from storage.library import parse_db_url

    engine = create_engine(parse_db_url(database_url()), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            run_with_connection(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
