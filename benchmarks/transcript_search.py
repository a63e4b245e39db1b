"""Full-text search over transcript lines: ``python -m benchmarks.transcript_search``.

Times ``storage.transcripts.search_transcripts`` (what ``clipdex search`` runs for the words of
a query, with the fused search's depth of 100 lines) on a real library holding ``--lines``
transcript lines, on SQLite (FTS5, bm25) or on the PostgreSQL server at ``--db-url`` (GIN,
ts_rank_cd). 100k clips of 5 to 10 s are about 140 hours of video; speech at one line per 3.5
s is then about 150k lines, the default size.

What is synthetic, and why: the lines are drawn from a vocabulary of ``--vocabulary`` made-up
words with Zipf-distributed frequencies (as words in speech are), 4 to 14 words a line, so
common words match many lines and rare ones few, as they would. Queries: a common word, a rare
word, a five-word sentence (bare words, ranked by bm25 over every line that has any of them:
the costly case), a quoted three-word phrase taken from a stored line, and a rare word next to
two common ones.

``--baseline REV`` (default: the revision before common words were bounded) times that
revision's ``storage/transcripts.py`` and ``storage/fulltext.py`` on the same library in the same run, and counts how many
queries return the same lines in the same order. ``--postgres`` starts a throwaway PostgreSQL
server (tests/support/postgres.py) instead of using SQLite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.baseline import baseline
from benchmarks.machine import table, write

LIMIT = 100  # search.text.initial_depth(10): the lines the fused search reads for k = 10
BASELINE = "01aad7a"  # before common words were bounded (storage.transcripts.RANKED_LINES)


def made_up_words(n: int) -> list[str]:
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    rng = np.random.default_rng(1)
    words: set[str] = set()
    while len(words) < n:
        length = int(rng.integers(2, 5))
        words.add(
            "".join(rng.choice(list(consonants)) + rng.choice(list(vowels)) for _ in range(length))
        )
    return sorted(words)


def build(library, lines: int, vocabulary: list[str], seed: int = 0) -> tuple[list[str], float]:
    """Store ``lines`` lines over videos of 200 lines each; return a few stored lines and the
    seconds spent storing (the text is drawn beforehand)."""
    from storage import repository as repo
    from storage.transcript import TranscriptLine
    from storage.transcripts import replace_transcript
    from tests.storage.records import video_record

    rng = np.random.default_rng(seed)
    words = np.array(vocabulary)
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    lengths = rng.integers(4, 15, size=lines)
    drawn = rng.choice(len(words), size=int(lengths.sum()), p=weights / weights.sum())
    ends = np.cumsum(lengths)
    texts = [" ".join(words[drawn[end - n : end]]) for end, n in zip(ends, lengths)]
    stored_s = 0.0
    for video in range(0, lines, 200):
        part = texts[video : video + 200]
        start = time.perf_counter()
        with library.session() as session, session.begin():
            record = video_record(f"/bench/{video:08}.mp4")
            row = repo.save_indexed_video(record, [], session=session)
            replace_transcript(
                row.id,
                [TranscriptLine(3.5 * i, 3.5 * i + 3.0, t, "speech") for i, t in enumerate(part)],
                session=session,
            )
        stored_s += time.perf_counter() - start
    return texts[::200], stored_s


def queries(vocabulary: list[str], stored: list[str]) -> dict[str, list[str]]:
    rng = np.random.default_rng(2)
    common, rare = vocabulary[:20], vocabulary[-2000:]
    phrase = []
    for text in stored:
        words = text.split()
        phrase.append('"' + " ".join(words[:3]) + '"')
    return {
        "common word": list(common),
        "rare word": list(rng.choice(rare, size=20)),
        "five-word sentence": [" ".join(rng.choice(vocabulary[:3000], size=5)) for _ in range(20)],
        "quoted phrase": phrase[:20],
        "rare + two common": [
            f"{r} {a} {b}"
            for r, a, b in zip(
                rng.choice(rare, size=20), rng.choice(common, size=20), rng.choice(common, size=20)
            )
        ],
    }


def baseline_module(revision: str):
    """``storage/transcripts.py`` as it was at ``revision``, imported as its own module, with
    that revision's ``storage/fulltext.py`` (what a query means) under it."""
    import storage.fulltext

    fulltext = baseline(revision, "storage/fulltext.py", "baseline_fulltext")
    sys.modules["storage.fulltext"] = fulltext
    try:
        return baseline(revision, "storage/transcripts.py", "baseline_transcripts")
    finally:
        sys.modules["storage.fulltext"] = storage.fulltext


def time_queries(library, texts: list[str], repeats: int, searches: dict) -> dict:
    """{name: (latency summary, the lines each text found)} of each ``searches`` function
    (search_transcripts' signature) over ``texts``; the functions take turns on each text, so
    that a change of the machine's load falls on both alike."""
    times: dict = {name: [] for name in searches}
    found: dict = {name: [] for name in searches}
    lines: dict = {name: {} for name in searches}
    for _ in range(repeats):
        for text in texts:
            for name, search in searches.items():
                with library.session() as session:
                    start = time.perf_counter()
                    matches = search(text, session=session, limit=LIMIT)
                    times[name].append(time.perf_counter() - start)
                found[name].append(len(matches))
                lines[name][text] = [m.line_id for m in matches]
    result = {}
    for name in searches:
        ms = np.array(times[name]) * 1000
        summary = {
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "mean_matches": round(float(np.mean(found[name])), 1),
        }
        result[name] = (summary, [lines[name][text] for text in texts])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=150_000)
    parser.add_argument("--vocabulary", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db-url", default=None, help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL")
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare ['none']")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="ANALYZE the tables after building (PostgreSQL): time queries with the planner's "
        "statistics, not in the minute before autovacuum gathers them",
    )
    parser.add_argument(
        "--no-statistics",
        action="store_true",
        help="turn autovacuum off on the tables first (PostgreSQL): time queries as in the "
        "minute after a library is indexed, before autovacuum's ANALYZE",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    server = None
    if args.postgres:
        from tests.support.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        args.db_url = server.create_database()
    try:
        payload = run(args)
    finally:
        if server is not None:
            server.stop()
    name = f"transcript-search-{payload['backend']}"
    print(f"wrote {write(name, payload, args.out)}")


def run(args) -> dict:
    from storage import transcripts
    from storage.library import Library
    from tests.storage.records import small_settings

    old = None if args.baseline == "none" else baseline_module(args.baseline).search_transcripts
    vocabulary = made_up_words(args.vocabulary)
    with (
        tempfile.TemporaryDirectory() as folder,
        Library.open(Path(folder), db_url=args.db_url) as library,
    ):
        library.bind(small_settings())
        if args.no_statistics and library.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            with library.engine.begin() as connection:
                for name in ("transcript_lines", "videos"):
                    connection.execute(text(f"ALTER TABLE {name} SET (autovacuum_enabled = false)"))
        stored, build_s = build(library, args.lines, vocabulary)
        if args.analyze and library.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            with library.engine.begin() as connection:
                connection.execute(text("ANALYZE transcript_lines; ANALYZE videos"))
        results = []
        searches = {"now": transcripts.search_transcripts}
        if old is not None:
            searches["baseline"] = old
        for kind, texts in queries(vocabulary, stored).items():
            timed = time_queries(library, texts, args.repeats, searches)
            result, found = timed["now"]
            row = {"query": kind, **result}
            if old is not None:
                before, found_before = timed["baseline"]
                row["baseline"] = before
                row["same_lines"] = sum(a == b for a, b in zip(found, found_before))
                row["queries"] = len(texts)
            results.append(row)
        backend = library.engine.dialect.name
    headers = ["query", "p50 ms", "p95 ms", "lines returned"]
    if old is not None:
        headers += ["before p50", "before p95", "same lines"]
    rows = []
    for r in results:
        row = [r["query"], f"{r['p50_ms']}", f"{r['p95_ms']}", f"{r['mean_matches']}"]
        if old is not None:
            b = r["baseline"]
            row += [f"{b['p50_ms']}", f"{b['p95_ms']}", f"{r['same_lines']}/{r['queries']}"]
        rows.append(row)
    print(f"{args.lines} lines on {backend}, stored in {build_s:.1f} s")
    print(table(headers, rows))
    return {
        "lines": args.lines,
        "backend": backend,
        "build_s": round(build_s, 1),
        "analyzed": bool(args.analyze),
        "autovacuum": not args.no_statistics,
        "ranked_lines": transcripts.RANKED_LINES,
        "newest_lines": transcripts.NEWEST_LINES,
        "baseline_rev": args.baseline,
        "results": results,
    }


if __name__ == "__main__":
    main()
