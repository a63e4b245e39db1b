"""One module per command; ``register`` adds them to the ``clipdex`` group.

The ``clipdex`` script registers them lazily (``register_lazily``): a command's module, and
what it imports at the top, is imported only when that command runs, so ``clipdex search``
pays for no other command's imports (the server's, the watcher's, the indexer's).
"""

from __future__ import annotations

import importlib

import click

# Command name -> its module, in the order of ``clipdex --help``.
MODULES = {
    "index": "clipdex.commands.index",
    "search": "clipdex.commands.search",
    "similar": "clipdex.commands.similar",
    "dedup": "clipdex.commands.dedup",
    "clips": "clipdex.commands.clips",
    "transcript": "clipdex.commands.transcript",
    "status": "clipdex.commands.status",
    "watch": "clipdex.commands.watch",
    "serve": "clipdex.commands.serve",
    "eval": "clipdex.commands.eval",
}


def load(name: str) -> click.Command:
    """The command ``name`` (a key of MODULES), importing its module."""
    return importlib.import_module(MODULES[name]).command


def register(group: click.Group) -> None:
    """Add every command to ``group`` now (tests and tools that inspect ``group.commands``)."""
    for name in MODULES:
        group.add_command(load(name))


def register_lazily(group: click.Group) -> None:
    """Let ``group`` (a ``clipdex.cli.ClipdexGroup``) import each command when it is asked for."""
    group.lazy_commands = dict(MODULES)
