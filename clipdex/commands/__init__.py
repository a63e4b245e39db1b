"""One module per command; ``register`` adds them to the ``clipdex`` group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from clipdex.commands import clips, index, search, serve, status

    for module in (index, search, clips, status, serve):
        group.add_command(module.command)
