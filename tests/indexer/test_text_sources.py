"""The text sources, on real files: sidecars (pysubs2), embedded subtitle streams and audio
(PyAV on files ffmpeg wrote), and speech recognised by the real tiny.en model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.audio import SAMPLE_RATE, read_audio
from indexer.file_stages import Streams
from indexer.probe import probe
from indexer.sidecars import find_sidecars, is_sidecar_of, read_sidecar
from indexer.subtitle_streams import read_subtitle_streams
from indexer.text_sources import SPEECH_ALWAYS, SPEECH_AUTO, SPEECH_OFF, TextReader
from indexer.text_stage import TextStage
from tests.support.speech import spoken_video, write_srt

CUES = [(0.5, 1.5, "a red <i>balloon</i> floats"), (2.0, 3.0, "over the harbour")]
SENTENCE = "The minister says inflation is falling."


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("text-media")
    srt = write_srt(folder / "cues.srt.txt", CUES)
    return {
        "spoken": spoken_video(folder / "spoken.mp4", SENTENCE),
        "mov_text": spoken_video(folder / "subbed.mp4", None, subtitles=srt),
        "ass": spoken_video(folder / "subbed.mkv", None, subtitles=srt, subtitle_codec="ass"),
    }


def test_sidecars_are_found_with_language_tags_and_read_as_plain_text(tmp_path: Path) -> None:
    video = tmp_path / "trip.mp4"
    video.write_bytes(b"")
    write_srt(tmp_path / "trip.en.srt", CUES)
    (tmp_path / "trip.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nBonjour\n")
    (tmp_path / "trip.commentary-track.srt").write_text("")  # not a language tag
    (tmp_path / "tripod.srt").write_text("")  # another video's
    found = find_sidecars(video)
    assert [(s.path.name, s.language) for s in found] == [("trip.en.srt", "en"), ("trip.vtt", None)]
    lines = read_sidecar(found[0])
    assert [(x.start_s, x.end_s, x.text, x.source) for x in lines] == [
        (0.5, 1.5, "a red balloon floats", "sidecar"),
        (2.0, 3.0, "over the harbour", "sidecar"),
    ]
    assert read_sidecar(found[1])[0].text == "Bonjour"
    assert is_sidecar_of(video, tmp_path / "trip.de.ass")
    assert not is_sidecar_of(video, tmp_path / "tripod.srt")


def test_a_sidecar_that_cannot_be_parsed_is_a_note_not_a_failure(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    (tmp_path / "clip.ass").write_bytes(b"\x00\xff garbage \x00" * 50)
    write_srt(tmp_path / "clip.fr.srt", [(1.0, 2.0, "bonjour")])
    notes: list[str] = []
    lines = TextReader(SPEECH_OFF).read_sidecars(video, notes)
    assert [x.text for x in lines] == ["bonjour"]
    assert len(notes) == 1 and "clip.ass" in notes[0]


@pytest.mark.parametrize("kind", ["mov_text", "ass"])
def test_embedded_text_subtitles_are_read_with_their_times(media, kind: str) -> None:
    result = read_subtitle_streams(media[kind])
    assert result.notes == []
    assert [x.text for x in result.lines] == ["a red balloon floats", "over the harbour"]
    assert all(x.source == "subtitles" for x in result.lines)
    # Times count from the video's first frame, like the clips' (Matroska shifts the
    # streams by the audio encoder's priming).
    assert [round(x.start_s, 1) for x in result.lines] == [0.5, 2.0]
    assert [round(x.end_s - x.start_s, 2) for x in result.lines] == [1.0, 1.0]


def test_audio_is_decoded_to_16_khz_mono_float32(media) -> None:
    track = read_audio(media["spoken"])
    assert track.error is None and not track.truncated
    audio = track.audio
    samples = audio.samples
    assert abs(audio.start_s) < 0.1
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size / SAMPLE_RATE - 4.0) < 0.1
    assert np.abs(samples[: SAMPLE_RATE // 4]).max() < 0.01  # the half-second lead is silent
    assert np.abs(samples).max() > 0.1


def test_a_file_without_audio_has_none(known_videos) -> None:
    track = read_audio(known_videos["red.mp4"].path)
    assert track.audio is None and track.error is None


def test_speech_is_recognised_only_where_the_mode_says(media, speech_recognizer) -> None:
    heard = TextReader(SPEECH_AUTO, speech_recognizer).read(media["spoken"])
    assert heard.transcribed and heard.speech_checked
    (line,) = heard.lines
    assert line.source == "speech" and line.language == "en"
    assert "inflation" in line.text.lower()
    # the VAD pads speech by up to 0.4 s: the sentence starts at 0.5 s and lasts about 2.5 s
    assert 0.0 <= line.start_s <= 1.0 and 2.5 <= line.end_s <= 4.0
    # auto: subtitles make recognition unnecessary; always: both
    subbed = TextReader(SPEECH_AUTO, speech_recognizer).read(media["mov_text"])
    assert not subbed.transcribed and {x.source for x in subbed.lines} == {"subtitles"}
    both = TextReader(SPEECH_ALWAYS, speech_recognizer).read(media["mov_text"])
    assert both.transcribed  # silence: VAD leaves nothing to say, but it was listened to
    assert {x.source for x in both.lines} == {"subtitles"}
    assert not TextReader(SPEECH_OFF).read(media["spoken"]).lines


def test_the_audio_is_decoded_with_the_pictures_only_where_speech_is_wanted(
    media, tmp_path: Path, speech_recognizer
) -> None:
    """What the indexer asks the pictures' pass for (``Streams``), from each file's probe."""
    spoken, subbed = probe(media["spoken"]), probe(media["mov_text"])
    assert (spoken.has_audio, spoken.text_subtitles) == (True, False)
    assert (subbed.has_audio, subbed.text_subtitles) == (True, True)
    auto = TextStage(TextReader(SPEECH_AUTO, speech_recognizer))
    always = TextStage(TextReader(SPEECH_ALWAYS, speech_recognizer))
    assert auto.streams(media["spoken"], spoken) == Streams(pictures=True, audio=True)
    assert auto.streams(media["mov_text"], subbed) == Streams(pictures=True, audio=False)
    assert always.streams(media["mov_text"], subbed).audio
    assert not TextStage().streams(media["spoken"], spoken).audio  # speech off
    # a sidecar makes listening unnecessary too
    beside = Path(shutil.copy(media["spoken"], tmp_path / "spoken.mp4"))
    write_srt(tmp_path / "spoken.srt", CUES)
    assert not auto.streams(beside, spoken).audio
