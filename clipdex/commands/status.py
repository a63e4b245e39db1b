"""``clipdex status``: the library's model, counts and failed files."""

from __future__ import annotations

import json

import click

from clipdex.cli import Context, _typed_errors, json_option


@click.command("status")
@json_option
@click.pass_obj
@_typed_errors
def command(obj: Context, as_json: bool) -> None:
    """Show what the library holds."""
    from storage import repository as repo

    library = obj.library()
    settings = library.settings
    with library.session() as session:
        videos, clips, failed_count = repo.counts(session=session)
        failed = [{"path": v.path, "error": v.error} for v in repo.failed_videos(session=session)]
    info = {
        "library": str(library.folder),
        "database": library.engine.url.render_as_string(),  # password masked
        "model": settings.model_id if settings else None,
        "videos": videos,
        "clips": clips,
        "failed": failed,
        "generation": library.generation(),
    }
    if settings:
        info["clip_seconds"] = {"min": settings.min_clip_s, "max": settings.max_clip_s}
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(f"library:  {info['library']}")
    click.echo(f"database: {info['database']}")
    click.echo(f"model:    {info['model'] or '(none yet)'}")
    click.echo(f"videos:   {videos} indexed, {failed_count} failed")
    click.echo(f"clips:    {clips}")
    for item in failed:
        click.echo(f"failed:   {item['path']}: {item['error']}")
