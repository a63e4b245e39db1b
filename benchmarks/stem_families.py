"""Where SQLite's and PostgreSQL's English stems differ: ``python -m benchmarks.stem_families``.

Not a timing: a survey for docs/commands.md ("Stems differ by backend") and for the prefix rule
of ``storage.fulltext`` (a bare word finds the longer words that begin with its stem only when
that stem has ``PREFIX_MIN`` letters or more). The words are tiny.en's vocabulary (the
alphabetic word tokens of its ``tokenizer.json``, 4 letters or more, stop words aside), the
speech model the tests use. Each is stemmed by each backend itself (``storage.stems``): SQLite
FTS5's tokenizer (Porter) and PostgreSQL's ``english`` configuration (Snowball; a throwaway
server from tests/support/postgres.py).

It reports, per backend:
- how many vocabulary words all the words' queries find together, under the rule before
  (every word of 4 letters or more is a prefix) and now (only stems of ``PREFIX_MIN`` letters);
- by the length of the stem, how many words a prefix adds to the exact stem's family, and the
  share of those that begin with the query word itself (rain: rainfall; a rough sign of a
  related word, where died's di* adds diagnosed): what the threshold was chosen from;
- the words stemmed differently whose families still differ between the backends under the
  rule now, largest difference first (with the difference before, under the old rule).
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import statistics
from pathlib import Path

from benchmarks.machine import write


def vocabulary(model: Path) -> list[str]:
    from storage.fulltext import STOP_WORDS

    tokens = json.loads((model / "tokenizer.json").read_text())["model"]["vocab"]
    words = {t[1:].lower() for t in tokens if t.startswith("Ġ")}
    return sorted({w for w in words if re.fullmatch(r"[a-z]{4,}", w)} - STOP_WORDS)


def snowball_stems(words: list[str]) -> dict[str, str]:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    import storage.stems
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        engine = create_engine(server.create_database())
        with Session(engine) as session:
            stems = storage.stems.snowball_stems(words, session=session)
        engine.dispose()
        return stems
    finally:
        server.stop()


class Families:
    """The words of the vocabulary each backend's query of a word finds."""

    def __init__(self, stems: dict[str, str]) -> None:
        self.stems = stems
        self.keys = sorted((stem, w) for w, stem in stems.items())
        self.starts = [stem for stem, _ in self.keys]

    def find(self, word: str, prefix: bool) -> set[str]:
        """The words whose stem is ``word``'s (``prefix``: begins with it)."""
        stem = self.stems[word]
        found, i = set(), bisect.bisect_left(self.starts, stem)
        while i < len(self.keys) and (
            self.starts[i].startswith(stem) if prefix else self.starts[i] == stem
        ):
            found.add(self.keys[i][1])
            i += 1
        return found

    def now(self, word: str, prefix_min: int) -> set[str]:
        """What the rule finds: a prefix query when the stem has ``prefix_min`` letters."""
        return self.find(word, len(self.stems[word]) >= prefix_min)


def by_stem_length(families: Families, words: list[str]) -> list[dict]:
    """What a prefix adds to the exact family, by the stem's length (6 stands for 6 or more)."""
    added: dict[int, list[int]] = {}
    related: dict[int, list[int]] = {}
    for word in words:
        length = min(len(families.stems[word]), 6)
        extra = families.find(word, True) - families.find(word, False)
        added.setdefault(length, []).append(len(extra))
        related.setdefault(length, []).append(sum(w.startswith(word) for w in extra))
    return [
        {
            "stem_letters": f"{length}+" if length == 6 else str(length),
            "words": len(added[length]),
            "prefix_adds_mean": round(statistics.fmean(added[length]), 2),
            "prefix_adds_median": statistics.median(added[length]),
            "prefix_adds_max": max(added[length]),
            "added_begin_with_the_word": round(
                sum(related[length]) / max(1, sum(added[length])), 3
            ),
        }
        for length in sorted(added)
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=20, help="words to print")
    parser.add_argument("--keep", type=int, default=150, help="words written to the results")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--examples",
        default="died,inning,paying,relative,trying,news,rain,snow",
        help="comma-separated words whose families on both backends are written in full",
    )
    args = parser.parse_args(argv)

    from storage.fulltext import PREFIX_MIN
    from storage.stems import porter_stems
    from tests.support.speech import tiny_en_model

    words = vocabulary(tiny_en_model())
    porter, snowball = Families(porter_stems(words)), Families(snowball_stems(words))
    backends = {}
    for name, families in (("sqlite", porter), ("postgresql", snowball)):
        short = [w for w in words if len(families.stems[w]) < PREFIX_MIN]
        backends[name] = {
            "words_with_a_short_stem": len(short),
            "found_before": sum(len(families.find(w, True)) for w in words),
            "found_now": sum(len(families.now(w, PREFIX_MIN)) for w in words),
            "found_before_by_short_stems": sum(len(families.find(w, True)) for w in short),
            "found_now_by_short_stems": sum(len(families.find(w, False)) for w in short),
            "by_stem_length": by_stem_length(families, words),
        }
        print(f"{name}: {json.dumps({k: v for k, v in backends[name].items() if k[0] != 'b'})}")
        for row in backends[name]["by_stem_length"]:
            print(f"  {row}")
    differ = []
    for word in (w for w in words if porter.stems[w] != snowball.stems[w]):
        before = porter.find(word, True) ^ snowball.find(word, True)
        sqlite_only = porter.now(word, PREFIX_MIN) - snowball.now(word, PREFIX_MIN)
        postgres_only = snowball.now(word, PREFIX_MIN) - porter.now(word, PREFIX_MIN)
        differ.append(
            {
                "word": word,
                "porter": porter.stems[word],
                "snowball": snowball.stems[word],
                "differ": len(sqlite_only) + len(postgres_only),
                "differ_before": len(before),
                "sqlite_only": sorted(sqlite_only)[:8],
                "postgresql_only": sorted(postgres_only)[:8],
            }
        )
    differ.sort(key=lambda d: (-d["differ"], d["word"]))
    print(f"{len(words)} words, {len(differ)} stemmed differently")
    for d in differ[: args.show]:
        print(
            f"{d['word']}: porter {d['porter']!r}, snowball {d['snowball']!r}, "
            f"{d['differ']} words differ (before {d['differ_before']}); "
            f"SQLite only {d['sqlite_only'][:4]}, PostgreSQL only {d['postgresql_only'][:4]}"
        )
    examples = {
        word: {
            "porter": porter.stems[word],
            "snowball": snowball.stems[word],
            "sqlite": sorted(porter.now(word, PREFIX_MIN))[:40],
            "postgresql": sorted(snowball.now(word, PREFIX_MIN))[:40],
        }
        for word in args.examples.split(",")
        if word in porter.stems
    }
    for word, example in examples.items():
        print(f"{word}: {example}")
    differ_before = sum(d["differ_before"] for d in differ)
    differ_now = sum(d["differ"] for d in differ)
    print(f"the families of these words differ by {differ_before} words before, {differ_now} now")
    payload = {
        "words": len(words),
        "prefix_min": PREFIX_MIN,
        "backends": backends,
        "stemmed_differently": len(differ),
        "differ_before": differ_before,
        "differ_now": differ_now,
        "examples": examples,
        "differences": differ[: args.keep],
    }
    print(f"wrote {write('stem-families', payload, args.out)}")


if __name__ == "__main__":
    main()
