"""One module per command; ``register`` adds them to the ``clipdex`` group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from clipdex.commands import (
        clips,
        dedup,
        index,
        search,
        serve,
        similar,
        status,
        transcript,
        watch,
    )
    from clipdex.commands import eval as evaluate

    for module in (
        index,
        search,
        similar,
        dedup,
        clips,
        transcript,
        status,
        watch,
        serve,
        evaluate,
    ):
        group.add_command(module.command)
