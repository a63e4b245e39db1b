"""``clipdex transcript FILE``: what the library heard and read in a video, with times."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import click

from clipdex.cli import Context, indexed_video, typed_errors
from clipdex.render import table, timestamp


@click.command("transcript")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--json", "fmt", flag_value="json", help="Print JSON: the lines with start, end, source."
)
@click.option("--srt", "fmt", flag_value="srt", help="Print SubRip subtitles.")
@click.option("--vtt", "fmt", flag_value="vtt", help="Print WebVTT captions.")
@click.pass_obj
@typed_errors
def command(obj: Context, file: Path, fmt: str | None) -> None:
    """Print the lines FILE says (speech recognised, subtitles read), in time order."""
    from storage import transcripts

    path = str(file.absolute())
    with obj.library().session() as session:
        video = indexed_video(file, session)
        lines = transcripts.transcript_of(video.id, session=session)
    if fmt == "json":
        items = [
            {
                "start": round(line.start_s, 3),
                "end": round(line.end_s, 3),
                "source": line.source,
                "language": line.language,
                "text": line.text,
            }
            for line in lines
        ]
        click.echo(json.dumps({"path": path, "lines": items}))
    elif fmt == "srt":
        click.echo(to_srt(lines), nl=False)
    elif fmt == "vtt":
        from clipdex.webvtt import to_webvtt

        click.echo(to_webvtt(lines))
    elif lines:
        rows = [(timestamp(x.start_s), timestamp(x.end_s), x.source, x.text) for x in lines]
        click.echo(table(("start", "end", "source", "text"), rows))
    else:
        click.echo(f"clipdex: {file}: no speech or subtitles in the library", err=True)


def to_srt(lines: Iterable) -> str:
    """SubRip: numbered cues, each text on one line (a blank line would end the cue)."""
    parts = []
    for number, line in enumerate(lines, 1):
        end = max(line.end_s, line.start_s + 0.001)
        text = " ".join(line.text.split())
        start, stop = timestamp(line.start_s, ","), timestamp(end, ",")
        parts.append(f"{number}\n{start} --> {stop}\n{text}\n\n")
    return "".join(parts)
