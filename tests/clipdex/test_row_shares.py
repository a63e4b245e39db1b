"""RowShares: a row-wise computation split into contiguous shares run on threads."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from clipdex.row_shares import MIN_ROWS, RowShares


def test_shares_are_whole_runs_of_rows_concatenated_in_order():
    seen: list[tuple[int, int, str]] = []

    def doubled(rows: np.ndarray, more: np.ndarray) -> np.ndarray:
        seen.append((int(rows[0]), len(rows), threading.current_thread().name))
        time.sleep(0.05)  # long enough that the caller does not take every share itself
        return 2 * rows + more

    rows = np.arange(4 * MIN_ROWS + 5)
    result = RowShares(3).run(doubled, rows, np.ones_like(rows))
    np.testing.assert_array_equal(result, 2 * rows + 1)
    assert sorted(first for first, _, _ in seen) == [0, 44, 88]  # 133 rows: 44, 44 and 45
    assert sum(length for _, length, _ in seen) == len(rows)
    threads = {name for _, _, name in seen}
    # The caller takes a share; the pool's threads the others.
    assert threading.current_thread().name in threads and len(threads) >= 2


@pytest.mark.parametrize(
    ("workers", "rows", "shares"), [(1, 500, 1), (2, 63, 1), (2, 64, 2), (8, 100, 3)]
)
def test_no_share_is_smaller_than_min_rows(workers, rows, shares):
    assert RowShares(workers).shares(rows) == shares


def test_a_failing_share_raises_after_every_share_has_finished():
    finished: list[int] = []

    def fails_on_the_last(rows: np.ndarray) -> np.ndarray:
        if rows[-1] == 2 * MIN_ROWS - 1:
            raise ValueError("bad share")
        finished.append(len(rows))
        return rows

    with pytest.raises(ValueError, match="bad share"):
        RowShares(2).run(fails_on_the_last, np.arange(2 * MIN_ROWS))
    assert finished == [MIN_ROWS]


def test_the_encoders_rerank_scores_the_same_split_or_whole(xclip_checkpoint):
    from clipdex.encoder import XClipEncoder

    encoder = XClipEncoder(str(xclip_checkpoint), threads=2)
    rng = np.random.default_rng(5)
    shape = (3 * MIN_ROWS, encoder.feature_tokens, encoder.embed_dim)
    features = (0.5 * rng.standard_normal(shape)).astype(np.float16)
    video = rng.standard_normal((shape[0], encoder.embed_dim)).astype(np.float32)
    text = encoder.encode_text("a dog jumping into a lake")
    whole = [encoder.rerank(text, features[i : i + 1], video[i : i + 1]) for i in range(shape[0])]
    np.testing.assert_allclose(
        encoder.rerank(text, features, video), np.concatenate(whole), atol=1e-5, rtol=0
    )
