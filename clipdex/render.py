"""Human-readable output: timestamps and aligned tables (JSON output is built by the commands)."""

from __future__ import annotations

from collections.abc import Sequence


def timestamp(seconds: float) -> str:
    """HH:MM:SS.mmm, the way players and editors show time."""
    millis = int(round(max(0.0, seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def plural(count: int, noun: str) -> str:
    """``1 clip``, ``7 clips``, ``0 clips``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] = frozenset()
) -> str:
    """Columns padded to their widest cell; the last column is never padded."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell)
            if i == len(row) - 1:
                cells.append(text)
            elif i in right:
                cells.append(text.rjust(widths[i]))
            else:
                cells.append(text.ljust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
