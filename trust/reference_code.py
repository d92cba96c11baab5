"""How a reference code (亮证码) is written, typed and scanned.

A code is 80 random bits as 16 characters of RFC 4648 base32 (``A``-``Z``, ``2``-``7``). People
read it in groups of four (``ABCD-EFGH-JKLM-NP23``). Its *routable* form puts the issuing city's
region code (GB/T 2260: six digits, e.g. ``330100`` for 杭州) before it:
``330100-ABCD-EFGH-JKLM-NP23``. That form is what the QR carries: digits, upper-case letters
and ``-`` only, so a QR holds it in alphanumeric mode and a scanner gun types it the same on any
keyboard layout; a counter in another city learns from it which city's gateway to ask.

:func:`parse` reads what a counter typed or scanned: either form, any case, spaces and hyphens
ignored, at most :data:`MAX_CODE_INPUT` characters. Pure.

Deliberately not here: making codes, storing them, which gateway serves a region code.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE_LENGTH = 16  # base32 characters
CITY_CODE_LENGTH = 6  # GB/T 2260 digits
MAX_CODE_INPUT = 64  # what a counter may send, separators and all
BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


@dataclass(frozen=True)
class TypedCode:
    """A code as a counter gave it: the bare code and, in the routable form, the city's
    region code (``None`` for a bare code: the counter's own city)."""

    code: str
    city_code: str | None


def grouped(code: str) -> str:
    """``ABCDEFGHJKLMNP23`` → ``ABCD-EFGH-JKLM-NP23`` (what a person reads)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def is_city_code(value: str) -> bool:
    """Six ASCII digits, not all zero (GB/T 2260 region codes start 11 to 82)."""
    digits = value.isascii() and value.isdigit()
    return len(value) == CITY_CODE_LENGTH and digits and value[0] != "0"


def routable(city_code: str, code: str) -> str:
    """``330100`` and ``ABCDEFGHJKLMNP23`` → ``330100-ABCD-EFGH-JKLM-NP23``."""
    if not is_city_code(city_code):
        raise ValueError(f"expected a six-digit region code, found {city_code!r:.20}")
    return f"{city_code}-{grouped(code)}"


def parse(typed: str) -> TypedCode | None:
    """The code a counter typed or scanned, in either form; ``None`` when it cannot be one."""
    if len(typed) > MAX_CODE_INPUT:
        return None
    text = "".join(typed.split()).replace("-", "").upper()
    city: str | None = None
    if len(text) == CITY_CODE_LENGTH + CODE_LENGTH:
        city, text = text[:CITY_CODE_LENGTH], text[CITY_CODE_LENGTH:]
        if not is_city_code(city):
            return None
    if len(text) != CODE_LENGTH or not set(text) <= BASE32:
        return None
    return TypedCode(code=text, city_code=city)
