"""Human-readable output: timestamps and aligned tables (JSON output is built by the commands)."""

from __future__ import annotations

from collections.abc import Sequence

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def timestamp(seconds: float, decimal: str = ".") -> str:
    """HH:MM:SS.mmm, the way players, editors and WebVTT show time (SubRip's decimal is ",")."""
    millis = int(round(max(0.0, seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def plural(count: int, noun: str) -> str:
    """``1 clip``, ``7 clips``, ``0 clips``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def printable(text: str) -> str:
    """``text`` with control characters escaped as ``ls -b`` shows them (a newline as the two
    characters ``\\n``, others as ``\\xNN``), so a path holding one stays on its line and the
    columns stay aligned. Only for display: JSON output carries paths as they are."""
    if text.isprintable():
        return text
    return "".join(_escape(c) if not c.isprintable() else c for c in text)


def _escape(c: str) -> str:
    if c in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[c]
    if 0xDC80 <= ord(c) <= 0xDCFF:  # a byte that is not UTF-8, as os.fsdecode keeps it
        return f"\\x{ord(c) - 0xDC00:02x}"
    return f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] = frozenset()
) -> str:
    """Columns padded to their widest cell; the last column is never padded. Control characters
    in cells (a newline in a file name) are escaped (``printable``)."""
    rows = [[printable(str(cell)) for cell in row] for row in rows]
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


def snippet(text: str, marks: Sequence[Sequence[int]], width: int = 48) -> str:
    """A short piece of ``text`` around its first marked words, each marked word in
    ``*stars*``, cut at word boundaries with an ellipsis where text was left out."""
    if not marks:
        return _shortened(text, width)
    begin = max(0, marks[0][0] - width // 4)
    if begin:
        space = text.rfind(" ", 0, begin)
        begin = space + 1 if space >= 0 else begin
    pieces, cursor = [], begin
    for start, end in marks:
        if start < cursor:
            continue
        pieces += [text[cursor:start], "*", text[start:end], "*"]
        cursor = end
    pieces.append(text[cursor:])
    shown = _shortened("".join(pieces), width + 2 * len(marks))
    return ("…" if begin else "") + shown


def _shortened(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    return text[: cut if cut > width // 2 else width].rstrip() + "…"
