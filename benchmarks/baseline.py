"""Code of an earlier revision beside this tree's, so that a benchmark times both in the same
run: one module imported from it (``baseline``: ``--baseline`` of benchmarks.transcript_search
and benchmarks.query), or its whole tree written out to run in processes of its own
(``checkout``: benchmarks.cold_search, benchmarks.dedup)."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def baseline(revision: str, path: str, name: str, alongside: tuple[str, ...] = ()):
    """``path`` (a module file of this repository) as it was at ``revision`` (git), imported
    as module ``name``; it imports the rest of the code from this tree, except the modules named
    in ``alongside`` (dotted names whose interface changed since): those are the revision's own
    while it is imported."""
    saved = {module: sys.modules.get(module) for module in alongside}
    try:
        for module in alongside:
            _load(revision, module.replace(".", "/") + ".py", module)
        return _load(revision, path, name)
    finally:
        for module, previous in saved.items():
            if previous is None:
                sys.modules.pop(module, None)
            else:
                sys.modules[module] = previous


def _load(revision: str, path: str, name: str):
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


def checkout(rev: str, folder: Path) -> Path:
    """The tree of commit ``rev`` written into ``folder`` (``git archive``: the code, no
    history, no work tree)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder
