"""The JSON routes: status, text search, clip and video details, similar clips, transcripts.

Hits have the shape of ``clipdex search --json`` (``FusedHit.to_json``; similar clips:
``Hit.to_json``), so scripts can use either.
Ids in URLs are plain decimal numbers; anything else, like an unknown id, is 404.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from clipdex.search_filters import DATE_HELP, FilterError, narrowing
from clipdex.server import security
from clipdex.server.state import Shared
from clipdex.status_report import library_status
from clipdex.webvtt import to_webvtt
from search.fusion import SEARCH_SOURCES, SOURCE_SPEECH, default_source, search_spans
from search.similar import similar_to_clip
from search.text import SearchOptions
from storage import repository as repo
from storage import transcripts
from storage.library import Library
from storage.models import Clip, Video

logger = logging.getLogger(__name__)

MAX_K = 100
MAX_DEPTH = 1000  # offset + k: how deep a search may page
MAX_LIMIT = 500  # videos per page of /api/videos
MAX_NEGATIVES = 10  # each costs a pass of the text tower and a re-rank
router = APIRouter(prefix="/api")


def not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")


def invalid(parameter: str, reason: str) -> HTTPException:
    """A 422 in the shape of FastAPI's own validation errors, naming the query parameter."""
    detail = [{"loc": ["query", parameter], "msg": reason, "type": "value_error"}]
    return HTTPException(status_code=422, detail=detail)


@router.get("/status", summary="What the library holds (as `clipdex status --json`)")
def status(state: Shared) -> dict:
    return library_status(state.library)


@router.get("/search", summary="Clips matching a description (as `clipdex search --json`)")
def search(
    state: Shared,
    q: Annotated[str, Query(max_length=1000, description="What to look for (not blank)")] = "",
    k: Annotated[int, Query(ge=1, le=MAX_K, description="Hits per page")] = 10,
    offset: Annotated[
        int, Query(ge=0, le=MAX_DEPTH - 1, description="Hits to skip: the page's first rank")
    ] = 0,
    rerank: bool = True,
    negatives: Annotated[
        list[str] | None,
        Query(alias="not", max_length=1000, description="Text to steer away from (repeatable)"),
    ] = None,
    min_score: Annotated[float | None, Query(description="Drop hits scoring below this")] = None,
    folders: Annotated[
        list[str] | None, Query(alias="in", description="Only videos under this absolute folder")
    ] = None,
    after: Annotated[str | None, Query(description=f"Recorded on or after: {DATE_HELP}")] = None,
    before: Annotated[str | None, Query(description=f"Recorded before: {DATE_HELP}")] = None,
    min_duration: Annotated[float | None, Query(ge=0, description="Seconds")] = None,
    max_duration: Annotated[float | None, Query(ge=0, description="Seconds")] = None,
    source: Annotated[
        str | None,
        Query(
            pattern=f"^({'|'.join(SEARCH_SOURCES)})$",
            description="visual (pictures), speech (transcripts and subtitles) or all (both, "
            "fused); default: all when the library has transcripts, else visual",
        ),
    ] = None,
) -> dict:
    """Hits ``offset`` to ``offset + k`` of the best ``offset + k`` spans; ``more`` is true when
    this page is full (a next page may have hits). A page is a slice of the deeper ranking, so a
    span of an earlier page may come back grown (merged with a clip found only now). Each hit
    says why it matched: ``visual_score``, ``text_score`` (null for a side that did not find
    it) and the matched transcript ``lines`` (with the character offsets of matched words)."""
    from clipdex.model_errors import ModelLoadError
    from storage.errors import StorageError

    if offset + k > MAX_DEPTH:
        raise invalid("offset", f"offset + k must be at most {MAX_DEPTH}")
    if len(negatives or ()) > MAX_NEGATIVES:
        raise invalid("not", f"at most {MAX_NEGATIVES} negative texts")
    try:
        narrow = narrowing(
            negatives=negatives or (),
            min_score=min_score,
            folders=folders or (),
            after=after,
            before=before,
            min_duration_s=min_duration,
            max_duration_s=max_duration,
        )
    except FilterError as exc:
        raise invalid(exc.field, exc.reason) from None
    # With offset 0 this is exactly `clipdex search -k K` (asking one deeper would change the
    # merging of the last spans), so `more` only says the page is full: the next may be empty.
    options = SearchOptions(offset + k, rerank, narrow.min_score, narrow.negatives, narrow.only)
    text = q.strip()
    if not text:
        # Every clip is equally far from nothing: refuse rather than return arbitrary hits.
        raise HTTPException(status_code=422, detail="the query is empty: describe what to find")
    if source == SOURCE_SPEECH and (min_score is not None or negatives):
        raise invalid("source", "min_score and not act on pictures: not with source=speech")
    if state.library.settings is None:
        return {"query": q, "source": source, "offset": offset, "more": False, "hits": []}
    source = source or default_source(state.library)
    try:
        if source == SOURCE_SPEECH:  # words alone: no model, no lock
            hits = search_spans(state.library, None, text, options, source)
        else:
            with state.model_lock:
                hits = search_spans(state.library, state.encoder(), text, options, source)
    except (ModelLoadError, StorageError) as exc:
        logger.warning("search failed: %s", exc)
        raise HTTPException(status_code=503, detail=str(exc)) from exc
    page = hits[offset : offset + k]
    more = len(hits) == offset + k
    return {
        "query": q,
        "source": source,
        "offset": offset,
        "more": more,
        "hits": [hit.to_json() for hit in page],
    }


@router.get("/videos", summary="The library's videos (indexed and failed), a page at a time")
def videos(
    state: Shared,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict:
    """Videos by path with their clip counts; ``total`` counts them all, failed ones included
    (with their ``error``; an indexed video read only in part also has one)."""
    clip_count = (
        select(Clip.video_id, func.count(Clip.id).label("n")).group_by(Clip.video_id).subquery()
    )
    query = (
        select(Video, func.coalesce(clip_count.c.n, 0))
        .outerjoin(clip_count, clip_count.c.video_id == Video.id)
        .order_by(Video.path, Video.id)
        .offset(offset)
        .limit(limit)
    )
    with state.library.session() as session:
        total = session.scalar(select(func.count(Video.id)))
        rows = session.execute(query).all()
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "videos": [
            {
                "video_id": row.id,
                "path": row.path,
                "status": row.status,
                "error": row.error,
                "duration": None if row.duration_s is None else round(row.duration_s, 3),
                "clips": clips,
            }
            for row, clips in rows
        ],
    }


@router.get("/clips/{clip_id}", summary="One clip: its video, path and time span")
def clip(state: Shared, clip_id: str) -> dict:
    return clip_json(find_clip(state.library, clip_id))


@router.get("/clips/{clip_id}/similar", summary="Clips nearest to this one")
def similar(
    state: Shared,
    clip_id: str,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    exclude_same_video: bool = False,
) -> dict:
    found = find_clip(state.library, clip_id)
    try:
        hits = similar_to_clip(
            state.library, found.clip_id, k, exclude_same_video=exclude_same_video
        )
    except LookupError as exc:  # removed between the lookup and the search
        raise not_found("clip") from exc
    return {"clip": clip_json(found), "hits": [hit.to_json() for hit in hits]}


@router.get("/videos/{video_id}", summary="One video: probe facts and its clips")
def video(state: Shared, video_id: str) -> dict:
    row = find_video(state.library, video_id)
    with state.library.session() as session:
        clips = repo.clips_of_video(row.id, session=session)
    return video_json(row, clips)


@router.get("/videos/{video_id}/transcript", summary="What a video says, line by line")
def transcript(state: Shared, video_id: str) -> dict:
    """The video's transcript lines in time order: speech recognised, subtitles read."""
    row = find_video(state.library, video_id)
    with state.library.session() as session:
        lines = transcripts.transcript_of(row.id, session=session)
    return {
        "video_id": row.id,
        "path": row.path,
        "lines": [
            {
                "start": round(line.start_s, 3),
                "end": round(line.end_s, 3),
                "text": line.text,
                "source": line.source,
                "language": line.language,
            }
            for line in lines
        ],
    }


@router.get(
    "/videos/{video_id}/transcript.vtt",
    summary="The transcript as WebVTT captions (the player's captions track)",
    response_class=PlainTextResponse,
)
def transcript_vtt(state: Shared, video_id: str) -> PlainTextResponse:
    row = find_video(state.library, video_id)
    with state.library.session() as session:
        lines = transcripts.transcript_of(row.id, session=session)
    return PlainTextResponse(to_webvtt(lines), media_type="text/vtt; charset=utf-8")


def find_clip(library: Library, text: str) -> repo.ClipHit:
    """The clip an id segment names, else 404."""
    clip_id = security.parse_id(text)
    if clip_id is None:
        raise not_found("clip")
    with library.session() as session:
        found = repo.clip_hits([clip_id], session=session).get(clip_id)
    if found is None:
        raise not_found("clip")
    return found


def find_video(library: Library, text: str) -> Video:
    """The video (indexed or failed) an id segment names, else 404."""
    video_id = security.parse_id(text)
    if video_id is None:
        raise not_found("video")
    with library.session() as session:
        row = session.get(Video, video_id)
    if row is None:
        raise not_found("video")
    return row


def clip_json(found: repo.ClipHit) -> dict:
    return {
        "clip_id": found.clip_id,
        "video_id": found.video_id,
        "path": found.path,
        "start": round(found.start_s, 3),
        "end": round(found.end_s, 3),
    }


def video_json(row: Video, clips: list[Clip]) -> dict:
    return {
        "video_id": row.id,
        "path": row.path,
        "status": row.status,
        "error": row.error,
        "duration": None if row.duration_s is None else round(row.duration_s, 3),
        "fps": None if row.fps is None else round(row.fps, 3),
        "width": row.width,
        "height": row.height,
        "codec": row.codec,
        "rotation": row.rotation,
        "clips": [
            {"clip_id": c.id, "start": round(c.start_s, 3), "end": round(c.end_s, 3)} for c in clips
        ],
    }
