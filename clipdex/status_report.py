"""What a library holds, as ``clipdex status --json`` and the server's ``/api/status`` show it."""

from __future__ import annotations

from storage import repository as repo
from storage.library import Library


def library_status(library: Library) -> dict:
    """Model, counts, failed files and generation; the database URL has its password masked."""
    settings = library.settings
    with library.session() as session:
        videos, clips, _ = repo.counts(session=session)
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
    return info
