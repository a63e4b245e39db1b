"""What the re-rank pays to take its candidates' embeddings from the vector index:
``python -m benchmarks.index_embeddings [--clips N] [--reps R]``.

Times ``VectorIndex.embeddings`` (FAISS ``reconstruct_batch`` through the id map) and
``storage.flat_index.FlatIndex.embeddings`` (a binary search of the saved ids, for a cold
search that reads the index without FAISS) for 100 to 2,000 random ids of a library of
``--clips`` clips (synthetic unit vectors, 512-d, ids 1..N as a library stores them), and
checks that each returns the added vectors bit for bit. Writes
``benchmarks/results/index_embeddings-<clips>.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import table, write

DIM = 512
IDS = (100, 400, 2000)


def timed(lookup, ids: np.ndarray, reps: int) -> float:
    """Median milliseconds of ``lookup(ids)``."""
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        lookup(ids)
        times.append(time.perf_counter() - start)
    return round(float(np.median(times)) * 1000, 3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from storage.flat_index import FlatIndex
    from storage.vectors import VectorIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.clips, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, args.clips + 1, dtype=np.int64)
    index = VectorIndex(DIM)
    index.add(ids, vectors)
    with tempfile.TemporaryDirectory() as folder:
        index.save(Path(folder) / "index.faiss")
        flat = FlatIndex.read(Path(folder) / "index.faiss")
    assert flat is not None
    start = time.perf_counter()
    flat.embeddings(ids[:1])  # the first call checks once that the ids are stored ascending
    first_ms = round((time.perf_counter() - start) * 1000, 3)
    results = []
    for n in IDS:
        wanted = np.sort(rng.choice(ids, min(n, args.clips), replace=False))
        for name, reader in (("VectorIndex (FAISS)", index), ("FlatIndex (numpy)", flat)):
            got = reader.embeddings(wanted)
            assert np.stack([got[int(i)] for i in wanted]).tobytes() == (
                vectors[wanted - 1].tobytes()
            )
            results.append(
                {
                    "reader": name,
                    "ids": int(n),
                    "ms_p50": timed(reader.embeddings, wanted, args.reps),
                }
            )
    print(
        table(
            ["reader", "ids", "ms p50"],
            [[r["reader"], str(r["ids"]), str(r["ms_p50"])] for r in results],
        )
    )
    print(f"FlatIndex's first call (the ids' order, once): {first_ms} ms")
    path = write(
        f"index_embeddings-{args.clips}",
        {
            "clips": args.clips,
            "dim": DIM,
            "reps": args.reps,
            "flat_first_call_ms": first_ms,
            "results": results,
        },
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
