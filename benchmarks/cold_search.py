"""Cold ``clipdex search``, torch path against the ONNX query model: ``python -m benchmarks.cold_search``.

A small real library (synthetic clips at the model's full feature size, as benchmarks/query.py
builds them) is bound to the full-size random-weight checkpoint and its query model exported.
Then ``clipdex search`` runs ``--runs`` times per path, each in a new process, alternating the
two paths so that the machine's load falls on both alike: today's path (torch and transformers,
forced with ``CLIPDEX_QUERY_MODEL=torch``) and the ONNX one. Each run's wall time is split with
the timings the command prints under ``CLIPDEX_TIMINGS=1``: "import" (the model runtime's
modules), "load" (the model), "query" (the search), and "rest" (Python's start and exit, which
for the torch path includes tearing torch down, clipdex's modules, opening the library).
Medians are reported, and whether both paths returned the same hits. One more ONNX-path run
under ``python -X importtime`` splits the imports by package (``import_breakdown``: the heavy
libraries "rest" holds), with the importtime overhead included.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import checkpoint, table, write

REPO = Path(__file__).resolve().parents[1]
QUERY = "a dog jumping into a lake"
STAGES = ("rest", "import", "load", "query")
PATHS = {"torch": {"CLIPDEX_QUERY_MODEL": "torch"}, "onnx": {}}
# The libraries whose import a cold search pays for, reported apart by ``import_breakdown``.
HEAVY = ("numpy", "sqlalchemy", "faiss", "onnxruntime", "tokenizers", "click")
SCORE_TOLERANCE = 1e-5


def build_library(folder: Path, model: Path, clips: int) -> None:
    """A library of ``clips`` synthetic clips bound to ``model`` (its digest recorded), with its
    query model exported, as ``clipdex index`` leaves it."""
    from benchmarks.query import build_db
    from clipdex.binding import wanted_settings
    from clipdex.encoder import XClipEncoder
    from clipdex.model_identity import model_digest
    from clipdex.query_export import write_query_model
    from storage.library import Library

    encoder = XClipEncoder(str(model))
    digest = model_digest(encoder.model_id)
    with Library.open(folder) as library:
        library.bind(wanted_settings(encoder, model_digest=digest))
    build_db(folder, encoder, clips).close()
    write_query_model(encoder, folder, digest)


def search_env(library: Path, extra_env: dict[str, str]) -> dict[str, str]:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        CLIPDEX_LIBRARY=str(library),
        CLIPDEX_TIMINGS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        **extra_env,
    )
    for name in ("CLIPDEX_MODEL", "CLIPDEX_DB_URL", "CLIPDEX_QUERY_MODEL"):
        if name not in extra_env:
            env.pop(name, None)
    return env


def cold_search(library: Path, extra_env: dict[str, str]) -> tuple[dict[str, float], list]:
    """One ``clipdex search`` in a new process: its stage times (seconds) and its hits."""
    env = search_env(library, extra_env)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "clipdex", "search", QUERY, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"clipdex search failed: {result.stderr[-2000:]}")
    from clipdex.timings import parse_line

    stages = parse_line(result.stderr) or {}
    times = {name: stages.get(name, 0.0) for name in STAGES[1:]}
    times["rest"] = wall - sum(times.values())
    times["total"] = wall
    return times, json.loads(result.stdout)["hits"]


def import_breakdown(library: Path) -> dict[str, float]:
    """Seconds spent importing each HEAVY package, everything imported ("all"), and clipdex's
    own packages with what they import that is not HEAVY ("other"), in one ONNX-path search
    under ``-X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "clipdex", "search", QUERY, "--json"],
        capture_output=True,
        text=True,
        env=search_env(library, {}),
        cwd=REPO,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"clipdex search failed: {result.stderr[-2000:]}")
    packages: dict[str, float] = {}
    total = 0.0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        seconds = int(cumulative) / 1e6
        if not name.startswith("  "):  # a top-level import: its time includes its children's
            total += seconds
        name = name.strip()
        if name in HEAVY and name not in packages:
            packages[name] = seconds
    return {
        **{name: round(packages.get(name, 0.0), 3) for name in HEAVY},
        "other": round(total - sum(packages.values()), 3),
        "all": round(total, 3),
    }


def same_hits(a: list, b: list) -> bool:
    return [(h["path"], h["start"]) for h in a] == [(h["path"], h["start"]) for h in b] and all(
        abs(x["score"] - y["score"]) <= SCORE_TOLERANCE for x, y in zip(a, b)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="cold searches per path")
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--smoke", action="store_true", help="tiny model, 1 run (CI)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    runs, clips = (1, 60) if args.smoke else (args.runs, args.clips)
    model = checkpoint("tiny" if args.smoke else "base")
    with tempfile.TemporaryDirectory(prefix="clipdex-cold-") as tmp:
        library = Path(tmp) / "library"
        build_library(library, model, clips)
        timings: dict[str, list[dict[str, float]]] = {name: [] for name in PATHS}
        hits: dict[str, list] = {}
        for _ in range(runs):
            for name, env in PATHS.items():
                times, found = cold_search(library, env)
                timings[name].append(times)
                hits[name] = found
        imports = import_breakdown(library)
    results = []
    for name, runs_of in timings.items():
        medians = {
            f"{stage}_s": round(statistics.median(r[stage] for r in runs_of), 3)
            for stage in (*STAGES, "total")
        }
        results.append({"path": name, "runs": len(runs_of), **medians})
    identical = same_hits(hits["torch"], hits["onnx"])
    rows = [[r["path"], *(f"{r[f'{s}_s']:.3f}" for s in (*STAGES, "total"))] for r in results]
    print(table(["path", *(f"{s} s" for s in STAGES), "total s (median)"], rows))
    print(f"same hits on both paths: {identical}")
    print(
        "imports of the ONNX path (s, under -X importtime): "
        + ", ".join(f"{name} {seconds:.3f}" for name, seconds in imports.items())
    )
    name = "cold_search"
    path = write(
        f"{name}-smoke" if args.smoke and not args.out else name,
        {
            "benchmark": "cold clipdex search: torch path vs ONNX query model",
            "model": "tiny" if args.smoke else "xclip-base-patch32 architecture, random weights",
            "clips": clips,
            "query": QUERY,
            "same_hits": identical,
            "results": results,
            "onnx_imports_s": imports,
        },
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
