"""Where the library lives: ``--library``, ``CLIPDEX_LIBRARY``, else the XDG data folder."""

from __future__ import annotations

import os
from pathlib import Path


def default_library_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "clipdex"
