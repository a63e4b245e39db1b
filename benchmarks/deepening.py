"""Bounded re-rank deepening against an exhaustive re-rank: ``python -m benchmarks.deepening``.

Text search re-ranks only the best candidates of stage one (FAISS, the unconditioned text) and
deepens while its stopping estimate says a clip further down could still enter the top k, at
most ``search.text.MAX_ROUNDS`` rounds (``max_depth(k)`` candidates: 200 for k = 10). Here a real
library of ``--clips`` synthetic clips (random video embeddings and features at the model's full
size, float16 in SQLite, as benchmarks/query.py writes them) is searched with ``search_text``,
and each query's top k spans are compared with those of an exhaustive re-rank of *every* clip
(the ground truth), per "prompt share": how far the prompt generator moves the text,
``|prompts_generator(t, F)| / |t|``, averaged over clips.

- ``model``: the checkpoint's weights as they are. With random weights the prompt swamps the text
  (share about 100): the re-rank is uncorrelated with recall, so no bounded depth can find the
  exhaustive top k in a large library; this row shows what the bound costs then.
- ``1.0``, ``0.3``, ``0.1``: the same model with the generator's output scale (``alpha``) set so
  that the share is that value, stand-ins for trained weights, whose prompts refine the text
  rather than replace it (their share is not measured here: the machine cannot fetch the
  checkpoint; ``--model DIR --shares model`` measures a real one).

Reported first: how many of the clips with the best exact recall scores the vector index
returns among a search's first candidates (``first_stage``; a clip it never returns can't be
re-ranked, at any depth). Then, per share and per bound on the rounds (``--rounds``; search's default is
``MAX_ROUNDS``): how many queries' top k equal the exhaustive one (spans and their order), the
candidates re-ranked per query (maximum against the bound), and the bounded search's latency
(warm, in process; the exhaustive pass fetches every clip's features once for all queries).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import checkpoint, table, write

NOUNS = ["a dog", "a child", "an old man", "a red car", "two cats", "a horse", "a band", "a cook"]
PLACES = ["on a beach", "in the snow", "at night", "in a kitchen", "on a bridge"]
CHUNK = 1000  # clips whose features are fetched and re-ranked at once by the exhaustive pass


class CountingEncoder:
    """The real encoder, counting the candidates each re-rank round scores."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.rounds: list[int] = []

    def encode_text(self, text: str) -> np.ndarray:
        return self.encoder.encode_text(text)

    def rerank(self, text, features, video_embeddings) -> np.ndarray:
        self.rounds.append(len(features))
        return self.encoder.rerank(text, features, video_embeddings)


def queries(n: int) -> list[str]:
    return [
        f"{NOUNS[i % len(NOUNS)]} {PLACES[(i // len(NOUNS)) % len(PLACES)]} {i}" for i in range(n)
    ]


def prompt_share(encoder, text: np.ndarray, features: np.ndarray) -> float:
    """Mean ``|prompts_generator(text, F)| / |text|`` over the clips of ``features``."""
    import torch

    generator = encoder.model.prompts_generator
    with torch.inference_mode():
        t = torch.from_numpy(text).view(1, 1, -1).expand(len(features), 1, -1)
        delta = generator(t, torch.from_numpy(features.astype(np.float32)))[:, 0]
    return float((delta.norm(dim=-1) / t[:, 0].norm(dim=-1)).mean())


def exhaustive(library, encoder, texts: list[np.ndarray], ids: list[int]) -> np.ndarray:
    """Every clip's re-ranked score per text: ``(len(texts), len(ids))``, clips fetched once."""
    from storage import repository as repo

    scores = np.zeros((len(texts), len(ids)), dtype=np.float32)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with library.session() as session:
            inputs = repo.clip_rerank_inputs(chunk, session=session)
        features = np.stack([inputs[i][0] for i in chunk]).astype(np.float32)
        videos = np.stack([inputs[i][1] for i in chunk])
        for row, text in enumerate(texts):
            scores[row, start : start + len(chunk)] = encoder.rerank(text, features, videos)
    return scores


def first_stage(
    library, encoder, names: list[str], k: int, refine_factors: list[int | None]
) -> list[dict]:
    """How many of the clips with the best exact recall scores (the unconditioned text against
    every embedding, in numpy) the vector index returns among a search's first candidates
    (``initial_depth(k)``): the clips a re-rank can ever see; and how long its search took
    (p50). One result per refine factor: how many candidates per asked one the shortlist of a
    large library (``storage.shortlist``, approximate) re-scores exactly, set for this
    measurement only (None: its ``REFINE_FACTOR``). The flat index is exact at any factor.
    The texts and the exact tops are computed once, for every factor."""
    from search.text import initial_depth, recall_direction
    from storage import shortlist

    index = library.vectors()
    ids = index.ids()
    held = index.embeddings(ids.tolist())
    embeddings = np.stack([held[int(i)] for i in ids])
    depth = initial_depth(k)
    directions = [recall_direction([encoder.encode_text(name)])[0] for name in names]
    exact = [ids[np.argsort(-(embeddings @ d), kind="stable")[:depth]] for d in directions]
    kept = shortlist.REFINE_FACTOR
    results = []
    try:
        for factor in refine_factors:
            shortlist.REFINE_FACTOR = factor or kept
            top_k, top_depth, seconds = [], [], []
            for direction, best in zip(directions, exact):
                started = time.perf_counter()
                _, found = index.search(direction[None, :], depth)
                seconds.append(time.perf_counter() - started)
                returned = {int(i) for i in found[0] if i >= 0}
                top_k.append(len(returned & set(best[:k].tolist())))
                top_depth.append(len(returned & set(best.tolist())))
            results.append(
                {
                    "refine_factor": factor or kept,
                    "depth": depth,
                    "exact_top_k_returned_mean": round(float(np.mean(top_k)), 2),
                    "exact_top_k_returned_min": int(min(top_k)),
                    "exact_top_depth_returned_mean": round(float(np.mean(top_depth)), 2),
                    "exact_top_depth_returned_min": int(min(top_depth)),
                    "search_p50_ms": round(float(np.median(seconds)) * 1000, 2),
                }
            )
    finally:
        shortlist.REFINE_FACTOR = kept
    return results


def run_share(library, encoder, share: str, names: list[str], k: int, rounds: list[int]) -> list:
    from search.hits import hits_for, merge_top
    from search.text import SearchOptions, max_depth, search_text
    from storage import repository as repo

    generator = encoder.model.prompts_generator
    original = generator.alpha.data.clone()
    ids = library.vectors().ids().tolist()
    texts = [encoder.encode_text(q) for q in names]
    with library.session() as session:
        sample = repo.clip_rerank_inputs(ids[:64], session=session)
    features = np.stack([sample[i][0] for i in ids[:64]])
    measured = prompt_share(encoder, texts[0], features)
    if share != "model":
        generator.alpha.data *= float(share) / measured
    try:
        truth = exhaustive(library, encoder, texts, ids)
        expected = []
        for row in range(len(names)):
            order = np.argsort(-truth[row], kind="stable")[: max(1000, 20 * k)]
            scored = [(ids[j], float(truth[row, j])) for j in order]
            spans = merge_top(hits_for(library, scored), k)
            expected.append([(h.path, h.start_s, h.end_s) for h in spans])
        measured_after = prompt_share(encoder, texts[0], features)
        results = []
        for limit in rounds:
            counting = CountingEncoder(encoder)
            same, candidates, used, times = 0, [], [], []
            for row, name in enumerate(names):
                counting.rounds = []
                t = time.perf_counter()
                hits = search_text(library, counting, name, SearchOptions(k=k, max_rounds=limit))
                times.append(time.perf_counter() - t)
                candidates.append(sum(counting.rounds))
                used.append(len(counting.rounds))
                same += [(h.path, h.start_s, h.end_s) for h in hits] == expected[row]
            results.append(
                {
                    "share": share,
                    "measured_share": round(measured_after, 3),
                    "max_rounds": limit,
                    "bound_candidates": max_depth(k, limit),
                    "queries": len(names),
                    "same_top_k": same,
                    "agreement": round(same / len(names), 3),
                    "candidates_max": int(max(candidates)),
                    "candidates_p50": int(np.median(candidates)),
                    "rounds_max": int(max(used)),
                    "search_p50_ms": round(float(np.median(times)) * 1000, 1),
                    "search_p99_ms": round(float(np.percentile(times, 99)) * 1000, 1),
                }
            )
    finally:
        generator.alpha.data.copy_(original)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000, help="clips in the library")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--shares", default="model,1.0,0.3,0.1")
    parser.add_argument("--rounds", default="1,2,3,4", help="re-rank round bounds to compare")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint folder")
    parser.add_argument(
        "--refine-factors",
        default="",
        help="also measure the first stage with these shortlist refine factors (e.g. 64,128)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny model, 300 clips, 3 queries (CI)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from benchmarks.query import build_db
    from clipdex.encoder import XClipEncoder

    clips, count = (300, 3) if args.smoke else (args.clips, args.queries)
    model = args.model or checkpoint("tiny" if args.smoke else "base")
    encoder = XClipEncoder(str(model))
    names = queries(count)
    with tempfile.TemporaryDirectory(prefix="clipdex-deepening-") as tmp:
        started = time.perf_counter()
        library = build_db(Path(tmp) / "library", encoder, clips)
        build_s = time.perf_counter() - started
        try:
            factors = [int(f) for f in args.refine_factors.split(",") if f]
            recall, *refined = first_stage(library, encoder, names, args.k, [None, *factors])
            rounds = [int(r) for r in args.rounds.split(",")]
            results = [
                row
                for share in args.shares.split(",")
                for row in run_share(library, encoder, share, names, args.k, rounds)
            ]
        finally:
            library.close()
    headers = ["share", "measured", "max rounds", "same top k", "cands max", "p50 ms", "p99 ms"]
    rows = [
        [
            r["share"],
            f"{r['measured_share']:.3g}",
            str(r["max_rounds"]),
            f"{r['same_top_k']}/{r['queries']}",
            f"{r['candidates_max']}/{r['bound_candidates']}",
            f"{r['search_p50_ms']:.1f}",
            f"{r['search_p99_ms']:.1f}",
        ]
        for r in results
    ]
    print(f"{clips} clips, k={args.k}, library built in {build_s:.0f} s")
    print(
        f"first stage: of the {args.k} clips with the best exact recall, "
        f"{recall['exact_top_k_returned_mean']} (at least {recall['exact_top_k_returned_min']}) "
        f"among its {recall['depth']} candidates; of the best {recall['depth']}, "
        f"{recall['exact_top_depth_returned_mean']} (at least "
        f"{recall['exact_top_depth_returned_min']})"
    )
    for r in refined:
        print(
            f"  refine factor {r['refine_factor']}: {r['exact_top_k_returned_mean']} of the top "
            f"{args.k}, {r['exact_top_depth_returned_mean']} of the top {r['depth']}, "
            f"vector search {r['search_p50_ms']} ms p50"
        )
    print(table(headers, rows))
    path = write(
        "deepening-smoke" if args.smoke and not args.out else "deepening",
        {
            "benchmark": "bounded re-rank deepening vs an exhaustive re-rank of every clip",
            "model": str(args.model) if args.model else ("tiny" if args.smoke else "base, random"),
            "clips": clips,
            "k": args.k,
            "first_stage": recall,
            "first_stage_by_refine_factor": refined,
            "results": results,
        },
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
