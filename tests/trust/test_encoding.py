"""base64url and the numeric QR form of a compact JWS."""

from __future__ import annotations

import base64
import contextlib

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


@given(st.text(alphabet=st.sampled_from(JWS_CHARS) | st.characters(), max_size=60))
def test_numeric_form_is_two_digits_a_character_or_names_the_first_stranger(text: str) -> None:
    strangers = [ch for ch in text if ch not in JWS_CHARS]
    if not strangers:
        assert jws_to_numeric(text) == "".join(f"{ord(ch) - 45:02d}" for ch in text)
        return
    with pytest.raises(DataError) as refused:
        jws_to_numeric(text)
    assert str(refused.value) == f"character {strangers[0]!r} cannot appear in a compact JWS"


@pytest.mark.parametrize("token", ["a=b", "a b.c", "a.杭.c", "a\x00", "ab/c", "\ud800", "a:b"])
def test_a_character_outside_the_jws_alphabet_is_refused(token: str) -> None:
    with pytest.raises(DataError, match="cannot appear in a compact JWS"):
        jws_to_numeric(token)


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


# --- one spelling per byte string (issue 11, the fault campaign) -------------------------------

B64URL_CHARS = JWS_CHARS[:-1]
# Everything a decoder that skips, pads or translates might be lenient about.
NEAR_B64URL = B64URL_CHARS + "+/= \n\t.\x00é"


@given(st.text(alphabet=NEAR_B64URL, max_size=64))
def test_b64url_decode_accepts_exactly_the_canonical_encodings(text: str) -> None:
    try:
        decoded = b64url_decode(text)
    except DataError:  # our error type, and only ours (anything else fails the test)
        lenient = _lenient(text)
        assert lenient is None or b64url_encode(lenient) != text
        return
    assert b64url_encode(decoded) == text  # decode then encode gives back the input


@given(st.text(max_size=64) | st.binary(max_size=64))
def test_b64url_decode_raises_only_our_error_on_any_text(text: str | bytes) -> None:
    with contextlib.suppress(DataError):  # anything but DataError fails the test
        decoded = b64url_decode(text)
        assert b64url_encode(decoded) == (text if isinstance(text, str) else text.decode())


def _lenient(text: str) -> bytes | None:
    """What a lenient decoder makes of a text in the base64url alphabet (unused bits ignored),
    ``None`` for a text outside it or of an impossible length."""
    if any(c not in B64URL_CHARS for c in text) or len(text) % 4 == 1:
        return None
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("length", [1, 2, 31, 32, 33, 64])
def test_every_non_canonical_last_character_is_refused(length: int) -> None:
    text = b64url_encode(bytes(range(length)))
    unused = {2: 0b1111, 3: 0b11}.get(len(text) % 4, 0)
    index = B64URL_CHARS.index(text[-1])
    same = [c for c in B64URL_CHARS if B64URL_CHARS.index(c) & ~unused == index & ~unused]
    assert len(same) == unused + 1
    for c in same:
        if c == text[-1]:
            assert b64url_decode(text) == bytes(range(length))
        else:
            with pytest.raises(DataError, match="not canonical"):
                b64url_decode(text[:-1] + c)


@pytest.mark.parametrize(
    "text",
    ["QQ==", "QQ=", "QUI=", "QUJD ", " QUJD", "QU\nJD", "QU\tJD", "+/8", "/w", "-_8+", "QR", "QUJ"],
    ids=["padding-2", "padding-1", "padding-3", "trailing-space", "leading-space", "newline",
         "tab", "plus-slash", "slash", "mixed-alphabets", "unused-bits-2", "unused-bits-3"],
)  # fmt: skip
def test_bad_spellings_are_refused(text: str) -> None:
    with pytest.raises(DataError):
        b64url_decode(text)
