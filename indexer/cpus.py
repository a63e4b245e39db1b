"""How many CPUs this process may use."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which cgroup limits narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads for the model (torch's, and a re-rank's shares): ``CLIPDEX_THREADS`` if set,
    else the usable CPUs."""
    env = os.environ.get("CLIPDEX_THREADS")
    if env:
        return max(1, int(env))
    return usable_cpus()
