"""One module per command; ``register`` adds them to the ``clipdex`` group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from clipdex.commands import clips, dedup, index, search, serve, similar, status, watch

    for module in (index, search, similar, dedup, clips, status, watch, serve):
        group.add_command(module.command)
