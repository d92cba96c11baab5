"""What a printed certificate shows (:class:`Sheet`), as text, without the PDF library.

A sheet holds only what may be printed: its builder (:mod:`gateway.printing`) leaves out what a
type marks personal. Its pages are drawn by :mod:`gateway.print_pages`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from issuers.qr import QrCode

MAX_VALUE_CHARS = 4000  # one printed value at most (the longest shipped field: 经营范围, 4000)
ELLIPSIS = "…"


@dataclass(frozen=True)
class Row:
    """One printed field: its label in Chinese and English, and its value as text."""

    label_zh: str
    label_en: str
    value: str


@dataclass(frozen=True)
class Sheet:
    """Everything a printed certificate shows, as text, plus its QR code."""

    title_zh: str
    title_en: str
    number: str  # 证照编号
    identifier: str  # 证照标识 (GB/T 36904)
    holder: Row  # 持证主体, or a line saying personal details are not printed
    rows: tuple[Row, ...]  # the public fields, in the type's order
    issuer_name: str
    issuer_code: str
    issue_date: str
    validity: str
    status_zh: str
    status_en: str
    mark: tuple[str, str] | None  # (zh, en) when not valid at printing time
    printed_at: str
    qr: QrCode


def clean(value: object) -> str:
    """A value as one printable text: lists joined by 、, control characters dropped, at most
    :data:`MAX_VALUE_CHARS` characters."""
    if isinstance(value, list | tuple):
        text = "、".join(str(v) for v in value)
    elif isinstance(value, bool):
        text = "是" if value else "否"
    else:
        text = str(value)
    text = "".join(
        c if c == "\n" or not unicodedata.category(c).startswith("C") else " " for c in text
    )
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + ELLIPSIS
    return text
