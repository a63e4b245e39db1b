"""What a library holds, as ``clipdex status --json`` and the server's ``/api/status`` show it."""

from __future__ import annotations

from storage import frame_hashes as hash_repo
from storage import repository as repo
from storage import transcripts
from storage.library import Library


def library_status(library: Library) -> dict:
    """Model, counts, failed and partial files and generation; the database URL has its
    password masked. ``partial`` lists indexed files that could be read only in part, with the
    reason; they are counted in ``videos``. ``transcripts`` counts indexed videos by what their
    lines came from: ``speech`` recognised, ``subtitles`` (embedded or a sidecar file; a video
    with both kinds of lines counts in both), ``neither`` (no lines), and all ``lines``. ``needs_rehash`` counts indexed videos whose frame
    hashes are older than duplicate detection uses (``clipdex index --rehash``). ``audio_only``
    counts the indexed files without pictures (audio files, indexed for their speech; counted
    in ``videos`` too)."""
    settings = library.settings
    with library.session() as session:
        videos, clips, _ = repo.counts(session=session)
        audio_only = repo.count_audio_only(session=session)
        failed = [{"path": v.path, "error": v.error} for v in repo.failed_videos(session=session)]
        partial = [{"path": v.path, "error": v.error} for v in repo.partial_videos(session=session)]
        text = transcripts.transcript_counts(session=session)
        stale = len(hash_repo.videos_needing_rehash(session=session))
    info = {
        "library": str(library.folder),
        "database": library.engine.url.render_as_string(),  # password masked
        "model": settings.model_id if settings else None,
        "videos": videos,
        "audio_only": audio_only,
        "clips": clips,
        "failed": failed,
        "partial": partial,
        "generation": library.generation(),
        "needs_rehash": stale,
        "transcripts": {
            "speech": text.speech,
            "subtitles": text.subtitles,
            "neither": text.neither,
            "lines": text.lines,
        },
    }
    if settings:
        info["clip_seconds"] = {
            "min": round(settings.min_clip_s, 3),
            "max": round(settings.max_clip_s, 3),
        }
    return info
