"""The transcript-search benchmark runs end to end on a tiny library (its own file, so the
benchmarks' smoke tests can grow side by side)."""

from __future__ import annotations

import json

from benchmarks import transcript_search


def test_transcript_search_benchmark_smoke(tmp_path, capsys) -> None:
    out = tmp_path / "transcripts.json"
    transcript_search.main(
        ["--lines", "400", "--vocabulary", "300", "--repeats", "1", "--out", str(out)]
        + ["--baseline", "none"]
    )
    payload = json.loads(out.read_text())
    assert payload["lines"] == 400 and payload["backend"] == "sqlite"
    results = {r["query"]: r for r in payload["results"]}
    assert set(results) == {
        "common word",
        "rare word",
        "five-word sentence",
        "quoted phrase",
        "rare + two common",
    }
    assert results["common word"]["mean_matches"] > results["rare word"]["mean_matches"]
    assert results["quoted phrase"]["mean_matches"] >= 1  # each phrase is taken from a line
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 for r in results.values())
    assert "lines returned" in capsys.readouterr().out
