"""Re-rank cost, folded vs the model's prompt generator: ``python -m benchmarks.rerank``.

Both score the same (query, candidates) with the full-size architecture; the table shows the
median time for 100 and 1000 candidates and the largest score difference (float rounding).
Three more columns time the folded re-rank as the search calls it, on the stored float16
features: widened by the encoder (torch) and, the code before, widened by numpy's ``astype``
first, both on one thread; and in shares side by side on every usable CPU (``RowShares``, what a
search does). ``--busy`` keeps one core busy with a spinning process meanwhile, as another job
would.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import checkpoint, table, write


def unfolded(encoder, text: np.ndarray, features: np.ndarray, videos: np.ndarray) -> np.ndarray:
    """``text + prompts_generator(text, features)`` exactly as ``XCLIPModel.forward`` runs it."""
    import torch

    from clipdex.encoder import QUERY_THREADS

    model = encoder.model
    threads = torch.get_num_threads()
    torch.set_num_threads(QUERY_THREADS)  # the same threads as the folded re-rank gets
    try:
        return _unfolded(model, text, features, videos)
    finally:
        torch.set_num_threads(threads)


def _unfolded(model, text: np.ndarray, features: np.ndarray, videos: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        feats = torch.from_numpy(features)
        query = torch.from_numpy(text).view(1, 1, -1).expand(len(features), 1, -1)
        conditioned = (query + model.prompts_generator(query, feats))[:, 0]
        conditioned = conditioned / conditioned.norm(dim=-1, keepdim=True)
        video = torch.from_numpy(videos)
        video = video / video.norm(dim=-1, keepdim=True)
        return (conditioned * video).sum(-1).numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--busy", action="store_true", help="a spinning process on one core")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        results = _measure(args)
    finally:
        if busy is not None:
            busy.kill()
    _report(args, results)


def _measure(args) -> list[dict]:
    from clipdex.encoder import XClipEncoder

    model = str(checkpoint("tiny" if args.smoke else "base"))
    shared = XClipEncoder(model)  # the re-rank in shares on every usable CPU, as searches run
    encoder = XClipEncoder(model, threads=1)  # the same on one thread
    rng = np.random.default_rng(0)
    dim, tokens = encoder.embed_dim, encoder.feature_tokens
    results = []
    for n in (100, 1000):
        feats = (0.5 * rng.standard_normal((n, tokens, dim))).astype(np.float16).astype(np.float32)
        videos = rng.standard_normal((n, dim)).astype(np.float32)
        text = rng.standard_normal(dim).astype(np.float32)
        half = feats.astype(np.float16)
        timings = {
            name: [] for name in ("folded", "unfolded", "float16", "numpy_widened", "shares")
        }
        for _ in range(args.repeats):
            for name, fn, given in (
                ("folded", encoder.rerank, feats),
                ("unfolded", lambda *a: unfolded(encoder, *a), feats),
                ("float16", encoder.rerank, half),
                ("numpy_widened", lambda t, f, v: encoder.rerank(t, f.astype(np.float32), v), half),
                ("shares", shared.rerank, half),
            ):
                start = time.perf_counter()
                scores = fn(text, given, videos)
                timings[name].append(time.perf_counter() - start)
        diff = float(
            np.abs(
                encoder.rerank(text, feats, videos) - unfolded(encoder, text, feats, videos)
            ).max()
        )
        folded_ms, unfolded_ms, half_ms, widened_ms, shares_ms = (
            float(np.median(timings[name])) * 1000
            for name in ("folded", "unfolded", "float16", "numpy_widened", "shares")
        )
        results.append(
            {
                "candidates": n,
                "folded_ms": round(folded_ms, 1),
                "unfolded_ms": round(unfolded_ms, 1),
                "speedup": round(unfolded_ms / folded_ms, 2),
                "max_abs_diff": diff,
                "float16_ms": round(half_ms, 1),
                "numpy_widened_ms": round(widened_ms, 1),
                "shares": shared.rerank_shares(n),
                "shares_ms": round(shares_ms, 1),
            }
        )
        del scores
    return results


def _report(args, results: list[dict]) -> None:
    print(
        table(
            [
                "candidates",
                "folded ms",
                "model's prompt generator ms",
                "speed-up",
                "max |diff|",
                "float16 in ms",
                "numpy-widened float16 ms",
                "in shares ms",
            ],
            [
                [
                    str(r["candidates"]),
                    f"{r['folded_ms']:.1f}",
                    f"{r['unfolded_ms']:.1f}",
                    f"{r['speedup']:.1f}x",
                    f"{r['max_abs_diff']:.1e}",
                    f"{r['float16_ms']:.1f}",
                    f"{r['numpy_widened_ms']:.1f}",
                    f"{r['shares_ms']:.1f} ({r['shares']})",
                ]
                for r in results
            ],
        )
    )
    name = "rerank-smoke" if args.smoke and not args.out else "rerank"
    path = write(name, {"busy_core": args.busy, "results": results}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
