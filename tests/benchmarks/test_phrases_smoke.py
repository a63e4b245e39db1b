"""The phrase-retrieval benchmark runs end to end on the smallest set: two spoken files (one
target, one distractor), indexed by ``clipdex index --speech`` with the real tiny.en model; the
recognition-settings benchmark transcribes one of them."""

from __future__ import annotations

import json

import pytest

from benchmarks import decoding, phrases
from tests.support.speech import need_tools


@pytest.mark.slow
def test_phrase_benchmark_smoke(tmp_path, capsys, xclip_checkpoint) -> None:
    need_tools()
    out = tmp_path / "phrases.json"
    arguments = ["--sentences", "2", "--xclip", str(xclip_checkpoint)]
    arguments += ["--keep", str(tmp_path / "set"), "--out", str(out)]
    phrases.main(arguments)
    payload = json.loads(out.read_text())
    assert (payload["files"], payload["spoken_files"], payload["queries"]) == (2, 2, 6)
    assert payload["indexed"] == 2 and payload["transcribed"] == 2
    assert 0.0 <= payload["wer"] < 0.5  # two clean sentences: tiny.en hears most words
    for source in ("speech", "all"):
        overall = payload["results"][source]["overall"]
        assert overall["queries"] == 6
        assert 0.0 <= overall["r_at_1"] <= overall["r_at_5"] <= overall["r_at_10"] <= 1.0
    # verbatim phrases of clean speech are found in the right file and at the right time
    assert payload["results"]["speech"]["by_kind"]["verbatim"]["r_at_5"] == 1.0
    # a second run on the kept set searches again without making or indexing anything
    phrases.main(arguments)
    again = json.loads(out.read_text())
    for source in ("speech", "all"):
        assert again["results"][source]["by_kind"] == payload["results"][source]["by_kind"]
    assert again["set_s"] == 0.0
    assert "R@1" in capsys.readouterr().out


def test_decoding_benchmark_smoke(tmp_path, capsys) -> None:
    need_tools()
    out = tmp_path / "decoding.json"
    arguments = ["--sentences", "2", "--files", "1", "--settings", "greedy,beam5"]
    decoding.main([*arguments, "--keep", str(tmp_path / "set"), "--out", str(out)])
    payload = json.loads(out.read_text())
    assert payload["spoken_files"] == 1 and payload["audio_s"] > 5
    results = payload["results"]
    assert [results[n]["options"]["beam_size"] for n in ("greedy", "beam5")] == [1, 5]
    assert all(0.0 <= r["wer"] < 0.5 and r["rtf"] > 0 for r in results.values())
    assert set(payload["heard"]["beam5"]) == {"t000.mp4"}
    assert "RTF" in capsys.readouterr().out
