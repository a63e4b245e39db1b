"""The dedup benchmark's synthetic library holds the rows indexing writes, and the scan finds
its planted copies (the 100,000-clip run is ``python -m benchmarks.dedup --scan-only``)."""

from __future__ import annotations

import numpy as np

from benchmarks.dedup import synthetic_library
from search.dedup import find_duplicates
from search.hash_index import popcount64
from storage import frame_hashes as hash_repo
from storage import repository as repo


def test_the_synthetic_library_holds_what_indexing_stores_and_its_copies_are_found(
    tmp_path,
) -> None:
    library, truth = synthetic_library(tmp_path / "lib", 300, np.random.default_rng(0))
    try:
        with library.session() as session:
            assert repo.counts(session=session) == (30, 300, 0)
            stored = hash_repo.indexed_video_hashes(session=session)
            spans = hash_repo.clip_spans(session=session)
        assert truth.hashes == 30 * 100 and len(truth.copies) == 3
        assert {v.version for v in stored} == {hash_repo.CURRENT_HASH_VERSION}
        assert stored[0].hashes.shape == (100, len(hash_repo.REGION_NAMES))
        # A copy is its original with up to 4 bits changed per hash; other videos are random.
        original, copy = stored[8], stored[9]
        assert (original.video_id, copy.video_id) in truth.copies
        assert 0 < popcount64(original.hashes ^ copy.hashes).max() <= 4
        assert popcount64(stored[0].hashes ^ stored[1].hashes).mean() > 24
        assert [s.start_s for s in spans if s.video_id == copy.video_id] == [
            5.0 * i for i in range(10)
        ]
        report = find_duplicates(library)
    finally:
        library.close()
    found = {(m.a.video_id, m.b.video_id) for g in report.groups for m in g.matches}
    assert {tuple(sorted(pair)) for pair in found} == truth.copies and not report.segments
