"""Cold fetch of 100 random clips' features, per storage layout: ``python -m benchmarks.cold_fetch``.

Reads the libraries benchmarks/real_db.py built and cached (``--clips``, one per ``--tags``;
the 0006 one built with ``PYTHONPATH`` at an older checkout) with plain sqlite3, so that only
the database's reads are timed: the page cache is dropped before each fetch (root only), a new
connection reads the schema, then one query fetches 100 random clips by id. For revision 0007
layouts it is timed with the embedding joined from ``clips`` (as the re-rank asks today) and
without it. Writes ``benchmarks/results/cold_fetch-<clips>.json``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import cache_dir, table, write

OLD = "SELECT id, features, embedding FROM clips WHERE id IN ({})"
JOINED = (
    "SELECT f.clip_id, f.data, c.embedding FROM clip_features f"
    " JOIN clips c ON c.id = f.clip_id WHERE f.clip_id IN ({})"
)
FEATURES = "SELECT clip_id, data FROM clip_features WHERE clip_id IN ({})"


def read_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def cold_fetches(db: Path, sql: str, clips: int, reps: int, wanted: int) -> dict:
    rng = np.random.default_rng(1)
    times, reads = [], []
    for _ in range(reps):
        ids = sorted(rng.choice(np.arange(1, clips + 1), wanted, replace=False).tolist())
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        connection = sqlite3.connect(db)
        connection.execute("SELECT count(*) FROM library").fetchone()
        before, start = read_bytes(), time.perf_counter()
        rows = connection.execute(sql.format(",".join(map(str, ids)))).fetchall()
        times.append(time.perf_counter() - start)
        reads.append(read_bytes() - before)
        connection.close()
        assert len(rows) == wanted
    ms = np.asarray(times) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "read_mb_p50": round(float(np.median(reads)) / 1e6, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6000)
    parser.add_argument("--tags", default="0006-main,0007-f16,0007-int8")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--ids", type=int, default=100, help="clips per fetch")
    parser.add_argument("--size", choices=["full", "tiny"], default="full", help="model size")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results = []
    for tag in args.tags.split(","):
        db = cache_dir() / f"real-db-{args.size}-{args.clips}-{tag}" / "clipdex.db"
        queries = (
            {"features and embedding": OLD}
            if tag.startswith("0006")
            else {
                "features and embedding": JOINED,
                "features only": FEATURES,
            }
        )
        for what, sql in queries.items():
            found = cold_fetches(db, sql, args.clips, args.reps, args.ids)
            results.append({"library": tag, "fetch": what, **found})
    rows = [
        [
            r["library"],
            r["fetch"],
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['read_mb_p50']:.2f}",
        ]
        for r in results
    ]
    print(table(["library", "fetch", "p50 ms", "p95 ms", "read MB"], rows))
    path = write(
        f"cold_fetch-{args.clips}",
        {"clips": args.clips, "reps": args.reps, "results": results},
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
