"""Plain text tables whose columns line up with Chinese in them: a CJK character takes two
terminal columns (Unicode East Asian Width W/F). Deliberately plain: no colours, no borders,
nothing wrapped, so scripts and ``grep`` read it as easily as people."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

MAX_CELL = 40  # columns a cell may take; longer text is cut with "…"


def width(text: str) -> int:
    """The terminal columns ``text`` takes."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cut(text: str) -> str:
    if width(text) <= MAX_CELL:
        return text
    out, used = "", 0
    for ch in text:
        used += width(ch)
        if used > MAX_CELL - 1:
            return out + "…"
        out += ch
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``headers`` and ``rows`` as aligned columns, two spaces apart, one line a row."""
    cells = [[_cut(str(c)) for c in row] for row in (headers, *rows)]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join(lines)
