"""``clipdex clips FILE``: how a video was cut into clips."""

from __future__ import annotations

import json
from pathlib import Path

import click

from clipdex.cli import Context, indexed_video, json_option, typed_errors
from clipdex.render import table, timestamp


@click.command("clips")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_obj
@typed_errors
def command(obj: Context, file: Path, as_json: bool) -> None:
    """List the clips FILE was cut into, in time order."""
    from storage import repository as repo

    path = str(file.absolute())
    with obj.library().session() as session:
        video = indexed_video(file, session)
        clips = [(c.id, c.start_s, c.end_s) for c in repo.clips_of_video(video.id, session=session)]
    if as_json:
        items = [{"clip_id": i, "start": round(s, 3), "end": round(e, 3)} for i, s, e in clips]
        click.echo(json.dumps({"path": path, "clips": items}))
        return
    rows = [(str(i), timestamp(s), timestamp(e), f"{e - s:.2f}s") for i, s, e in clips]
    click.echo(table(("clip", "start", "end", "length"), rows, right={0, 3}))
