"""base64url and the numeric QR form of a compact JWS."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trust.encoding import b64url_decode, b64url_encode, jws_to_numeric, numeric_to_jws
from trust.errors import DataError

JWS_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


@given(st.binary(max_size=200))
def test_b64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@given(st.text(alphabet=JWS_CHARS, min_size=1, max_size=400))
def test_numeric_round_trip(token: str) -> None:
    digits = jws_to_numeric(token)
    assert digits.isdigit()
    assert numeric_to_jws(digits) == token


def test_numeric_form_matches_smart_health_cards_offsets() -> None:
    # SHC: ord(c) - 45, two digits each: '-' → 00, '.' → 01, 'e' → 56.
    assert jws_to_numeric("-.e") == "000156"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("123", "even number"),
        ("12a4", "even number"),
        ("9999", "stands for no character"),
        ("١٢", "ASCII"),
        ("", "even number"),
        ("5601 56", "even number"),  # bytes.fromhex would skip the space
        ("56\n01", "even number"),
        ("0a56", "even number"),  # hex, not decimal: fromhex reads it, the check refuses it
    ],
    ids=["odd", "letter", "out-of-alphabet", "arabic-digits", "empty", "space", "newline", "hex"],
)
def test_bad_numeric_text(text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        numeric_to_jws(text)


@pytest.mark.parametrize("text", ["a=", "a+b", "a/b", "a", "杭州"])
def test_bad_b64url(text: str) -> None:
    with pytest.raises(DataError):
        b64url_decode(text)
