"""What storing re-rank features as int8 costs a score: ``python -m benchmarks.feature_codec``.

The full-size architecture (random weights) re-ranks every (query, clip) pair three ways: with
the float32 features the video tower produced, with them stored by ``storage.feature_codec``
(int8 per token) and, for comparison, as float16 (the encoding before revision 0007). Clips are
the tower's own output for random pixels, plus synthetic stand-ins (``0.5 * N(0, 1)``, as
benchmarks/query.py stores) so that a wider spread of values is covered; queries are real text
through the text tower. Coarser grids (``--levels``: 31 is a 6-bit code, 15 a 5-bit one) are
simulated with the same rule, to show what fewer bytes per clip would cost.

Random weights make the re-rank chaotic: their prompt is about 100 times the text, and a
perturbation of 1e-4 of the features' spread already moves a score by about 5e-4, so even
float16 misses 2e-3 there. As benchmarks/deepening.py does, ``--shares`` also measures
stand-ins for trained weights, with the prompt generator's output scale (``alpha``) set so that
the prompt moves the text by that share of its length ("model": the weights as they are).
Writes ``benchmarks/results/feature_codec.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.machine import checkpoint, table, write
from benchmarks.query import QUERIES


def quantised(features: np.ndarray, levels: int) -> np.ndarray:
    """``features`` (n, tokens, dim) after symmetric per-token quantisation to ``levels``."""
    scales = np.abs(features).max(axis=2, keepdims=True) / levels
    safe = np.where(scales > 0, scales, 1)
    return (np.clip(np.rint(features / safe), -levels, levels) * scales).astype(np.float32)


def differences(encoder, texts, features, videos, variants) -> dict[str, dict[str, float]]:
    """Largest and median |score - float32 score| of each variant over every (text, clip)."""
    diffs: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    for text in texts:
        exact = encoder.rerank(text, features, videos)
        for name, stored in variants.items():
            diffs[name].append(np.abs(encoder.rerank(text, stored, videos) - exact))
    return {
        name: {"max": float(np.max(d)), "median": float(np.median(d))} for name, d in diffs.items()
    }


def scaled_alpha(encoder, share: str, text: np.ndarray, features: np.ndarray):
    """Set the generator's output scale so that the prompt share is ``share``; returns the
    original scale (to restore) and the share measured afterwards."""
    from benchmarks.deepening import prompt_share

    generator = encoder.model.prompts_generator
    original = generator.alpha.data.clone()
    if share != "model":
        generator.alpha.data *= float(share) / prompt_share(encoder, text, features)
    return original, prompt_share(encoder, text, features)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24, help="clips from the video tower")
    parser.add_argument("--synthetic", type=int, default=200, help="synthetic clips")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--levels", type=int, nargs="*", default=[31, 15])
    parser.add_argument("--shares", default="model,1.0,0.3,0.1")
    parser.add_argument("--smoke", action="store_true", help="the tiny model, for a quick check")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from clipdex.encoder import XClipEncoder
    from storage import feature_codec

    encoder = XClipEncoder(str(checkpoint("tiny" if args.smoke else "base")))
    rng = np.random.default_rng(0)
    tokens, dim, frames, size = (
        encoder.feature_tokens,
        encoder.embed_dim,
        encoder.frames_per_clip,
        encoder.image_size,
    )
    texts = [encoder.encode_text(f"{QUERIES[i % len(QUERIES)]} {i}") for i in range(args.queries)]
    sets = {}
    tower = [
        encoder.encode_clips(rng.standard_normal((4, frames, 3, size, size)).astype(np.float32))
        for _ in range(0, args.clips, 4)
    ]
    sets["video tower"] = (
        np.concatenate([f for _, f in tower]),
        np.concatenate([v for v, _ in tower]),
    )
    synthetic = (0.5 * rng.standard_normal((args.synthetic, tokens, dim))).astype(np.float32)
    sets["synthetic"] = (synthetic, rng.standard_normal((args.synthetic, dim)).astype(np.float32))
    rows, results = [], []
    for share in args.shares.split(","):
        for name, (features, videos) in sets.items():
            original, measured = scaled_alpha(encoder, share, texts[0], features[:16])
            variants = {
                encoding: feature_codec.decode_many(
                    [feature_codec.encode(f, encoding) for f in features], tokens, dim
                )
                for encoding in (feature_codec.INT8, feature_codec.FLOAT16)
            }
            variants.update({f"levels {n}": quantised(features, n) for n in args.levels})
            found = differences(encoder, texts, features, videos, variants)
            encoder.model.prompts_generator.alpha.data.copy_(original)
            pairs = len(texts) * len(features)
            results.append(
                {
                    "share": share,
                    "measured_share": measured,
                    "clips": name,
                    "pairs": pairs,
                    "abs_diff": found,
                }
            )
            rows += [
                [
                    share,
                    f"{measured:.3g}",
                    name,
                    variant,
                    str(pairs),
                    f"{d['max']:.2e}",
                    f"{d['median']:.1e}",
                ]
                for variant, d in found.items()
            ]
    headers = ["share", "measured", "clips", "stored as", "pairs", "max |diff|", "median |diff|"]
    print(table(headers, rows))
    sizes = {e: feature_codec.encoded_size(tokens, dim, e) for e in feature_codec.ENCODINGS}
    print(f"bytes per clip: {sizes}")
    path = write(
        "feature_codec-smoke" if args.smoke else "feature_codec",
        {
            "model": "tiny" if args.smoke else "full-size architecture, random weights",
            "tokens": tokens,
            "dim": dim,
            "bytes_per_clip": sizes,
            "results": results,
        },
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
