"""What this machine's disk does for random reads: ``python -m benchmarks.disk_reads FILE``.

A cold search's time is mostly random reads of the library's pages (benchmarks/real_db.py), so
its figures depend on the disk as much as on clipdex. This reads random, aligned blocks of FILE
(a large file: the cached 1M-clip library, say) with ``O_DIRECT``, so that the page cache is
bypassed and nothing is read ahead, at several block sizes on one thread, and 64 KB blocks
(a 64 KB-page library's page) on 1 to 8 threads at once, to see whether reads in parallel go
faster. Prints reads per second, MB/s and the latency of one read (p50 / p99 / max), and writes
``benchmarks/results/disk_reads.json``. Linux only.
"""

from __future__ import annotations

import argparse
import mmap
import os
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import table, write

SIZES_KB = (4, 16, 64, 256)
THREADS = (1, 2, 4, 8)
PAGE = 64 * 1024


def _read_random(path: Path, block: int, count: int, seed: int, out: list[float]) -> None:
    """``count`` reads of ``block`` bytes at random aligned offsets; their seconds into ``out``."""
    blocks = path.stat().st_size // block
    rng = np.random.default_rng(seed)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    buffer = mmap.mmap(-1, block)  # page-aligned, as O_DIRECT wants
    try:
        for where in rng.integers(0, blocks, count):
            start = time.perf_counter()
            os.preadv(fd, [buffer], int(where) * block)
            out.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        buffer.close()


def measure(path: Path, block: int, threads: int, reads: int, seed: int) -> dict:
    """``reads`` random reads of ``block`` bytes, shared by ``threads`` threads at once."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    workers = [
        threading.Thread(
            target=_read_random,
            args=(path, block, reads // threads, seed + i, latencies[i]),
        )
        for i in range(threads)
    ]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    ms = np.concatenate([np.asarray(one) for one in latencies]) * 1000
    done = len(ms)
    return {
        "block_kb": block // 1024,
        "threads": threads,
        "reads": done,
        "reads_per_s": round(done / elapsed),
        "mb_per_s": round(done * block / elapsed / 1e6, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 3),
            "p99": round(float(np.percentile(ms, 99)), 3),
            "max": round(float(ms.max()), 2),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a large file on the disk to measure")
    parser.add_argument("--reads", type=int, default=800, help="reads per measurement")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.file.stat().st_size < 256 * 1024 * 1024:
        parser.error(f"{args.file}: under 256 MB; random reads of it would hit the disk's cache")
    results = [measure(args.file, kb * 1024, 1, args.reads, kb) for kb in SIZES_KB]
    results += [measure(args.file, PAGE, n, args.reads, 100 * n) for n in THREADS if n > 1]
    rows = [
        [
            f"{r['block_kb']} KB",
            str(r["threads"]),
            f"{r['reads_per_s']:,}",
            f"{r['mb_per_s']:.1f}",
            " / ".join(f"{r['latency_ms'][p]}" for p in ("p50", "p99", "max")),
        ]
        for r in results
    ]
    print(table(["block", "threads", "reads/s", "MB/s", "one read p50 / p99 / max ms"], rows))
    size = args.file.stat().st_size
    path = write("disk_reads", {"file_bytes": size, "results": results}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
