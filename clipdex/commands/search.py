"""``clipdex search "TEXT"``: ranked, timestamped clips for a description."""

from __future__ import annotations

import json

import click

from clipdex.cli import (
    Context,
    _typed_errors,
    json_option,
    load_encoder,
    model_option,
    quantize_option,
)
from clipdex.render import table, timestamp


@click.command("search")
@click.argument("text")
@click.option(
    "-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Hits to return."
)
@click.option("--no-rerank", is_flag=True, help="Skip X-CLIP's video-conditioned re-ranking.")
@model_option
@quantize_option
@json_option
@click.pass_obj
@_typed_errors
def command(
    obj: Context,
    text: str,
    k: int,
    no_rerank: bool,
    model: str | None,
    quantize: str,
    as_json: bool,
) -> None:
    """Find the clips that best match TEXT."""
    if not text.strip():
        # Every clip is equally far from nothing: the "hits" would be arbitrary.
        raise click.UsageError(
            'the query is empty: describe what to find, e.g. clipdex search "a dog on a beach"'
        )
    from search.text import SearchOptions, search_text

    library = obj.library()
    hits = []
    if library.settings is not None:
        encoder = load_encoder(model, library, quantize)
        hits = search_text(library, encoder, text, SearchOptions(k=k, rerank=not no_rerank))
    if as_json:
        click.echo(json.dumps({"query": text, "hits": [h.to_json() for h in hits]}))
        return
    if not hits:
        click.echo("no hits", err=True)
        return
    rows = [
        (str(i), f"{h.score:.4f}", f"{timestamp(h.start_s)}-{timestamp(h.end_s)}", h.path)
        for i, h in enumerate(hits, 1)
    ]
    click.echo(table(("#", "score", "span", "path"), rows, right={0}))
