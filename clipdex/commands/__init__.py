"""One module per command; ``register`` adds them to the ``clipdex`` group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from clipdex.commands import clips, index, search, status, watch

    for module in (index, search, clips, status, watch):
        group.add_command(module.command)
