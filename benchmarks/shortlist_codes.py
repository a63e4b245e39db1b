"""How fine the shortlist's codes must be to keep the exact top of the recall:
``python -m benchmarks.shortlist_codes [--clips N] [--queries Q] [--dims-per-code 8,4,2]``.

A real ``VectorIndex`` of ``--clips`` random isotropic unit vectors (512-d: nothing clusters, the
product quantiser's worst case) with a shortlist (``storage.shortlist.build``) of one 4-bit code
per ``--dims-per-code`` dimensions, searched one query at a time for search's usual 100
candidates (``k * REFINE_FACTOR`` shortlisted, then re-scored exactly) against the exact scan of
the same vectors. Reports, per code size, how many of the exact top 10 and top 100 the 100
candidates hold (mean and worst query), and the search's p50 / p95 ms; and the exact scan's p50.
FAISS runs on one thread, as a search of one query does (``storage.vectors``). Writes
``benchmarks/results/shortlist_codes-<clips>.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import table, write

DIM = 512
DEPTH = 100
BATCH = 100_000


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random isotropic unit vectors, float32, made in batches (1M at 512-d is 2 GB)."""
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, BATCH):
        rows = rng.standard_normal((min(BATCH, n - start), DIM)).astype(np.float32)
        out[start : start + len(rows)] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def timed_search(index, queries: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
    found, times = [], []
    for query in queries:
        start = time.perf_counter()
        _, ids = index.search(query, DEPTH)
        times.append((time.perf_counter() - start) * 1000)
        found.append(ids[0])
    return found, times


def main(argv: list[str] | None = None) -> None:
    import faiss

    from storage import shortlist
    from storage.vectors import VectorIndex, make_index

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--dims-per-code", default="8,4,2")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    vectors = unit_rows(rng, args.clips)
    queries = unit_rows(rng, args.queries)
    ids = np.arange(1, args.clips + 1, dtype=np.int64)
    stored = make_index(DIM, args.clips)
    stored.add_with_ids(vectors, ids)
    exact = VectorIndex(DIM, 0, stored)
    truth, exact_ms = timed_search(exact, queries)
    rows = []
    for dims in (int(d) for d in args.dims_per_code.split(",")):
        start = time.perf_counter()
        coded = shortlist.build(vectors, subvector_dims=dims)
        built_s = time.perf_counter() - start
        index = VectorIndex(DIM, 0, stored, coded)  # the same exact vectors beside it
        found, ms = timed_search(index, queries)
        top10 = [len(set(t[:10]) & set(f)) for t, f in zip(truth, found)]
        top100 = [len(set(t) & set(f)) for t, f in zip(truth, found)]
        rows.append(
            {
                "dims_per_code": dims,
                "bytes_per_clip": int(coded.code_size),
                "build_s": round(built_s, 1),
                "exact_top10_kept": {"mean": float(np.mean(top10)), "min": int(min(top10))},
                "exact_top100_kept": {"mean": float(np.mean(top100)), "min": int(min(top100))},
                "search_ms": {
                    "p50": round(float(np.median(ms)), 2),
                    "p95": round(float(np.percentile(ms, 95)), 2),
                },
            }
        )
    print(
        table(
            ["dims/code", "B/clip", "top10 kept (min)", "top100 kept (min)", "p50/p95 ms"],
            [
                [
                    str(r["dims_per_code"]),
                    str(r["bytes_per_clip"]),
                    f"{r['exact_top10_kept']['mean']:.2f} ({r['exact_top10_kept']['min']})",
                    f"{r['exact_top100_kept']['mean']:.1f} ({r['exact_top100_kept']['min']})",
                    f"{r['search_ms']['p50']} / {r['search_ms']['p95']}",
                ]
                for r in rows
            ],
        )
    )
    exact_p50 = round(float(np.median(exact_ms)), 2)
    print(f"exact scan: {exact_p50} ms p50 ({args.clips:,} clips, {args.queries} queries)")
    payload = {
        "clips": args.clips,
        "queries": args.queries,
        "depth": DEPTH,
        "refine_factor": shortlist.REFINE_FACTOR,
        "exact_scan_ms_p50": exact_p50,
        "results": rows,
    }
    print(f"wrote {write(f'shortlist_codes-{args.clips}', payload, args.out)}")


if __name__ == "__main__":
    main()
