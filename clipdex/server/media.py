"""The file routes: a video's bytes (with HTTP Range) and a clip's thumbnail.

Files are found by id, never by a path from the client, and each is checked by
``security.safe_media_path`` on every request. Range handling is Starlette's ``FileResponse``:
206 with Content-Range for single and suffix ranges, ``multipart/byteranges`` for several
(overlaps merged), 416 past the end, and a header of more than 100 ranges is ignored (the whole
file is sent once), so one request cannot fan out into thousands of parts.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from clipdex.server import security
from clipdex.server.api import find_clip, find_video, not_found
from clipdex.server.state import Shared
from clipdex.server.thumbnails import ThumbnailError
from storage.models import STATUS_INDEXED, Video

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api")
MEDIA = "/videos/{video_id}/media"


def servable(video: Video) -> tuple[Path, os.stat_result]:
    """The real path and stat of an indexed video that may be served, else 404."""
    if video.status != STATUS_INDEXED:
        raise not_found("video")
    try:
        return security.safe_media_path(video.path)
    except security.UnsafeMediaError as exc:
        logger.warning("refusing to serve video %d: %s", video.id, exc)
        raise not_found("video") from exc


@router.get(MEDIA, summary="The video file, with HTTP Range support", response_class=FileResponse)
@router.head(MEDIA, include_in_schema=False, response_class=FileResponse)
def media(state: Shared, video_id: str) -> FileResponse:
    real, info = servable(find_video(state.library, video_id))
    kind = mimetypes.guess_type(real.name)[0] or "application/octet-stream"
    return FileResponse(real, media_type=kind, stat_result=info)


@router.get(
    "/clips/{clip_id}/thumbnail.jpg",
    summary="A JPEG, 320 px wide, of the frame at the clip's middle",
    response_class=FileResponse,
)
def thumbnail(state: Shared, clip_id: str) -> FileResponse:
    found = find_clip(state.library, clip_id)
    video = find_video(state.library, str(found.video_id))
    real, _ = servable(video)
    middle = (found.start_s + found.end_s) / 2
    try:
        jpeg = state.thumbnails.get(found.clip_id, video.mtime_ns, real, middle, video.rotation)
    except ThumbnailError as exc:
        logger.warning("no thumbnail for clip %d: %s", found.clip_id, exc)
        raise not_found("thumbnail") from exc
    return FileResponse(
        jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )
