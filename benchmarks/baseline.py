"""Code of an earlier revision, imported beside this tree's, so that a benchmark times both in
the same run (``--baseline`` of benchmarks.transcript_search and benchmarks.query)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def baseline(revision: str, path: str, name: str):
    """``path`` (a module file of this repository) as it was at ``revision`` (git), imported
    as module ``name``; it imports the rest of the code from this tree."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{revision}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)
    return module
