"""Search on a real-size library on disk, page cache warm and cold: ``python -m benchmarks.real_db``.

Unlike benchmarks/query.py (synthetic vectors in FAISS, features fetched from a small database
that always sits in the page cache), this builds a library of ``--clips`` clips through the
storage layer as indexing does (``repository.save_indexed_video``, one transaction per video of
6 clips; full-size dimensions: 512-d embeddings, 49 x 512 features of ``0.5 * N(0, 1)``;
embeddings from benchmarks/synthetic.py), cached under ``~/.cache/clipdex-bench/real-db-*`` and
reused. Then, per query, each stage of a search is run for real and timed: the text tower, the
FAISS search (in memory), fetching the candidates' features and embeddings from the database,
the re-rank, and the hits (path and times of every candidate, merged into k = 10 spans).
"cold" drops the page cache before each query (``sync; echo 3 > /proc/sys/vm/drop_caches``:
root only; it also slows whatever else runs on the machine) and reconnects, as a fresh
``clipdex search`` would; "warm" runs the same queries twice more and times the second pass,
every page they need in the page cache.

It only uses storage calls that exist before and after revision 0007, so the same file run
with ``PYTHONPATH`` at an older checkout (``--tag``) measures the old layout.
Writes ``benchmarks/results/real_db-<clips>-<tag>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import cache_dir, checkpoint, table, write
from benchmarks.query import QUERIES, add_engine_argument, encoders
from benchmarks.synthetic import EmbeddingSpace

CLIPS_PER_VIDEO = 6
STAGES = ("text", "vectors", "fetch", "rerank", "hits")


def build(folder: Path, encoder, clips: int, videos_per_commit: int, encoding: str | None) -> dict:
    """The library at ``folder`` with ``clips`` clips, built once; returns how it was built."""
    marker = folder / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    from storage import repository as repo
    from storage.library import Library
    from tests.support.library import bind_settings

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    tokens, dim = encoder.feature_tokens, encoder.embed_dim
    embeddings = np.concatenate(list(EmbeddingSpace(dim).clips(clips)))
    start = time.perf_counter()
    with Library.open(folder) as library:
        settings = bind_settings(encoder)
        if encoding is not None:  # a field since revision 0007
            settings = dataclasses.replace(settings, feature_encoding=encoding)
        library.bind(settings)
        session = None
        for video, first in enumerate(range(0, clips, CLIPS_PER_VIDEO)):
            count = min(CLIPS_PER_VIDEO, clips - first)
            features = 0.5 * rng.standard_normal((count, tokens, dim), dtype=np.float32)
            records = [
                repo.ClipRecord(10.0 * i, 10.0 * i + 10.0, embeddings[first + i], features[i])
                for i in range(count)
            ]
            record = repo.VideoRecord(
                f"/archive/{video // 1000:04d}/v{video}.mp4",
                1,
                1,
                f"fp{video}",
                60.0,
                30.0,
                1280,
                720,
                "h264",
            )
            if session is None:
                session = library.session()
                session.begin()
            repo.save_indexed_video(record, records, session=session)
            if (video + 1) % videos_per_commit == 0:
                session.commit()
                session.close()
                session = None
            if video % 2000 == 0:
                print(f"  {first:,} clips, {time.perf_counter() - start:.0f} s", flush=True)
        if session is not None:
            session.commit()
            session.close()
        built_s = time.perf_counter() - start
        library.vectors()  # the FAISS cache, saved on close
    info = {"clips": clips, "build_s": round(built_s, 1), "videos_per_commit": videos_per_commit}
    marker.write_text(json.dumps(info))
    return info


def disk(folder: Path) -> dict:
    import sqlite3

    db = folder / "clipdex.db"
    with sqlite3.connect(db) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
    files = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
    return {"page_size": page_size, "free_pages": free, "files": files}


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def read_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def fetch_inputs(library, ids: list[int], fetch: str) -> dict:
    """The candidates' re-rank inputs, read as ``fetch`` says: "joined" reads every embedding
    from ``clips`` with the features (``repository.clip_rerank_inputs``, as the re-rank did
    before issue 16's change); "index" is ``Library.clip_rerank_inputs``, which takes the
    embeddings from the loaded vector index and reads only the features (since that change;
    in an older checkout it is the joined read)."""
    if fetch == "index":
        return library.clip_rerank_inputs(ids)
    from storage import repository as repo

    with library.session() as session:
        return repo.clip_rerank_inputs(ids, session=session)


def spans(library, ranked: list[tuple[int, float]], k: int, hits: str) -> list:
    """The top ``k`` merged spans: "all" reads every candidate's clip (``hits_for``) and then
    merges (as search did before issue 16's last change); "walk" reads them only as far as the
    merge goes (``search.hits.top_spans``, as ``search_text`` does since)."""
    from search.hits import hits_for, merge_top

    if hits == "walk":
        from search.hits import top_spans

        return top_spans(library, ranked, k)
    return merge_top(hits_for(library, ranked), k)


def percentiles(seconds) -> dict[str, float]:
    """p50, p95 and p99 of ``seconds``, in milliseconds."""
    ms = np.asarray(seconds) * 1000
    return {f"p{p}": round(float(np.percentile(ms, p)), 1) for p in (50, 95, 99)}


def query_text(i: int) -> str:
    """The text of query ``i`` (distinct per query, so no cache answers it)."""
    return f"{QUERIES[i % len(QUERIES)]} {i}"


def run(
    library, encoder, queries: np.ndarray, depth: int, k: int, cold: bool, ways: list[str]
) -> list[dict]:
    """One result per way (``FETCH:HITS``, see ``fetch_inputs`` and ``spans``), the ways taking
    turns query by query so that all see the same load; asserts that they re-rank to the same
    scores and the same spans."""
    index = library.vectors()
    stages = {w: {s: [] for s in STAGES} for w in ways}
    read: dict[str, list[int]] = {w: [] for w in ways}
    for i, q in enumerate(queries):
        outcomes = []
        for way in ways:
            fetch, hits_read = way.split(":")
            if cold:
                fresh_connection(library)
            t = [time.perf_counter()]
            text = encoder.encode_text(query_text(i))
            t.append(time.perf_counter())
            _, found = index.search(q[None, :], depth)
            ids = [int(j) for j in found[0] if j >= 0]
            t.append(time.perf_counter())
            before = read_bytes()
            inputs = fetch_inputs(library, ids, fetch)
            read[way].append(read_bytes() - before)
            t.append(time.perf_counter())
            ids = [j for j in ids if j in inputs]
            features = np.stack([inputs[j][0] for j in ids])
            scores = encoder.rerank(text, features, np.stack([inputs[j][1] for j in ids]))
            t.append(time.perf_counter())
            ranked = sorted(zip(ids, map(float, scores)), key=lambda pair: -pair[1])
            hits = spans(library, ranked, k, hits_read)
            t.append(time.perf_counter())
            assert len(hits) == k
            outcomes.append((np.asarray(scores).tobytes(), hits))
            for name, a, b in zip(STAGES, t, t[1:]):
                stages[way][name].append(b - a)
        assert all(o == outcomes[0] for o in outcomes), "the ways scored or merged differently"

    return [
        {
            "cache": "cold" if cold else "warm",
            "fetch": way.split(":")[0],
            "hits": way.split(":")[1],
            "total_ms": percentiles(np.sum([stages[way][s] for s in STAGES], axis=0)),
            "stage_ms": {s: percentiles(v) for s, v in stages[way].items()},
            "fetch_read_mb_p50": round(float(np.median(read[way])) / 1e6, 2),
            "same_results": len(ways) > 1,
        }
        for way in ways
    ]


def fresh_connection(library) -> None:
    """The page cache dropped and the library reconnected, as a new ``clipdex search`` finds it."""
    library.engine.dispose()
    drop_caches()
    with library.engine.connect() as connection:  # a new process connects first
        connection.exec_driver_sql("SELECT count(*) FROM library")


def bounded(library, encoder, count: int, k: int, cold: bool) -> dict:
    """Whole searches (``search.text.search_text``: the deepening rounds, their vector searches,
    fetches and re-ranks, then the hits), timed end to end per query: the weights decide how
    many rounds a query takes, and random weights take all of them (``MAX_ROUNDS``), so this
    is what the bound costs."""
    from benchmarks.deepening import CountingEncoder
    from search.text import SearchOptions, max_depth, search_text

    counting = CountingEncoder(encoder)
    times, candidates, rounds = [], [], []
    for i in range(count):
        if cold:
            fresh_connection(library)
        counting.rounds = []
        started = time.perf_counter()
        hits = search_text(library, counting, query_text(i), SearchOptions(k=k))
        times.append(time.perf_counter() - started)
        assert len(hits) == k
        candidates.append(sum(counting.rounds))
        rounds.append(len(counting.rounds))
    return {
        "cache": "cold" if cold else "warm",
        "search": "bounded",
        "total_ms": percentiles(times),
        "bound_candidates": max_depth(k),
        "candidates_max": int(max(candidates)),
        "candidates_p50": int(np.median(candidates)),
        "rounds_max": int(max(rounds)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--depth", type=int, default=100, help="re-rank candidates (k=10)")
    parser.add_argument("--quantize", choices=["none", "int8"], default="int8")
    add_engine_argument(parser)
    parser.add_argument("--videos-per-commit", type=int, default=1)
    parser.add_argument(
        "--feature-encoding", choices=["float16", "int8"], default=None, help="since 0007"
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=None,
        help="SQLite page size of a library built now (default: storage.library.PAGE_SIZE)",
    )
    parser.add_argument("--tag", default="0007", help="names the cached library and results")
    parser.add_argument("--no-cold", action="store_true", help="warm only (no root needed)")
    parser.add_argument(
        "--ways",
        default="index:walk",
        help="how each query reads, comma-separated FETCH:HITS, taking turns query by query. "
        "FETCH: 'index' (the embeddings from the vector index) or 'joined' (every embedding "
        "from the database); HITS: 'walk' (clips read as far as the merge goes) or 'all' "
        "(every candidate's clip). 'joined:all' is search before issue 16's last changes "
        "(and all an older checkout can run)",
    )
    parser.add_argument(
        "--bounded",
        action="store_true",
        help="also time whole searches with their deepening rounds (search_text), cold and warm",
    )
    parser.add_argument("--smoke", action="store_true", help="the tiny model, for a quick check")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from storage.library import Library

    quantize = None if args.quantize == "none" else args.quantize
    model = str(checkpoint("tiny" if args.smoke else "base"))
    exported = tempfile.TemporaryDirectory()  # the query model, apart from the cached library
    builder, encoder = encoders(model, args.engine, quantize, Path(exported.name))
    encoder.encode_text("warm up")
    if args.page_size is not None:  # read by each new connection: before the library is made
        import storage.library

        storage.library.PAGE_SIZE = args.page_size
    size = "tiny" if args.smoke else "full"
    folder = cache_dir() / f"real-db-{size}-{args.clips}-{args.tag}"
    built = build(folder, builder, args.clips, args.videos_per_commit, args.feature_encoding)
    layout = disk(folder)
    queries = EmbeddingSpace(encoder.embed_dim).queries(args.queries)
    ways = args.ways.split(",")
    results = []
    with Library.open(folder) as library:
        if not args.no_cold:
            results += run(library, encoder, queries, args.depth, 10, True, ways)
        run(library, encoder, queries, args.depth, 10, False, ways)  # brings every page in
        results += run(library, encoder, queries, args.depth, 10, False, ways)
        searches = []
        if args.bounded:
            if not args.no_cold:
                searches.append(bounded(library, encoder, args.queries, 10, True))
            bounded(library, encoder, args.queries, 10, False)  # brings every page in
            searches.append(bounded(library, encoder, args.queries, 10, False))
    db_bytes = sum(v for n, v in layout["files"].items() if n.startswith("clipdex.db"))
    rows = [
        [
            f"{r['cache']} {r['fetch']}:{r['hits']}",
            f"{r['total_ms']['p50']:.1f} / {r['total_ms']['p95']:.1f} / {r['total_ms']['p99']:.1f}",
            " / ".join(f"{r['stage_ms'][s]['p50']:.1f}" for s in STAGES),
            f"{r['stage_ms']['fetch']['p95']:.1f}",
            f"{r['fetch_read_mb_p50']:.2f}",
        ]
        for r in results
    ]
    print(
        f"{args.clips:,} clips ({args.tag}), page size {layout['page_size']}, "
        f"{db_bytes / args.clips:,.0f} database bytes per clip, built in {built['build_s']} s"
    )
    print(
        table(
            [
                "cache, way",
                "total p50/p95/p99 ms",
                "/".join(STAGES) + " p50 ms",
                "fetch p95 ms",
                "fetch read MB",
            ],
            rows,
        )
    )
    for r in searches:
        print(
            f"{r['cache']} whole search, bounded: {r['total_ms']['p50']:.1f} / "
            f"{r['total_ms']['p95']:.1f} / {r['total_ms']['p99']:.1f} ms p50/p95/p99, "
            f"at most {r['candidates_max']} of {r['bound_candidates']} candidates "
            f"in {r['rounds_max']} rounds"
        )
    path = write(
        f"real_db-{size}-{args.clips}-{args.tag}",
        {
            "clips": args.clips,
            "tag": args.tag,
            "depth": args.depth,
            "k": 10,
            "queries": args.queries,
            "quantize": args.quantize,
            "engine": args.engine,
            "feature_encoding": args.feature_encoding,
            "page_size": layout["page_size"],
            "threads": os.environ.get("CLIPDEX_THREADS", "auto"),
            "built": built,
            "disk": layout,
            "database_bytes_per_clip": round(db_bytes / args.clips),
            "results": results,
            "bounded": searches,
        },
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
