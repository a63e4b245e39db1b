"""``clipdex index --speech`` and ``clipdex transcript`` end to end: real videos with speech made
by espeak-ng, the real tiny.en model (loaded once per session), the tiny X-CLIP checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from indexer.audio import read_audio
from storage import repository as repo
from storage import speech_settings, transcripts
from storage.library import Library
from tests.support.cli import run, run_json
from tests.support.speech import spoken_video, write_srt

SENTENCE = "The minister says inflation is falling."
CUES = [(0.5, 1.5, "a red balloon floats"), (2.0, 3.0, "over the harbour")]


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("speech-originals")
    srt = write_srt(folder / "cues.srt.txt", CUES)
    spoken = spoken_video(folder / "spoken.mp4", SENTENCE)
    broken = folder / "broken.mp4"
    # The same video with its audio packets corrupted by FFmpeg's noise filter (deterministic).
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(spoken), "-c", "copy"]
        + ["-bsf:a", "noise=amount=2", str(broken)],
        check=True,
    )
    return {
        "spoken": spoken,
        "subbed": spoken_video(folder / "subbed.mp4", None, subtitles=srt, colour="red"),
        "broken": broken,
    }


@pytest.fixture
def separate_passes(monkeypatch) -> list[Path]:
    """The files whose audio the driver decodes in a pass of its own (the real decoder runs):
    a file indexed now has its audio decoded in its pictures' pass, in the decode worker."""
    from indexer import text_sources

    calls: list[Path] = []

    def counted(path: Path, **kwargs):
        calls.append(Path(path))
        return read_audio(path, **kwargs)

    monkeypatch.setattr(text_sources, "read_audio", counted)
    return calls


def _lines(library_dir: Path, path: Path) -> list[tuple[str, str]]:
    result = run_json("transcript", path)
    return [(line["source"], line["text"]) for line in result["lines"]]


def _clip_ids(path: Path) -> list[int]:
    return [c["clip_id"] for c in run_json("clips", path)["clips"]]


def test_index_with_speech_then_copies_moves_and_sidecars_reuse_the_text(
    tmp_path: Path, library_dir: Path, originals, speech_model: Path, separate_passes
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    spoken = Path(shutil.copy(originals["spoken"], videos / "spoken.mp4"))
    subbed = Path(shutil.copy(originals["subbed"], videos / "subbed.mp4"))

    first = run_json("index", videos, "--speech", "--speech-model", speech_model)
    assert (first["indexed"], first["transcribed"], first["failed"]) == (2, 1, [])
    ((source, said),) = _lines(library_dir, spoken)
    assert source == "speech" and "inflation" in said.lower()
    assert separate_passes == []  # the audio came back from the decode worker's pass
    # Subtitles were there, so this one was not listened to (auto mode).
    assert _lines(library_dir, subbed) == [("subtitles", text) for _, _, text in CUES]
    srt = run("transcript", subbed, "--srt").stdout
    assert srt.startswith("1\n00:00:00,500 --> 00:00:01,500\na red balloon floats\n\n2\n")
    assert run("transcript", subbed, "--vtt").stdout.startswith("WEBVTT\n\n00:00:00.500 --> ")
    table = run("transcript", spoken).stdout
    assert "speech" in table and "inflation" in table.lower()

    with Library.open(library_dir) as library, library.session() as session:
        setting = speech_settings.speech_setting(session=session)
    assert (setting.mode, setting.model) == ("auto", str(speech_model))

    # An exact copy and a moved file: neither is listened to again, both say the same; the
    # library's remembered model is used without --speech-model.
    copy = Path(shutil.copy(spoken, videos / "copy.mp4"))
    (videos / "moved").mkdir()
    moved = subbed.rename(videos / "moved" / "subbed.mp4")
    second = run_json("index", videos)
    assert (second["indexed"], second["moved"], second["transcribed"]) == (1, 1, 0)
    assert _lines(library_dir, copy) == _lines(library_dir, spoken)
    assert [text for _, text in _lines(library_dir, moved)] == [text for _, _, text in CUES]

    # A sidecar that appears later changes the text, not the pictures.
    clips_before = _clip_ids(spoken)
    write_srt(videos / "spoken.en.srt", [(0.4, 3.2, "the minister speaks about prices")])
    third = run_json("index", videos)
    assert (third["indexed"], third["skipped"], third["transcribed"]) == (0, 3, 0)
    assert _clip_ids(spoken) == clips_before
    assert sorted(_lines(library_dir, spoken))[0] == ("sidecar", "the minister speaks about prices")
    assert {source for source, _ in _lines(library_dir, spoken)} == {"sidecar", "speech"}
    (videos / "spoken.en.srt").unlink()
    run_json("index", videos)
    assert [source for source, _ in _lines(library_dir, spoken)] == ["speech"]


def test_speech_turned_on_later_listens_without_embedding_again(
    tmp_path: Path, library_dir: Path, originals, speech_model: Path, separate_passes
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    spoken = Path(shutil.copy(originals["spoken"], videos / "spoken.mp4"))
    plain = run_json("index", videos)
    assert (plain["indexed"], plain["transcribed"]) == (1, 0)
    assert _lines(library_dir, spoken) == []
    clips_before = _clip_ids(spoken)

    later = run_json("index", videos, "--speech", "--speech-model", speech_model)
    assert (later["skipped"], later["transcribed"]) == (1, 1)
    assert _clip_ids(spoken) == clips_before
    assert [source for source, _ in _lines(library_dir, spoken)] == ["speech"]
    assert separate_passes == [spoken]  # no pictures to decode: the audio in a pass of its own
    again = run_json("index", videos)  # listened once: not again
    assert again["transcribed"] == 0


def test_a_broken_audio_track_is_a_note_and_the_pictures_are_indexed(
    tmp_path: Path, library_dir: Path, originals, speech_model: Path
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    broken = Path(shutil.copy(originals["broken"], videos / "broken.mp4"))
    result = run("index", videos, "--speech", "--speech-model", speech_model, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["indexed"], report["failed"], report["transcribed"]) == (1, [], 0)
    ((note),) = report["notes"]
    assert note["path"] == str(broken) and "audio failed to decode" in note["note"]
    assert _clip_ids(broken)
    assert f"note {broken}: audio failed to decode" in result.stderr


def test_a_speech_model_that_cannot_load_is_one_line_and_exit_2(tmp_path: Path, originals) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(originals["spoken"], videos / "spoken.mp4")
    result = run("index", videos, "--speech", "--speech-model", tmp_path / "no-model")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("clipdex: error: cannot load speech model")
    assert "--speech-model" in line and "hf download Systran/faster-whisper-" in line


def test_transcript_of_a_file_not_in_the_library_is_an_error(tmp_path: Path) -> None:
    result = run("transcript", tmp_path / "nothing.mp4")
    assert result.exit_code == 2 and "not in the library" in result.stderr


def test_speech_counts_on_postgresql(
    tmp_path: Path, postgres_url: str, monkeypatch, originals, speech_model: Path
) -> None:
    monkeypatch.setenv("CLIPDEX_DB_URL", postgres_url)
    videos = tmp_path / "videos"
    videos.mkdir()
    spoken = Path(shutil.copy(originals["spoken"], videos / "spoken.mp4"))
    report = run_json("index", videos, "--speech", "--speech-model", speech_model)
    assert (report["indexed"], report["transcribed"]) == (1, 1)
    with Library.open(tmp_path / "lib", db_url=postgres_url) as library:
        with library.session() as session:
            video = repo.get_video_by_path(str(spoken), session=session)
            (line,) = transcripts.transcript_of(video.id, session=session)
            assert video.speech_checked and "inflation" in line.text.lower()
            assert speech_settings.speech_setting(session=session).mode == "auto"
