"""The speech model: faster-whisper (Whisper on CTranslate2), loaded from a name or a folder.

The one module that imports faster_whisper (the ``speech`` extra). Recognition runs in int8 on
the CPU with beam search (5) and faster-whisper's voice-activity filter (Silero VAD,
shipped with faster-whisper): silence is cut before the model sees it, which is both faster and
what stops Whisper from inventing words in quiet stretches (docs/speech.md has the figures).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from storage.transcript import SOURCE_SPEECH, TranscriptLine

if TYPE_CHECKING:  # the CLI imports this module for its error type: keep that import light
    import numpy as np

logger = logging.getLogger(__name__)

SPEECH_MODEL_ENV = "CLIPDEX_SPEECH_MODEL"
# Multilingual (an archive is rarely all English; the .en models turn other languages into
# English-sounding nonsense), about 2x tiny's cost for roughly a third fewer word errors in
# the Whisper paper; 145 MB. docs/speech.md compares the sizes.
DEFAULT_SPEECH_MODEL = "base"


class SpeechModelError(Exception):
    """The speech model could not be loaded; the message says how to get it."""


def _missing_message(name: str, reason: str) -> str:
    known = not _looks_like_path(name) and "/" not in name and " " not in name
    hub_id = f"Systran/faster-whisper-{name if known else DEFAULT_SPEECH_MODEL}"
    return (
        f"cannot load speech model {name!r}: {reason}. Install the speech extra "
        "(pip install -e '.[speech]') and download the model once where the Hugging Face hub "
        f"is reachable (`hf download {hub_id}`), or pass --speech-model /path/to/a/local/copy "
        f"({SPEECH_MODEL_ENV} works too)"
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name and Path(name).expanduser().exists()


# faster-whisper's ``transcribe`` settings clipdex uses (``benchmarks.decoding`` compares others).
DECODING: dict[str, object] = {
    # Beam search: on benchmarks.phrases' spoken files (espeak-ng voices, some under noise or
    # tones) beam 5 made a third fewer word errors than greedy decoding (WER 15 % against 22 %)
    # for 17-21 % more recognition time on short files, 8-33 % on a long recording
    # (benchmarks.decoding; docs/speech.md).
    "beam_size": 5,
    # Each 30 s window on its own: conditioning on the previous text is what lets Whisper loop
    # on a hallucinated sentence across a long recording.
    "condition_on_previous_text": False,
}


class WhisperRecognizer:
    """Recognises speech in 16 kHz mono float32 samples (``indexer.text_sources``' protocol).

    ``options``: faster-whisper ``transcribe`` keyword arguments over ``DECODING`` (benchmarks)."""

    def __init__(
        self, name: str, *, threads: int = 0, vad: bool = True, options: dict | None = None
    ) -> None:
        self.name = name
        self.vad = vad
        self.options = {**DECODING, **(options or {})}
        self._model = _load(name, threads)

    def transcribe(self, samples: np.ndarray) -> list[TranscriptLine]:
        segments, info = self._model.transcribe(samples, vad_filter=self.vad, **self.options)
        language = info.language or None
        lines = []
        for segment in segments:  # a generator: decoding happens here
            text = " ".join(segment.text.split())
            if text:
                end_s = max(float(segment.end), float(segment.start))
                lines.append(
                    TranscriptLine(float(segment.start), end_s, text, SOURCE_SPEECH, language)
                )
        return lines


# Loaded models by (name, threads): a process that indexes twice (tests, an embedding caller)
# loads a model once.
_LOADED: dict[tuple[str, int], object] = {}


def _load(name: str, threads: int):
    key = (name, threads)
    if key not in _LOADED:
        _LOADED[key] = _load_model(name, threads)
    return _LOADED[key]


def _load_model(name: str, threads: int):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise SpeechModelError(_missing_message(name, "faster-whisper is not installed")) from None
    folder = Path(name).expanduser()
    if _looks_like_path(name) and not folder.is_dir():
        raise SpeechModelError(_missing_message(name, "no such folder"))
    if folder.is_dir() and not (folder / "model.bin").is_file():
        raise SpeechModelError(
            _missing_message(name, "the folder holds no model.bin of a CTranslate2 Whisper model")
        )
    source = str(folder) if folder.is_dir() else name
    common = {"device": "cpu", "compute_type": "int8", "cpu_threads": threads}
    try:
        # The local cache first: offline, asking the hub would retry for a minute first.
        return WhisperModel(source, local_files_only=True, **common)
    except Exception as exc:  # noqa: BLE001 - not cached (or unreadable): try the hub below
        if folder.is_dir():
            raise SpeechModelError(
                f"cannot load speech model {name!r}: {type(exc).__name__}: {exc}"
            ) from exc
        logger.debug("speech model %s is not cached: %s", name, exc)
    try:
        return WhisperModel(source, **common)
    except ValueError as exc:  # an unknown size name
        reason = str(exc).split(",")[0].rstrip(".")  # "Invalid model size 'x'"
        raise SpeechModelError(
            f"cannot load speech model {name!r}: {reason}; give a faster-whisper size "
            f"(tiny, base, small, ... or tiny.en ...) or a folder, e.g. --speech-model "
            f"{DEFAULT_SPEECH_MODEL}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - offline, unknown repository, broken files
        reason = "it is not in the local Hugging Face cache and the hub cannot be reached"
        logger.debug("speech model load failed", exc_info=True)
        raise SpeechModelError(_missing_message(name, reason)) from exc
