"""``clipdex similar``: clips that look like a stored clip, a stretch of any video file, or a
picture."""

from __future__ import annotations

import json
from pathlib import Path

import click

from clipdex.cli import ClipdexError, Context, json_option, load_encoder, typed_errors
from clipdex.render import table, timestamp


@click.command("similar")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--clip", "clip_id", type=int, default=None, help="A stored clip id (see clipdex clips)."
)
@click.option(
    "--start",
    "start_s",
    type=click.FloatRange(min=0),
    default=None,
    help="Start of FILE's span, seconds [0].",
)
@click.option(
    "--end",
    "end_s",
    type=click.FloatRange(min=0),
    default=None,
    help="End of FILE's span, seconds [its end].",
)
@click.option(
    "-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Hits to return."
)
@click.option(
    "--exclude-same-video", is_flag=True, help="Leave out clips of the query's own video."
)
@json_option
@click.pass_obj
@typed_errors
def command(
    obj: Context,
    file: Path | None,
    clip_id: int | None,
    start_s: float | None,
    end_s: float | None,
    k: int,
    exclude_same_video: bool,
    as_json: bool,
) -> None:
    """Find the clips most similar to --clip ID, or to FILE (from --start to --end).

    FILE may be any video, indexed or not: it is embedded on the fly with the library's model.
    It may also be a picture (PNG, JPEG or WebP, recognised by content), taken as a clip in
    which nothing moves. Scores are cosines of X-CLIP video embeddings; each hit is one clip
    (adjacent clips are not merged).
    """
    from search.similar import UnknownClipError, similar_to_clip

    if (clip_id is None) == (file is None):
        raise click.UsageError("give either --clip ID or FILE")
    if clip_id is not None and (start_s is not None or end_s is not None):
        raise click.UsageError("--start and --end apply to FILE, not to --clip")
    library = obj.library()
    hits = []
    if clip_id is not None:
        query = {"clip_id": clip_id}
        if library.settings is None:
            raise ClipdexError(f"no clip with id {clip_id} in the library (it is empty)")
        try:
            hits = similar_to_clip(library, clip_id, k, exclude_same_video=exclude_same_video)
        except UnknownClipError as exc:
            raise ClipdexError(str(exc)) from exc
    else:
        query, hits = _similar_to_file(library, file, start_s, end_s, k, exclude_same_video)
    _print(query, hits, as_json)


def _similar_to_file(library, file: Path, start_s, end_s, k: int, exclude_same_video: bool):
    from indexer.errors import VideoOpenError
    from indexer.picture import embed_picture, is_picture
    from indexer.sampling import SamplingPlan
    from indexer.span_embedding import embed_span
    from search.similar import similar_to_embedding
    from storage import repository as repo

    if not file.is_file():
        raise ClipdexError(f"{file}: no such file")
    path = str(file.absolute())
    picture = is_picture(file)
    if picture and (start_s is not None or end_s is not None):
        raise click.UsageError(f"--start and --end apply to a video; {file} is a picture")
    settings = library.settings
    if settings is None:
        return {"path": path} if picture else {"path": path, "start": start_s, "end": end_s}, []
    encoder = load_encoder(None, library)
    plan = SamplingPlan.for_library(encoder, settings)
    if picture:
        embedding = embed_picture(file, encoder, plan, name=str(file))
        return {"path": path, "picture": True}, similar_to_embedding(library, embedding, k)
    try:
        span = embed_span(file, encoder, plan, start_s or 0.0, end_s)
    except VideoOpenError as exc:
        raise ClipdexError(
            f"{file}: neither a picture (PNG, JPEG, WebP) nor a readable video ({exc.reason})"
        ) from exc
    exclude = None
    if exclude_same_video:
        with library.session() as session:
            video = repo.get_video_by_path(path, session=session)
            exclude = video.id if video is not None else None
    query = {"path": path, "start": round(span.start_s, 3), "end": round(span.end_s, 3)}
    return query, similar_to_embedding(library, span.embedding, k, exclude_video_id=exclude)


def _print(query: dict, hits, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"query": query, "hits": [h.to_json() for h in hits]}))
        return
    if not hits:
        click.echo("no hits", err=True)
        return
    rows = [
        (
            str(i),
            f"{h.score:.4f}",
            f"{timestamp(h.start_s)}-{timestamp(h.end_s)}",
            str(h.clip_id),
            h.path,
        )
        for i, h in enumerate(hits, 1)
    ]
    click.echo(table(("#", "score", "span", "clip", "path"), rows, right={0, 3}))
