"""Byte encodings used in tokens and QR codes.

- base64url without padding (RFC 7515 §2), canonical only: one byte string has one spelling.
- The numeric form of a compact JWS for QR codes: each character becomes two digits
  (``ord(c) - 45``), as SMART Health Cards do, so that a QR encoder can use numeric mode
  (3.33 bits per digit, 6.67 per character instead of 8). A 30-character Chinese company name
  then still fits QR version 17 at ECC level M.

This module does not parse JSON or verify anything.
"""

from __future__ import annotations

import base64
import binascii

from trust.errors import DataError

_NUMERIC_OFFSET = 45  # '-' is the lowest character of the base64url alphabet plus '.'
_JWS_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
# Each character's two digits as one packed-BCD byte (``0x37`` for "37"), so that ``bytes.hex``
# writes them; any other byte becomes 0xAA, which no character's digits give.
_NOT_JWS = 0xAA
_DIGIT_BYTES = bytes(
    16 * ((b - _NUMERIC_OFFSET) // 10) + (b - _NUMERIC_OFFSET) % 10
    if chr(b) in _JWS_ALPHABET
    else _NOT_JWS
    for b in range(256)
)


_FROM_URLSAFE = bytes.maketrans(b"-_+/=", b"+/!!!")
_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The characters that may end a canonical text of length 4k+2 (one byte left: 8 of 12 bits
# used, so the last character's low 4 bits are zero) and 4k+3 (two bytes: low 2 bits zero).
_CANONICAL_LAST = {2: _B64URL[::16], 3: _B64URL[::4]}
_CANONICAL_LAST_TEXT = {n: chars.decode() for n, chars in _CANONICAL_LAST.items()}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode base64url without padding (RFC 7515 §2), accepting only the canonical spelling:
    padding, '+', '/', white space and any character outside the alphabet are refused, not
    skipped, and so are non-zero unused bits in the last character (RFC 4648 §3.5: a decoder
    MAY reject them; we must, or ``…w`` and fifteen other endings decode to the same bytes and
    one token has sixteen spellings). Every base64url text from outside is decoded here:
    ``decode(t)`` succeeds exactly when ``b64url_encode(decode(t)) == t``. On the verify hot
    path: the extra check reads one character."""
    try:
        raw = text.encode("ascii", "strict") if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError as exc:
        raise DataError("base64url text must be ASCII") from exc
    tail = len(raw) % 4
    if tail == 1:
        raise DataError(f"base64url text has an impossible length {len(raw)}")
    try:
        # '+', '/' and '=' become '!', which strict decoding refuses like any stray byte.
        decoded = binascii.a2b_base64(
            raw.translate(_FROM_URLSAFE) + b"=" * (-tail % 4), strict_mode=True
        )
    except binascii.Error as exc:
        raise DataError(
            f"not base64url (RFC 7515 §2: '-' and '_', no '+', '/' or padding): {exc}"
        ) from exc
    if tail and raw[-1] not in _CANONICAL_LAST[tail]:
        last = chr(raw[-1])
        raise DataError(
            f"not canonical base64url: the last character {last!r} sets bits that encode "
            f"nothing (RFC 4648 §3.5); expected one of {_CANONICAL_LAST[tail].decode()!r} there"
        )
    return decoded


def check_b64url_spelling(text: str) -> None:
    """Refuse a base64url text that cannot be canonical by its length or its last character,
    without decoding it: for a signed segment decoded only once its signature verifies (a JWS
    payload), so that a re-spelled one is MALFORMED, not merely BAD_SIGNATURE."""
    tail = len(text) % 4
    if tail == 1:
        raise DataError(f"base64url text has an impossible length {len(text)}")
    if tail and text[-1] not in _CANONICAL_LAST_TEXT[tail]:
        raise DataError(
            f"not canonical base64url: the last character {text[-1]!r} sets bits that encode "
            f"nothing (RFC 4648 §3.5); expected one of {_CANONICAL_LAST_TEXT[tail]!r} there"
        )


def jws_to_numeric(token: str) -> str:
    """Compact JWS → digits (two per character): ``bytes.translate`` to packed BCD, then
    ``bytes.hex`` (~1 µs a token; a ``str.translate`` to digit pairs cost ~16 µs, a loop over
    the characters more than signing the token)."""
    try:
        packed = token.encode("ascii").translate(_DIGIT_BYTES)
    except UnicodeEncodeError:
        packed = bytes([_NOT_JWS])
    if _NOT_JWS in packed:
        bad = next(ch for ch in token if ch not in _JWS_ALPHABET)
        raise DataError(f"character {bad!r} cannot appear in a compact JWS")
    return packed.hex()


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty run of 0-9 only (``str.isdigit`` also admits other scripts' digits,
    and is slow: it classifies every character; ``bytes.isdigit`` is a table look-up)."""
    return text.isascii() and text.encode("ascii").isdigit()


def _pair_table() -> bytes:
    # bytes.fromhex reads the digit pair "d1d2" as the byte 16*d1 + d2; map that byte to the
    # JWS character chr(10*d1 + d2 + 45), and every other byte to 0 (invalid).
    table = bytearray(256)
    for d1 in range(10):
        for d2 in range(10):
            ch = chr(10 * d1 + d2 + _NUMERIC_OFFSET)
            if ch in _JWS_ALPHABET:
                table[16 * d1 + d2] = ord(ch)
    return bytes(table)


_PAIRS = _pair_table()


def numeric_to_jws(digits: str) -> str:
    """Digits (two per character) → compact JWS; the inverse of :func:`jws_to_numeric`.

    On the verify hot path: ``bytes.fromhex`` reads each digit pair as one byte and
    ``bytes.translate`` maps it to its character, both in C. Whatever is not pairs of ASCII
    digits cannot pass: ``fromhex`` refuses other characters and odd lengths, a hex letter
    makes a byte the table maps to 0, and white space, which ``fromhex`` skips, shortens the
    result. Only then is the input looked at again, to say what is wrong with it.
    """
    try:
        decoded = bytes.fromhex(digits).translate(_PAIRS)
    except ValueError:
        decoded = b""
    if not decoded or 2 * len(decoded) != len(digits) or 0 in decoded:
        raise _numeric_error(digits)
    return decoded.decode("ascii")


def _numeric_error(digits: str) -> DataError:
    if len(digits) % 2 or not is_ascii_digits(digits):
        return DataError(
            "numeric QR text must be an even number of ASCII digits, "
            f"found {len(digits)} characters"
        )
    at = bytes.fromhex(digits).translate(_PAIRS).index(0)
    return DataError(
        f"numeric QR text has the pair {digits[2 * at : 2 * at + 2]!r} at position {2 * at}, "
        "which stands for no character of a compact JWS"
    )
