"""Query latency, recall and memory at 10k, 100k and 1M clips: ``python -m benchmarks.query``.

Per query, each stage of ``clipdex search`` is run for real and timed: the full-size text tower
on a text query (in the ONNX query model ``clipdex search`` runs, exported from the checkpoint
into the benchmark's library and loaded as the server loads it; ``--engine torch``: the torch
encoder a search falls back to), top-``depth`` search in the library's vector index (the kind
clipdex chooses for that size), fetching the candidates' re-rank features from a real SQLite
library (their embeddings from its vector index, as a search does), and the folded re-rank.
Latency is the per-query sum.

What is synthetic, and why: the text tower has random weights, so its output has no meaningful
geometry; the vectors searched are synthetic clip embeddings and out-of-distribution text
queries (benchmarks/synthetic.py, best cosine about 0.25, like real text-video scores). The
SQLite library holds ``--db-clips`` real rows (features at full size, as the library stores
them) and candidates are fetched from it by id, always from the page cache: benchmarks/real_db.py
measures a real-size library on disk, warm and cold. Recall@10 is against exact search (numpy,
float32).

``--transcripts LINES`` adds speech: the same library gets LINES transcript lines (drawn as in
benchmarks/transcript_search.py; 150k lines is about 100k clips of speech) and each query is
also timed as the fused search (``--source all``) runs it: the same visual stages, plus the
full-text search of the lines (its words: common, rare, a five-word sentence, a quoted phrase,
a rare word with two common ones, in turn), the candidates' span rows, and
``search.fusion.fuse`` (``fusion_before``: ``--baseline``'s ``fuse`` on the same input); the
fused figure sums the stages, as the search ran them before (words, then pictures). Then
benchmarks/fused.py times ``search_spans`` whole on the same texts: the fused search now (words
on a thread beside the pictures), at ``--baseline``, the visual search and the words alone.
Visual-only and fused figures come from the same queries in one run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import checkpoint, rss_mb, table, write
from benchmarks.synthetic import EmbeddingSpace

BASELINE = "c42044d"  # before the words were searched beside the pictures (search.beside)
QUERIES = [
    "a dog jumping into a lake",
    "people dancing at night",
    "a man riding a bike",
    "children playing football in the park",
    "a cat sleeping on a chair",
    "red car on a road",
    "a woman playing the guitar",
    "snow falling on trees",
    "a boat on the sea at sunset",
    "someone cooking spaghetti in a kitchen",
]


def build_db(folder: Path, encoder, clips: int, seed: int = 0):
    """A real library with ``clips`` stored clips (30 per video); returns it open."""
    from storage import repository as repo
    from storage.library import Library
    from tests.support.library import bind_settings

    library = Library.open(folder)
    library.bind(bind_settings(encoder))
    rng = np.random.default_rng(seed)
    tokens, dim = encoder.feature_tokens, encoder.embed_dim
    for video in range(0, clips, 30):
        records = [
            repo.ClipRecord(
                float(i * 10),
                float(i * 10 + 10),
                rng.standard_normal(dim).astype(np.float32),
                (0.5 * rng.standard_normal((tokens, dim))).astype(np.float32),
            )
            for i in range(min(30, clips - video))
        ]
        video_record = repo.VideoRecord(
            f"/archive/v{video}.mp4", 1, 1, f"fp{video}", 300.0, 30.0, 1280, 720, "h264"
        )
        with library.session() as session, session.begin():
            repo.save_indexed_video(video_record, records, session=session)
    return library


def exact_top(space: EmbeddingSpace, n: int, queries: np.ndarray, k: int) -> np.ndarray:
    """The exact top-k clip ids (1-based, as stored) by brute force over generated chunks."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    start = 0
    for chunk in space.clips(n):
        scores = queries @ chunk.T
        ids = np.arange(start + 1, start + 1 + len(chunk))[None, :].repeat(len(queries), 0)
        best_s = np.concatenate([best_s, scores], 1)
        best_i = np.concatenate([best_i, ids], 1)
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s = np.take_along_axis(best_s, keep, 1)
        best_i = np.take_along_axis(best_i, keep, 1)
        start += len(chunk)
    return best_i


def build_index(space: EmbeddingSpace, n: int, dim: int):
    from storage.vectors import VectorIndex

    index = VectorIndex(dim)
    start = 1
    for chunk in space.clips(n):
        index.add(np.arange(start, start + len(chunk)), chunk)
        start += len(chunk)
    return index


def time_search(index, queries: np.ndarray, depth: int) -> list[float]:
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None, :], depth)
        times.append(time.perf_counter() - t)
    return times


def speech_queries(vocabulary: list[str], stored: list[str]) -> list[str]:
    """The transcript side's queries, the kinds of benchmarks.transcript_search in turn."""
    from benchmarks.transcript_search import queries

    kinds = list(queries(vocabulary, stored).values())
    picked = []
    for i in range(200):
        kind = kinds[i % len(kinds)]
        picked.append(kind[i // len(kinds) % len(kind)])
    return picked


def run_size(
    n: int, args, encoder, library, db_ids: np.ndarray, spoken: list[str], old: dict | None
) -> dict:
    from search.fusion import fuse
    from search.hits import Hit, merge_top
    from search.text import initial_depth
    from storage import repository as repo
    from storage.transcripts import search_transcripts

    space = EmbeddingSpace(encoder.embed_dim)
    queries = space.queries(args.queries)
    t = time.perf_counter()
    index = build_index(space, n, encoder.embed_dim)
    flat_ms = np.median(time_search(index, queries[:5], args.depth)) * 1000
    index.fit_size()
    build_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "index.faiss")
        index_bytes = (Path(tmp) / "index.faiss").stat().st_size
    truth = exact_top(space, n, queries, 10)
    # As search uses it: the top 10 of the ``depth`` candidates asked for (the shortlist
    # re-scores depth * REFINE_FACTOR of them).
    _, found = index.search(queries, args.depth)
    found = found[:, :10]
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)]))
    rng = np.random.default_rng(n)
    # A search has loaded the library's own vector index (it searched it): the candidates'
    # embeddings come from there, only their features from the database.
    library.vectors()
    stages: dict[str, list[float]] = {"text": [], "vectors": [], "fetch": [], "rerank": []}
    speech: dict[str, list[float]] = {"transcripts": [], "fusion": [], "fusion_before": []}
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        text = encoder.encode_text(QUERIES[i % len(QUERIES)] + f" {i}")
        t1 = time.perf_counter()
        index.search(q[None, :], args.depth)
        t2 = time.perf_counter()
        ids = rng.choice(db_ids, args.depth, replace=False).tolist()
        inputs = library.clip_rerank_inputs(ids)  # embeddings from its index, as search
        t3 = time.perf_counter()
        feats = np.stack([inputs[j][0] for j in ids])
        scores = encoder.rerank(text, feats, np.stack([inputs[j][1] for j in ids]))
        t4 = time.perf_counter()
        for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[name].append(dt)
        if spoken:
            t5 = time.perf_counter()
            with library.session() as session:
                lines = search_transcripts(
                    spoken[i % len(spoken)], session=session, limit=initial_depth(10)
                )
            t6 = time.perf_counter()
            with library.session() as session:
                rows = repo.clip_hits(ids, session=session)
            order = np.argsort(-np.asarray(scores, dtype=np.float32).ravel())
            ranked = [
                Hit(j, rows[j].video_id, rows[j].path, rows[j].start_s, rows[j].end_s, s)
                for j, s in ((ids[o], float(np.ravel(scores)[o])) for o in order)
            ]
            shown = merge_top(ranked, 10)
            t7 = time.perf_counter()
            fuse(shown + ranked, len(shown), lines, 10)
            t8 = time.perf_counter()
            old["fusion"].fuse(shown + ranked, len(shown), lines)
            t9 = time.perf_counter()
            speech["transcripts"].append(t6 - t5)
            speech["fusion"].append(t8 - t7 + (t7 - t6))
            speech["fusion_before"].append(t9 - t8 + (t7 - t6))
    total = np.sum([stages[s] for s in stages], axis=0)
    whole = {}
    if spoken:
        from benchmarks.fused import time_fused

        texts = [spoken[i % len(spoken)] for i in range(args.queries)]
        whole = time_fused(library, index, args.db_clips, encoder, texts, old)
    rss, peak = rss_mb()
    del index
    return {
        "clips": n,
        "index_kind": "pq-shortlist" if n >= _threshold() else "flat",
        "build_s": round(build_s, 1),
        "flat_search_ms_p50": round(float(flat_ms), 1),
        "p50_ms": round(float(np.percentile(total, 50)) * 1000, 1),
        "p95_ms": round(float(np.percentile(total, 95)) * 1000, 1),
        "stage_p50_ms": {s: round(float(np.median(v)) * 1000, 1) for s, v in stages.items()},
        "recall_at_10": round(recall, 3),
        "best_cosine_median": round(float(np.median(_best_cosines(space, truth, queries))), 3),
        "rss_mb": round(rss),
        "peak_rss_mb": round(peak),
        "index_bytes_per_clip": round(index_bytes / n, 1),
    } | (_speech_figures(total, speech, whole) if spoken else {})


def _speech_figures(visual: np.ndarray, speech: dict[str, list[float]], whole: dict) -> dict:
    """The stages summed as they ran before (words, then pictures, then fusion), and each
    whole search of benchmarks.fused timed end to end."""
    summed = visual + np.array(speech["transcripts"]) + np.array(speech["fusion_before"])
    ms = {name: np.array(s) * 1000 for name, s in whole["seconds"].items()}
    unqueued = {name: np.array(s) * 1000 for name, s in whole["unqueued"].items()}
    cpu = {name: np.array(s) * 1000 for name, s in whole["cpu"].items()}
    return {
        "fused_p50_ms": round(float(np.percentile(summed, 50)) * 1000, 1),
        "fused_p95_ms": round(float(np.percentile(summed, 95)) * 1000, 1),
        "speech_stage_p50_ms": {s: round(float(np.median(v)) * 1000, 1) for s, v in speech.items()},
        "speech_stage_p95_ms": {
            s: round(float(np.percentile(v, 95)) * 1000, 1) for s, v in speech.items()
        },
        "search_spans_p50_ms": {n: round(float(np.median(v)), 1) for n, v in ms.items()},
        "search_spans_p95_ms": {n: round(float(np.percentile(v, 95)), 1) for n, v in ms.items()},
        "search_spans_unqueued_p50_ms": {
            n: round(float(np.median(v)), 1) for n, v in unqueued.items()
        },
        "search_spans_cpu_p50_ms": {n: round(float(np.median(v)), 1) for n, v in cpu.items()},
        "same_hits_before_and_now": f"{whole['same_hits']}/{whole['texts']}",
    }


def add_engine_argument(parser: argparse.ArgumentParser) -> None:
    """``--engine``: what a benchmark's searches run (``encoders``)."""
    parser.add_argument(
        "--engine",
        choices=["onnx", "torch"],
        default="onnx",
        help="the query model clipdex search runs (onnx), or the torch encoder it falls back to",
    )


def encoders(model: str, engine: str, quantize: str | None, folder: Path):
    """(the torch encoder that builds a benchmark's library, the encoder its searches run).

    With ``engine`` "onnx": the float32 encoder, and the ONNX query model exported from it
    into the library at ``folder`` (as clipdex index exports it) and loaded prepacked as the
    server loads it, its int8 text tower for ``quantize="int8"``. With "torch": the torch
    encoder quantized as asked, both."""
    from clipdex.encoder import XClipEncoder

    if engine == "torch":
        encoder = XClipEncoder(model, quantize=quantize)
        return encoder, encoder
    from clipdex.query_export import write_query_model
    from clipdex.query_model import QueryModel

    builder = XClipEncoder(model)
    exported = write_query_model(builder, folder, "benchmark")
    return builder, QueryModel(exported, prepack=True, quantize=quantize)


def _threshold() -> int:
    from storage import shortlist

    return shortlist.SHORTLIST_MIN_CLIPS


def _best_cosines(space: EmbeddingSpace, truth: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Each query's cosine with its exact nearest clip (how far out of distribution it is)."""
    need = int(truth[:, 0].max())
    data = np.concatenate(list(space.clips(need)))
    return np.sum(queries * data[truth[:, 0] - 1], axis=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--depth", type=int, default=100, help="re-rank candidates (k=10)")
    parser.add_argument("--db-clips", type=int, default=3000)
    parser.add_argument("--quantize", choices=["none", "int8"], default="none")
    add_engine_argument(parser)
    parser.add_argument("--transcripts", type=int, default=0, help="transcript lines [0: none]")
    parser.add_argument(
        "--baseline", default=BASELINE, help="git revision the fused search is compared with"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny model and sizes (CI)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        from storage import shortlist

        shortlist.SHORTLIST_MIN_CLIPS, shortlist.SHORTLIST_DROP_CLIPS = 1500, 750
        args.sizes, args.queries, args.db_clips = "600,2000", 6, 120
        args.depth = min(args.depth, 50)
    quantize = None if args.quantize == "none" else args.quantize
    model = str(checkpoint("tiny" if args.smoke else "base"))
    with tempfile.TemporaryDirectory() as tmp:
        builder, encoder = encoders(model, args.engine, quantize, Path(tmp))
        library = build_db(Path(tmp), builder, args.db_clips)
        encoder.encode_text("warm up")
        db_bytes = sum(p.stat().st_size for p in Path(tmp).glob("clipdex.db*"))
        spoken, old = [], None
        if args.transcripts:
            from benchmarks.baseline import baseline
            from benchmarks.transcript_search import build, made_up_words

            vocabulary = made_up_words(20_000)
            stored, _ = build(library, args.transcripts, vocabulary)
            spoken = speech_queries(vocabulary, stored)
            # The old repository imports the float16 helpers storage.codec had before revision
            # 0007 moved the features to storage.feature_codec.
            old = {
                name: baseline(
                    args.baseline,
                    f"{folder}/{name}.py",
                    f"baseline_{name}",
                    ("storage.codec",) if name == "repository" else (),
                )
                for folder, name in (
                    ("search", "fusion"),
                    ("storage", "repository"),
                    ("storage", "transcripts"),
                )
            }
        db_ids = np.arange(1, args.db_clips + 1)
        results = [
            run_size(int(n), args, encoder, library, db_ids, spoken, old)
            for n in args.sizes.split(",")
        ]
        library.close()
    db_per_clip = db_bytes / args.db_clips
    for r in results:
        r["db_bytes_per_clip"] = round(db_per_clip)
        r["disk_bytes_per_clip"] = round(db_per_clip + r["index_bytes_per_clip"])
    rows = [
        [
            f"{r['clips']:,}",
            r["index_kind"],
            f"{r['p50_ms']:.0f}",
            f"{r['p95_ms']:.0f}",
            " / ".join(f"{v:.0f}" for v in r["stage_p50_ms"].values()),
            f"{r['flat_search_ms_p50']:.0f}",
            f"{r['recall_at_10']:.3f}",
            f"{r['rss_mb']:,}",
            f"{r['disk_bytes_per_clip']:,}",
        ]
        for r in results
    ]
    if args.transcripts:
        print(f"with {args.transcripts:,} transcript lines (fused search, --source all):")
        for r in results:
            print(
                f"  {r['clips']:,} clips: visual p50/p95 {r['p50_ms']}/{r['p95_ms']} ms, "
                f"stages summed as before {r['fused_p50_ms']}/{r['fused_p95_ms']} ms "
                f"(stages p50 {r['speech_stage_p50_ms']})"
            )
            print(
                f"    whole searches p50 {r['search_spans_p50_ms']}, "
                f"p95 {r['search_spans_p95_ms']}, same hits {r['same_hits_before_and_now']}"
            )
            print(f"    less waits for a core, p50 {r['search_spans_unqueued_p50_ms']}")
            print(f"    CPU of all threads, p50 {r['search_spans_cpu_p50_ms']}")
    print(
        table(
            [
                "clips",
                "index",
                "p50 ms",
                "p95 ms",
                "text/vectors/fetch/rerank p50 ms",
                "exact scan ms",
                "recall@10",
                "RSS MB",
                "disk B/clip",
            ],
            rows,
        )
    )
    name = "query" if args.quantize == "none" else f"query-{args.quantize}"
    if args.engine == "torch":
        name += "-torch"
    if args.transcripts:
        name += "-speech"
    path = write(
        f"{name}-smoke" if args.smoke and not args.out else name,
        {
            "quantize": args.quantize,
            "engine": args.engine,
            "depth": args.depth,
            "queries": args.queries,
            "db_clips": args.db_clips,
            "transcript_lines": args.transcripts,
            "baseline_rev": args.baseline if args.transcripts else None,
            "threads": os.environ.get("CLIPDEX_THREADS", "auto"),
            "results": results,
        },
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
