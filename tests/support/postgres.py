"""A throwaway PostgreSQL server for the tests, started from the installed binaries.

One server per test session (``initdb`` + ``pg_ctl`` in a private temporary folder, listening
on a unix socket only, never on TCP), and a fresh database per test, created from a template.
Durability is switched off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the data is
thrown away, and these settings change speed only, not what SQL means.

The cluster collates with ICU's ``en-US`` rule, as a typical production server does, rather than
byte order: that is what exposes SQL that silently depends on SQLite's binary collation.

As root, PostgreSQL refuses to run; the server is then run as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

# Set in CI: an unavailable server then fails the PostgreSQL tests instead of skipping them.
REQUIRE_ENV = "CLIPDEX_REQUIRE_POSTGRES"
TEMPLATE_DB = "clipdex_template"
_PORT = 5432  # only names the socket file inside the private folder; no TCP port is opened


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries or the psycopg driver are missing, or the server did not start."""


def find_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/N/bin)."""
    candidates = [
        Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()
    ]
    if candidates:
        return max(candidates, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH); "
        "install it with: apt-get install postgresql"
    )


class PostgresServer:
    """A private PostgreSQL cluster; ``start()``, then ``create_database()``, then ``stop()``."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="clipdex-pg-"))
        self.data_dir = self.folder / "data"
        self.log_file = self.folder / "server.log"
        self._user = "postgres" if os.geteuid() == 0 else None
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._user:
            # The cluster's files must belong to the user PostgreSQL runs as.
            command = ["runuser", "-u", self._user, "--", *command]
        result = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=120, cwd=self.folder
        )
        if result.returncode != 0:
            log = (
                self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            )
            raise PostgresUnavailable(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip()} {log}".strip()
            )

    def _major_version(self) -> int:
        """The major version, from ``initdb --version`` ("initdb (PostgreSQL) 15.18")."""
        output = subprocess.run(
            [str(self.bin_dir / "initdb"), "--version"], check=True, capture_output=True, text=True
        ).stdout
        match = re.search(r"(\d+)(?:\.\d+)?", output)
        return int(match.group(1)) if match else 0

    def start(self) -> None:
        """initdb and start the server; raises PostgresUnavailable with the server's words."""
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        initdb = ["initdb", "-D", str(self.data_dir), "--auth=trust", "--username=postgres"]
        initdb += ["--encoding=UTF8", "--locale=C.UTF-8"]
        if self._major_version() >= 15:  # ICU as the default collation needs PostgreSQL 15
            initdb += ["--locale-provider=icu", "--icu-locale=en-US"]
        self._run(*initdb)
        options = (
            f"-k {self.folder} -p {_PORT} -c listen_addresses='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._admin(f'CREATE DATABASE "{TEMPLATE_DB}"')

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one database, over the unix socket."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.folder}&port={_PORT}"

    def _admin(self, sql: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise PostgresUnavailable(
                "the psycopg driver is missing: pip install -e '.[postgres]'"
            ) from exc
        with psycopg.connect(
            dbname="postgres", user="postgres", host=str(self.folder), port=_PORT, autocommit=True
        ) as connection:
            connection.execute(sql)

    def create_database(self) -> str:
        """A new empty database (no tables), copied from the template; returns its URL."""
        name = f"clipdex_test_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``create_database``, closing any connection a test leaked."""
        name = url.split("/")[-1].split("?")[0]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and delete its folder (immediate shutdown: the data is thrown away)."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
