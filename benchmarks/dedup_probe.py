"""One side of ``benchmarks/dedup.py``'s before/after comparison, run in its own process.

    python benchmarks/dedup_probe.py SET_FOLDER LIBRARY_DIR CHECKPOINT
    python benchmarks/dedup_probe.py --scan WORK_DIR CLIPS...
    python benchmarks/dedup_probe.py --report LIBRARY_DIR

Indexes ``SET_FOLDER`` with whichever clipdex is first on ``PYTHONPATH`` (today's tree, or the
baseline tree that ``benchmarks/dedup.py`` extracts with ``git archive``), runs the duplicate
scan and prints one JSON object: the report, indexing and scan seconds, the bytes of frame
hashes stored per hour of video, and the hashing cost per hour of video beside the decoding
itself: ``decode_s_per_hour`` (the decoder alone), ``pictures_s_per_hour`` (reading the grey
picture and the small RGB one of each hashed frame, the hasher's input) and
``hash_s_per_hour`` (the hasher, inset searches included). Only APIs that both versions share are used.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

_COLOUR = False


def _hashing_cost(folder: Path) -> dict:
    global _COLOUR
    from indexer.frames import Frame

    _COLOUR = hasattr(Frame, "small_upright")
    from indexer.framehash import FrameHasher
    from indexer.frames import decode_frames

    decode_s = pictures_s = hash_s = video_s = 0.0
    for path in sorted(folder.glob("*.mp4")):
        hasher = FrameHasher()
        frames = decode_frames(path, 224)
        last = 0.0
        while True:
            started = time.perf_counter()
            frame = next(frames, None)
            decode_s += time.perf_counter() - started
            if frame is None:
                break
            started = time.perf_counter()
            gray = frame.gray if hasher.wants(frame.time_s) else None
            # The shot detector's small RGB picture (read by indexing anyway) feeds the colour
            # hash where the tree has one.
            extra = (frame.small_upright,) if gray is not None and _COLOUR else ()
            pictures_s += time.perf_counter() - started
            if gray is not None:
                started = time.perf_counter()
                hasher(frame.time_s, gray, *extra)
                hash_s += time.perf_counter() - started
            last = frame.time_s
        started = time.perf_counter()
        _ = hasher.result  # the last window's inset search
        hash_s += time.perf_counter() - started
        video_s += last
    hours = video_s / 3600
    return {
        "video_s": round(video_s, 2),
        "decode_s_per_hour": round(decode_s / hours, 1),
        "pictures_s_per_hour": round(pictures_s / hours, 2),
        "hash_s_per_hour": round(hash_s / hours, 2),
    }


def _scan_times(work: Path, sizes: list[int]) -> list[dict]:
    """``benchmarks/dedup.py``'s synthetic scan, loaded from this file's tree by path (the
    baseline tree has a ``benchmarks.dedup`` of its own first on the path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "dedup_bench", Path(__file__).with_name("dedup.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["dedup_bench"] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module.scan_times(work, sizes)


def _report(library_dir: Path) -> dict:
    """The scan of a library indexed already (``benchmarks/dedup.py --planted-in``)."""
    from search.dedup import find_duplicates
    from storage.library import Library

    library = Library.open(library_dir)
    try:
        started = time.perf_counter()
        report = find_duplicates(library)
        scan_s = time.perf_counter() - started
    finally:
        library.close()
    return {
        "scan_s": round(scan_s, 3),
        "frame_pairs": report.frame_pairs,
        "report": report.to_json(),
    }


def main() -> None:
    if sys.argv[1] == "--scan":
        work, sizes = Path(sys.argv[2]), [int(s) for s in sys.argv[3:]]
        print(json.dumps({"scaling": _scan_times(work, sizes)}))
        return
    if sys.argv[1] == "--report":
        print(json.dumps(_report(Path(sys.argv[2]))))
        return
    folder, library_dir, checkpoint = (Path(a) for a in sys.argv[1:4])
    from sqlalchemy import text

    from clipdex.encoder import XClipEncoder
    from indexer.pipeline import Indexer
    from search.dedup import find_duplicates
    from storage.library import Library
    from tests.support.library import bind_settings

    encoder = XClipEncoder(str(checkpoint))
    library = Library.open(library_dir)
    settings = library.bind(bind_settings(encoder))
    started = time.perf_counter()
    indexed = Indexer(library, encoder, settings).run([folder])
    index_s = time.perf_counter() - started
    started = time.perf_counter()
    report = find_duplicates(library)
    scan_s = time.perf_counter() - started
    with library.session() as session:
        stored = session.execute(
            text(
                "select sum(length(times) + length(hashes) + length(informative)), "
                "(select sum(duration_s) from videos where status = 'indexed') from frame_hashes"
            )
        ).one()
    library.close()
    result = {
        "videos": indexed.indexed,
        "index_s": round(index_s, 2),
        "scan_s": round(scan_s, 4),
        "hash_bytes_per_hour": round(stored[0] / (stored[1] / 3600)),
        "hashing": _hashing_cost(folder),
        "report": report.to_json(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
