"""``clipdex status``: the library's model, counts, failed and partial files."""

from __future__ import annotations

import json

import click

from clipdex.cli import Context, json_option, typed_errors
from clipdex.render import plural, printable


@click.command("status")
@json_option
@click.pass_obj
@typed_errors
def command(obj: Context, as_json: bool) -> None:
    """Show what the library holds."""
    from clipdex.status_report import library_status

    info = library_status(obj.library())
    videos, clips, failed = info["videos"], info["clips"], info["failed"]
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(f"library:  {info['library']}")
    click.echo(f"database: {info['database']}")
    click.echo(f"model:    {info['model'] or '(none yet)'}")
    partial = info["partial"]
    of_them = f" ({len(partial)} partial)" if partial else ""
    if info["audio_only"]:
        of_them += f" ({info['audio_only']} audio only)"
    click.echo(f"videos:   {videos} indexed{of_them}, {len(failed)} failed")
    click.echo(f"clips:    {clips}")
    text = info["transcripts"]
    click.echo(
        f"text:     {text['speech']} with speech, {text['subtitles']} with subtitles, "
        f"{text['neither']} with neither ({plural(text['lines'], 'line')})"
    )
    for item in failed:
        click.echo(f"failed:   {printable(item['path'])}: {item['error']}")
    for item in partial:
        click.echo(f"partial:  {printable(item['path'])}: {item['error']}")
    if info["needs_rehash"]:
        click.echo(
            f"hashes:   {info['needs_rehash']} videos hashed by an older clipdex: "
            "`clipdex index --rehash PATH` lets dedup see flips, crops and insets in them"
        )
