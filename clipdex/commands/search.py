"""``clipdex search "TEXT"``: ranked, timestamped clips for a description."""

from __future__ import annotations

import json
import os

import click

from clipdex.cli import (
    ClipdexError,
    Context,
    json_option,
    load_text_encoder,
    model_option,
    quantize_option,
    typed_errors,
)
from clipdex.render import plural, printable, snippet, table, timestamp
from clipdex.timings import Timings

FORMATS = ("table", "json", "paths", "paths+time")
SOURCES = ("visual", "speech", "all")  # search.fusion.SEARCH_SOURCES, without importing search


@click.command("search")
@click.argument("text")
@click.option(
    "-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Hits to return."
)
@click.option("--no-rerank", is_flag=True, help="Skip X-CLIP's video-conditioned re-ranking.")
@click.option(
    "--not",
    "negatives",
    multiple=True,
    metavar="TEXT",
    help="Steer away from TEXT: its score is subtracted (repeatable).",
)
@click.option(
    "--min-score",
    type=float,
    default=None,
    metavar="S",
    help="Drop hits scoring below S [default: no cut].",
)
@click.option(
    "--in",
    "folders",
    multiple=True,
    type=click.Path(path_type=str),
    metavar="PATH",
    help="Only videos in this folder (repeatable).",
)
@click.option("--after", metavar="DATE", help="Only videos recorded on or after DATE (mtime).")
@click.option("--before", metavar="DATE", help="Only videos recorded before DATE (mtime).")
@click.option(
    "--min-duration", type=float, metavar="SECONDS", help="Only videos this long or longer."
)
@click.option(
    "--max-duration", type=float, metavar="SECONDS", help="Only videos this long or shorter."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="table (default), json (as --json), paths (one video per line, rank order) "
    "or paths+time (PATH<TAB>START<TAB>END per hit, seconds).",
)
@click.option(
    "--open",
    "open_rank",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Open hit N in mpv or vlc at its start (else the desktop's player, from the beginning).",
)
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    default=None,
    help="What to match: visual (X-CLIP on the pictures), speech (transcripts and subtitles, "
    "no model needed) or all (both, fused) [default: all when the library has transcripts, "
    "else visual].",
)
@model_option
@quantize_option
@json_option
@click.pass_obj
@typed_errors
def command(
    obj: Context,
    text: str,
    k: int,
    no_rerank: bool,
    negatives: tuple[str, ...],
    min_score: float | None,
    folders: tuple[str, ...],
    after: str | None,
    before: str | None,
    min_duration: float | None,
    max_duration: float | None,
    model: str | None,
    quantize: str,
    as_json: bool,
    fmt: str | None,
    open_rank: int | None,
    source: str | None,
) -> None:
    """Find the clips that best match TEXT.

    DATE is YYYY-MM-DD or an ISO 8601 time; a video's recording time is its file's mtime.
    Words match transcripts by stem ("falling" finds "falls"); a "quoted phrase" must be said
    as written. --not and --min-score act on the pictures' (X-CLIP) score.
    """
    if not text.strip():
        # Every clip is equally far from nothing: the "hits" would be arbitrary.
        raise click.UsageError(
            'the query is empty: describe what to find, e.g. clipdex search "a dog on a beach"'
        )
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json and --format {fmt} disagree: give one of them")
    fmt = "json" if as_json else (fmt or "table")
    from clipdex.search_filters import FilterError, narrowing
    from search.fusion import SOURCE_SPEECH, default_source, search_spans
    from search.text import SearchOptions

    try:
        narrow = narrowing(
            negatives=negatives,
            min_score=min_score,
            folders=[os.path.abspath(os.path.expanduser(f)) for f in folders],
            after=after,
            before=before,
            min_duration_s=min_duration,
            max_duration_s=max_duration,
        )
    except FilterError as exc:
        raise ClipdexError(f"{exc.option}: {exc.reason}") from None
    options = SearchOptions(
        k=k,
        rerank=not no_rerank,
        min_score=narrow.min_score,
        negatives=narrow.negatives,
        only=narrow.only,
    )
    if source == SOURCE_SPEECH and (min_score is not None or negatives):
        raise click.UsageError("--min-score and --not act on pictures: not with --source speech")
    library = obj.catalog()
    hits = []
    timings = Timings()
    export = None
    if library.settings is not None:
        source = source or default_source(library)
        encoder = None
        if source != SOURCE_SPEECH:
            encoder, export = load_text_encoder(model, library, quantize, timings)
        with timings.stage("query"):
            hits = search_spans(library, encoder, text, options, source)
    timings.report()
    _print_hits(text, hits, fmt, source)
    if open_rank is not None:
        _open_hit(hits, open_rank)
    if export is not None:
        # The first search of a library without a query model (indexed by an older clipdex)
        # writes it, after answering: the next searches skip torch.
        export()


def _print_hits(text: str, hits: list, fmt: str, source: str | None) -> None:
    if fmt == "json":
        found = {"query": text, "source": source, "hits": [h.to_json() for h in hits]}
        click.echo(json.dumps(found))
        return
    if not hits:
        click.echo("no hits", err=True)
        return
    if fmt == "paths":
        # One line per video, in the rank of its best hit: for xargs, mpv --playlist...
        for path in dict.fromkeys(h.path for h in hits):
            click.echo(path)
        return
    if fmt == "paths+time":
        for h in hits:
            hit = h.to_json()
            click.echo(f"{hit['path']}\t{hit['start']}\t{hit['end']}")
        return
    said = any(h.lines for h in hits)
    rows = []
    for i, h in enumerate(hits, 1):
        row = [str(i), f"{h.score:.4f}", f"{timestamp(h.start_s)}-{timestamp(h.end_s)}"]
        if said:
            row.append(snippet(h.lines[0].text, h.lines[0].marks) if h.lines else "")
        rows.append((*row, h.path))
    headers = ("#", "score", "span", "said", "path") if said else ("#", "score", "span", "path")
    click.echo(table(headers, rows, right={0}))


def _open_hit(hits: list, rank: int) -> None:
    """Start the system's player at hit ``rank``'s start (1-based, as the table numbers hits)."""
    from clipdex.player import PlayerError, choose, launch

    if rank > len(hits):
        raise click.UsageError(
            f"--open {rank}: there {'is' if len(hits) == 1 else 'are'} only "
            f"{plural(len(hits), 'hit')}"
        )
    hit = hits[rank - 1]
    try:
        command = choose(hit.path, hit.play_from_s)
        launch(command)
    except PlayerError as exc:
        raise ClipdexError(str(exc)) from None
    where = f"{timestamp(hit.play_from_s)} ({round(hit.play_from_s, 3)} s)"
    if command.seeks:
        click.echo(
            f"clipdex: opening {printable(hit.path)} at {where} in {command.player}", err=True
        )
    else:
        click.echo(
            f"clipdex: no mpv or vlc on PATH: {command.player} opens {printable(hit.path)} at its "
            f"beginning; the hit starts at {where}",
            err=True,
        )
