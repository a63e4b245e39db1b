"""What the benchmarks ran on, and small shared pieces: the cached checkpoint, JSON output."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def cache_dir() -> Path:
    """Where generated inputs (checkpoint, videos) are kept between runs; never committed."""
    folder = Path(os.environ.get("CLIPDEX_BENCH_CACHE", Path.home() / ".cache" / "clipdex-bench"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def checkpoint(size: str) -> Path:
    """A random-weight X-CLIP checkpoint: "base" (full size, 786 MB, built once) or "tiny"."""
    from tests.support.checkpoint import build_checkpoint

    folder = cache_dir() / f"xclip-{size}"
    if not (folder / "model.safetensors").exists():
        build_checkpoint(folder, size=size)
    return folder


def cpu_fields() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    return fields


def describe() -> dict:
    """CPU model, cores and library versions."""
    import av
    import faiss
    import torch

    fields = cpu_fields()
    return {
        "cpu": fields.get("model name", platform.processor()),
        # A VM's "model name" can hide the generation ("AMD EPYC" on two CPUs whose re-rank
        # took 27.5 and 7.2 ms): family, model and AVX-512 tell them apart.
        "cpu_family": fields.get("cpu family"),
        "cpu_model": fields.get("model"),
        "avx512": "avx512f" in fields.get("flags", "").split(),
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "faiss": faiss.__version__,
        "av": av.__version__,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


def write(name: str, payload: dict, out: Path | None) -> Path:
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Other jobs share the machine: the load average when the results were written says how
    # busy it was (2.0 would mean both cores fully taken by something).
    payload = dict(payload, machine=describe(), load_avg_1m_at_end=os.getloadavg()[0])
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB, from /proc (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)
