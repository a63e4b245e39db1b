"""``POST /api/similar``: clips that look like an uploaded picture or short video.

The upload (one ``file`` field of a ``multipart/form-data`` body) is read with a hard size
limit, counted while it arrives whatever ``Content-Length`` claims (413 past it); recognised by
its content, never its name or declared type (415 unless a PNG, JPEG or WebP picture, or a
video PyAV can read); and never kept: a picture is decoded from memory, a video is written to
a private temporary folder that is deleted before the answer is sent. Hits have the shape of
``clipdex similar --json``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from clipdex.server.state import Served, Shared
from indexer.errors import VideoOpenError
from search.similar import similar_to_embedding

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and part headers around the file
MAX_VIDEO_S = 60.0  # an uploaded video is embedded over its first minute at most
MAX_K = 100
router = APIRouter(prefix="/api")


@router.post(
    "/similar",
    summary="Clips like an uploaded picture (PNG, JPEG, WebP) or short video (at most 20 MB)",
)
async def similar_upload(
    request: Request, state: Shared, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10
) -> dict:
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        # A form on another site can POST here without the browser asking first (no CORS
        # preflight for multipart): it would make the server embed what it sent.
        raise HTTPException(403, "uploads are accepted from this server's own page only")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES:
        raise _too_large()
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(415, "send the file as multipart/form-data, in a field named file")
    name, data = await _read_file(request)
    return await run_in_threadpool(_search, state, name, data, k)


async def _read_file(request: Request) -> tuple[str, bytes]:
    """The ``file`` field's name and bytes. Starlette spools a part over 1 MB to an unnamed
    temporary file (unlinked at creation); the form is closed here, which frees it."""
    parser = MultiPartParser(request.headers, _limited(request), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(400, f"malformed upload: {exc.message}") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "no file: send it in a multipart field named file")
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise _too_large()
        return Path(upload.filename or "upload").name, data
    finally:
        await form.close()


async def _limited(request: Request) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES:
            raise _too_large()
        yield chunk


def _too_large() -> HTTPException:
    return HTTPException(413, f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")


def _search(state: Served, name: str, data: bytes, k: int) -> dict:
    from indexer.picture import picture_format  # PyAV and Pillow: loaded on the first upload

    if picture_format(data[:12]) is not None:
        return _similar_to_picture(state, name, data, k)
    with tempfile.TemporaryDirectory(prefix="clipdex-upload-") as folder:  # mode 0700
        path = Path(folder) / "upload"
        path.write_bytes(data)
        del data
        return _similar_to_video(state, name, path, k)


def _similar_to_picture(state: Served, name: str, data: bytes, k: int) -> dict:
    from indexer.picture import PictureError, embed_picture
    from indexer.sampling import SamplingPlan

    query = {"name": name, "kind": "picture"}
    if state.library.settings is None:
        return {"query": query, "hits": []}
    try:
        with state.model_lock:
            encoder = state.encoder()
            plan = SamplingPlan.for_library(encoder, state.library.settings)
            embedding = embed_picture(data, encoder, plan, name=name)
    except PictureError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"query": query, "hits": _hits(state, embedding, k)}


def _similar_to_video(state: Served, name: str, path: Path, k: int) -> dict:
    from indexer.probe import probe
    from indexer.sampling import SamplingPlan
    from indexer.span_embedding import embed_span

    try:
        duration_s = probe(path).duration_s
    except VideoOpenError as exc:
        raise HTTPException(
            415, f"{name}: neither a picture (PNG, JPEG, WebP) nor a video ({exc.reason})"
        ) from exc
    end_s = min(duration_s, MAX_VIDEO_S) if duration_s and duration_s > 0 else None
    if state.library.settings is None:
        return {"query": {"name": name, "kind": "video"}, "hits": []}
    try:
        with state.model_lock:
            encoder = state.encoder()
            plan = SamplingPlan.for_library(encoder, state.library.settings)
            span = embed_span(path, encoder, plan, 0.0, end_s)
    except VideoOpenError as exc:
        raise HTTPException(422, f"{name}: {exc.reason}") from exc
    query = {
        "name": name,
        "kind": "video",
        "start": round(span.start_s, 3),
        "end": round(span.end_s, 3),
    }
    return {"query": query, "hits": _hits(state, span.embedding, k)}


def _hits(state: Served, embedding, k: int) -> list[dict]:
    return [hit.to_json() for hit in similar_to_embedding(state.library, embedding, k)]
