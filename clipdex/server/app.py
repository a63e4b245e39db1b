"""The FastAPI application: JSON API, media streaming, thumbnails and the page.

Built by ``create_app`` from an open library and a function that loads the text encoder; the
encoder is loaded on the first text search only (status, media, thumbnails and similar clips
need no model). Every request reads the database afresh and ``Library.vectors()`` catches up
with commits from other processes, so videos indexed by ``clipdex watch`` show up without a
restart. Handlers are plain ``def``: Starlette runs them in its thread pool, which suits the
blocking SQLite, FAISS and PyAV calls.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from clipdex.server import security
from clipdex.server.thumbnails import THUMBS_DIRNAME, ThumbnailError, Thumbnails
from search.similar import similar_to_clip
from search.text import SearchOptions, TextEncoder, search_text
from storage import repository as repo
from storage.library import Library
from storage.models import STATUS_INDEXED, Clip, Video

logger = logging.getLogger(__name__)

MAX_K = 100
STATIC = Path(str(resources.files("clipdex.server") / "static"))


class _LazyEncoder:
    """Loads the encoder once, on first use, even when two searches arrive together."""

    def __init__(self, load: Callable[[], TextEncoder]) -> None:
        self._load = load
        self._encoder: TextEncoder | None = None
        self._lock = threading.Lock()

    def get(self) -> TextEncoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = self._load()
            return self._encoder


def _not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")


def create_app(
    library: Library,
    load_encoder: Callable[[], TextEncoder],
    *,
    token: str | None = None,
) -> FastAPI:
    """The application over ``library``. With ``token`` every request must carry it; without,
    only loopback Host names are accepted (see ``security.Guard``)."""
    app = FastAPI(
        title="clipdex",
        summary="Semantic video search over a clipdex library",
        version="0.1.0",
    )
    encoder = _LazyEncoder(load_encoder)
    # One text search at a time: the model already uses every core for one query, and a
    # Hugging Face fast tokenizer must not be called from two threads at once.
    model_lock = threading.Lock()
    thumbs = Thumbnails(library.folder / THUMBS_DIRNAME)
    app.add_middleware(security.Guard, token=token)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/status", summary="What the library holds (as `clipdex status --json`)")
    def status() -> dict:
        settings = library.settings
        with library.session() as session:
            videos, clips, _ = repo.counts(session=session)
            failed = [
                {"path": v.path, "error": v.error} for v in repo.failed_videos(session=session)
            ]
        info = {
            "library": str(library.folder),
            "model": settings.model_id if settings else None,
            "videos": videos,
            "clips": clips,
            "failed": failed,
            "generation": library.generation(),
        }
        if settings:
            info["clip_seconds"] = {"min": settings.min_clip_s, "max": settings.max_clip_s}
        return info

    @app.get("/api/search", summary="Clips matching a description (as `clipdex search --json`)")
    def search(
        q: Annotated[str, Query(max_length=1000, description="What to look for")] = "",
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        rerank: bool = True,
    ) -> dict:
        text = q.strip()
        if not text or library.settings is None:
            return {"query": q, "hits": []}
        with model_lock:
            hits = _run_model(
                lambda: search_text(library, encoder.get(), text, SearchOptions(k, rerank))
            )
        return {"query": q, "hits": [hit.to_json() for hit in hits]}

    @app.get("/api/clips/{clip_id}", summary="One clip: its video, path and time span")
    def clip(clip_id: str) -> dict:
        return _clip_json(_clip(library, clip_id))

    @app.get("/api/clips/{clip_id}/similar", summary="Clips nearest to this one")
    def similar(
        clip_id: str,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        exclude_same_video: bool = False,
    ) -> dict:
        found = _clip(library, clip_id)
        hits = similar_to_clip(library, found.clip_id, k, exclude_same_video=exclude_same_video)
        return {"clip": _clip_json(found), "hits": [hit.to_json() for hit in hits]}

    @app.get(
        "/api/clips/{clip_id}/thumbnail.jpg",
        summary="A JPEG of the frame at the clip's middle",
        response_class=FileResponse,
    )
    def thumbnail(clip_id: str) -> FileResponse:
        found = _clip(library, clip_id)
        video = _video(library, str(found.video_id))
        real, _ = _servable(video)
        middle = (found.start_s + found.end_s) / 2
        try:
            jpeg = thumbs.get(found.clip_id, video.mtime_ns, real, middle, video.rotation or 0)
        except ThumbnailError as exc:
            logger.warning("no thumbnail for clip %d: %s", found.clip_id, exc)
            raise _not_found("thumbnail") from exc
        return FileResponse(
            jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
        )

    @app.get("/api/videos/{video_id}", summary="One video: probe facts and its clips")
    def video(video_id: str) -> dict:
        row = _video(library, video_id)
        with library.session() as session:
            clips = repo.clips_of_video(row.id, session=session)
        return _video_json(row, clips)

    def media(video_id: str) -> FileResponse:
        """The file of an indexed video. Range requests (single, suffix, several) are Starlette's
        FileResponse: 206 with Content-Range, 416 past the end, and a header of more than 100
        ranges is ignored (the whole file, once), so a request cannot fan out into many parts."""
        real, info = _servable(_video(library, video_id))
        kind = mimetypes.guess_type(real.name)[0] or "application/octet-stream"
        return FileResponse(real, media_type=kind, stat_result=info)

    path = "/api/videos/{video_id}/media"
    app.get(path, summary="The video file, with HTTP Range support", response_class=FileResponse)(
        media
    )
    app.head(path, include_in_schema=False, response_class=FileResponse)(media)

    return app


def _run_model(call: Callable):
    """Model and library problems become 503 with their one-line message."""
    from clipdex.encoder import ModelLoadError
    from storage.errors import StorageError

    try:
        return call()
    except (ModelLoadError, StorageError) as exc:
        logger.warning("search failed: %s", exc)
        raise HTTPException(status_code=503, detail=str(exc)) from exc


def _clip(library: Library, text: str) -> repo.ClipHit:
    clip_id = security.parse_id(text)
    if clip_id is None:
        raise _not_found("clip")
    with library.session() as session:
        found = repo.clip_hits([clip_id], session=session).get(clip_id)
    if found is None:
        raise _not_found("clip")
    return found


def _video(library: Library, text: str) -> Video:
    video_id = security.parse_id(text)
    if video_id is None:
        raise _not_found("video")
    with library.session() as session:
        row = session.get(Video, video_id)
    if row is None:
        raise _not_found("video")
    return row


def _servable(video: Video) -> tuple[Path, object]:
    """The real path and stat of an indexed video that may be served, else 404."""
    if video.status != STATUS_INDEXED:
        raise _not_found("video")
    try:
        return security.safe_media_path(video.path)
    except security.UnsafeMediaError as exc:
        logger.warning("refusing to serve video %d: %s", video.id, exc)
        raise _not_found("video") from exc


def _clip_json(found: repo.ClipHit) -> dict:
    return {
        "clip_id": found.clip_id,
        "video_id": found.video_id,
        "path": found.path,
        "start": round(found.start_s, 3),
        "end": round(found.end_s, 3),
    }


def _video_json(row: Video, clips: list[Clip]) -> dict:
    return {
        "video_id": row.id,
        "path": row.path,
        "status": row.status,
        "error": row.error,
        "duration": row.duration_s,
        "fps": row.fps,
        "width": row.width,
        "height": row.height,
        "codec": row.codec,
        "rotation": row.rotation,
        "clips": [
            {"clip_id": c.id, "start": round(c.start_s, 3), "end": round(c.end_s, 3)} for c in clips
        ],
    }
