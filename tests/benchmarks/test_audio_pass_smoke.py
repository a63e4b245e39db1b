"""The audio-pass benchmark runs end to end on a two-second file."""

from __future__ import annotations

import json

from benchmarks import audio_pass


def test_audio_pass_benchmark_smoke(tmp_path, capsys) -> None:
    out = tmp_path / "audio-pass.json"
    audio_pass.main(["--seconds", "2", "--repeats", "1", "--out", str(out)])
    payload = json.loads(out.read_text())
    assert set(payload["runs"]) == {"pictures", "pictures+audio", "audio alone"}
    assert all(run["cpu_s"] > 0 and run["wall_s"] > 0 for run in payload["runs"].values())
    assert payload["audio_cpu_s_alone"] > 0
    assert "per second of media" in capsys.readouterr().out
