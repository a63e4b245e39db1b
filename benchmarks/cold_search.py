"""Cold ``clipdex search``, before and after, side by side: ``python -m benchmarks.cold_search``.

A small real library (synthetic clips at the model's full feature size, as benchmarks/query.py
builds them) is bound to the full-size random-weight checkpoint and its query model exported.
Then ``clipdex search`` runs ``--runs`` times per path, each in a new process, in turn so that
the machine's load falls on every path alike:

- "before": the ONNX query model as of ``--before REV`` (the code of that commit, extracted
  from git into a temporary folder: the library read through SQLAlchemy), on a copy of the
  library whose query model that code exported (its own format);
- "main": likewise for ``--main REV`` (default: the sqlite3 read as the stop before this one
  left it; ``--main ''`` leaves it out, as ``--smoke`` does);
- "now": this tree's code (the ONNX query model, a SQLite library read with sqlite3);
- "torch" (with ``--torch``): this tree forced onto torch and transformers
  (``CLIPDEX_QUERY_MODEL=torch``), many seconds a run.

Each run's wall time is split with the timings the command prints under ``CLIPDEX_TIMINGS=1``:
"import" (the model runtime's modules), "load" (the model), "query" (the search), and "rest"
(Python's start and exit, clipdex's modules and the libraries they import, opening the
library); "cpu" is the process's user + system time, which a loaded machine disturbs less
than wall time. Medians are reported, and whether every path returned the same hits. One more
run per ONNX path under ``python -X importtime`` splits the imports by package
(``imports_s``: the heavy libraries "rest" holds), with the importtime overhead included.
Both trees' modules are compiled to bytecode first, as an installed clipdex's are.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.baseline import checkout
from benchmarks.machine import checkpoint, table, write

REPO = Path(__file__).resolve().parents[1]
QUERY = "a dog jumping into a lake"
STAGES = ("rest", "import", "load", "query")
# The last commit before the library was read with sqlite3 (a SQLAlchemy read, ONNX model).
BEFORE_REV = "01aad7a"
# The sqlite3 read with FAISS, the traced query model and clipdex.encoder's imports (1.14 s).
MAIN_REV = "c42044d"
# The libraries whose import a cold search pays for, reported apart by ``import_breakdown``.
HEAVY = ("numpy", "sqlalchemy", "faiss", "onnxruntime", "tokenizers", "click")
SCORE_TOLERANCE = 1e-5
PACKAGES = ("clipdex", "indexer", "search", "storage")


def build_library(folder: Path, model: Path, clips: int) -> None:
    """A library of ``clips`` synthetic clips bound to ``model`` (its digest recorded), with its
    vector index saved and its query model exported, as ``clipdex index`` leaves it."""
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
    library = build_db(folder, encoder, clips)
    library.vectors()  # and saved on close, as indexing leaves it
    library.close()
    write_query_model(encoder, folder, digest)


def downgrade_for(code: Path, library: Path) -> None:
    """Bring ``library``'s database down to the newest migration the code of ``code`` knows,
    with this tree's migrations: that code refuses a revision it cannot locate."""
    from alembic.script import ScriptDirectory

    from alembic import command
    from storage.layout import DB_FILENAME
    from storage.migrations import alembic_config

    old = alembic_config()
    old.set_main_option("script_location", str(code / "alembic"))
    (head,) = ScriptDirectory.from_config(old).get_heads()
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", f"sqlite:///{library / DB_FILENAME}")
    command.downgrade(config, head)


def export_with(code: Path, library: Path, model: Path) -> None:
    """Write ``library``'s query model with the clipdex of ``code`` (in its own format)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from clipdex.encoder import XClipEncoder\n"
        "from clipdex.model_identity import model_digest\n"
        "from clipdex.query_export import write_query_model\n"
        "encoder = XClipEncoder(sys.argv[2])\n"
        "write_query_model(encoder, Path(sys.argv[1]), model_digest(encoder.model_id))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(library), str(model)],
        env=dict(os.environ, PYTHONPATH=str(code)),
        cwd=code,
        check=True,
        timeout=1800,
    )


def compiled(code: Path) -> Path:
    """``code`` with its modules' bytecode written, as an installed clipdex has it (a process
    with PYTHONDONTWRITEBYTECODE set would otherwise compile them on every start)."""
    packages = [str(code / name) for name in PACKAGES]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)
    return code


def search_env(library: Path, extra_env: dict[str, str], code: Path = REPO) -> dict[str, str]:
    env = dict(
        os.environ,
        PYTHONPATH=str(code),
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


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def cold_search(
    library: Path, extra_env: dict[str, str], code: Path = REPO
) -> tuple[dict[str, float], list]:
    """One ``clipdex search`` in a new process, with the clipdex of ``code``: its stage times
    (seconds), its CPU time and its hits."""
    env = search_env(library, extra_env, code)
    cpu = _children_cpu()
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "clipdex", "search", QUERY, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=code,
        timeout=600,
    )
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if result.returncode != 0:
        raise RuntimeError(f"clipdex search failed: {result.stderr[-2000:]}")
    from clipdex.timings import parse_line

    stages = parse_line(result.stderr) or {}
    times = {name: stages.get(name, 0.0) for name in STAGES[1:]}
    times["rest"] = wall - sum(times.values())
    times["total"] = wall
    times["cpu"] = cpu
    return times, json.loads(result.stdout)["hits"]


def import_breakdown(library: Path, code: Path = REPO) -> dict[str, float]:
    """Seconds spent importing each HEAVY package, everything imported ("all"), and clipdex's
    own packages with what they import that is not HEAVY ("other"), in one ONNX-path search
    under ``-X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "clipdex", "search", QUERY, "--json"],
        capture_output=True,
        text=True,
        env=search_env(library, {}, code),
        cwd=code,
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
    parser.add_argument("--before", default=BEFORE_REV, help="the commit of the 'before' path")
    parser.add_argument("--main", default=None, help=f"the commit of the 'main' path [{MAIN_REV}]")
    parser.add_argument("--torch", action="store_true", help="add the torch path (slow)")
    parser.add_argument("--smoke", action="store_true", help="tiny model, 1 run (CI)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    runs, clips = (1, 60) if args.smoke else (args.runs, args.clips)
    model = checkpoint("tiny" if args.smoke else "base")
    with tempfile.TemporaryDirectory(prefix="clipdex-cold-") as tmp:
        library = Path(tmp) / "library"
        build_library(library, model, clips)
        main_rev = args.main if args.main is not None else ("" if args.smoke else MAIN_REV)
        revisions = {"before": args.before, "main": main_rev}
        paths = {}
        for name, rev in revisions.items():
            if not rev:
                continue
            # The same library for the code of ``rev``, with the query model that code writes.
            code = compiled(checkout(rev, Path(tmp) / name))
            copy = Path(tmp) / f"{name}-library"
            shutil.copytree(library, copy)
            downgrade_for(code, copy)
            shutil.rmtree(copy / "query-model")
            export_with(code, copy, model)
            paths[name] = ({}, code, copy)
        paths["now"] = ({}, compiled(REPO), library)
        if args.torch:
            paths["torch"] = ({"CLIPDEX_QUERY_MODEL": "torch"}, REPO, library)
        timings: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
        hits: dict[str, list] = {}
        for _ in range(runs):
            for name, (env, code, folder) in paths.items():
                times, found = cold_search(folder, env, code)
                timings[name].append(times)
                hits[name] = found
        imports = {
            name: import_breakdown(folder, code)
            for name, (env, code, folder) in paths.items()
            if not env  # the ONNX paths
        }
    results = []
    for name, runs_of in timings.items():
        medians = {
            f"{stage}_s": round(statistics.median(r[stage] for r in runs_of), 3)
            for stage in (*STAGES, "total", "cpu")
        }
        results.append({"path": name, "runs": len(runs_of), **medians})
    identical = all(same_hits(hits["now"], found) for found in hits.values())
    columns = (*STAGES, "total", "cpu")
    rows = [[r["path"], *(f"{r[f'{s}_s']:.3f}" for s in columns)] for r in results]
    print(table(["path", *(f"{s} s" for s in STAGES), "total s", "cpu s (medians)"], rows))
    print(f"same hits on every path: {identical}")
    for name, found in imports.items():
        print(
            f"imports of {name} (s, under -X importtime): "
            + ", ".join(f"{package} {seconds:.3f}" for package, seconds in found.items())
        )
    name = "cold_search"
    path = write(
        f"{name}-smoke" if args.smoke and not args.out else name,
        {
            "benchmark": "cold clipdex search: before (SQLAlchemy read), main (sqlite3 read) and now",
            "model": "tiny" if args.smoke else "xclip-base-patch32 architecture, random weights",
            "clips": clips,
            "query": QUERY,
            "before": args.before,
            "main": main_rev or None,
            "same_hits": identical,
            "results": results,
            "imports_s": imports,
        },
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
