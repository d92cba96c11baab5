"""Canonical JSON and a strict reader for the trust list's JSON documents.

- ``canonical_json``: UTF-8, keys sorted, no white space, no ``\\u`` escapes (orjson). Signatures
  over root metadata and the hashes of trust lists are computed over these bytes.
- ``Fields``: reads one JSON object with a fixed set of members, refusing unknown and missing
  ones (members named ``optional`` may be absent: a later format's additions that older
  documents lack), each value checked for type and bound, with messages saying expected vs found.

Deliberately not a general canonicalisation scheme (RFC 8785 JCS): our documents hold only
objects, arrays, strings, integers, booleans and null, never floats, so sorting keys and
orjson's fixed formatting already give one byte form per value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, TypeGuard

import orjson

from trust.errors import DataError
from trust.keys import PublicKey
from trust.trustlist.errors import TrustListError

MAX_SAFE_INT = 2**53 - 1  # integers beyond this do not survive every JSON parser
MAX_TEXT = 512  # characters of a name, id, URI or policy name
_JWK_MEMBERS = frozenset({"kty", "crv", "x", "y", "kid", "alg", "use"})


def show(value: object, limit: int = 80) -> str:
    """``repr`` cut short: messages quote untrusted input, which may be megabytes long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"


def is_int(value: object) -> TypeGuard[int]:
    # JSON true/false must not pass as 1/0.
    return isinstance(value, int) and not isinstance(value, bool)


def canonical_json(obj: object, *, error: type[TrustListError] = TrustListError) -> bytes:
    """Sorted keys, no white space, UTF-8 without escapes."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise error(f"expected a JSON value of objects, strings and integers: {exc}") from exc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_json(
    data: bytes | str, *, what: str, max_length: int, error: type[TrustListError]
) -> object:
    """Parse JSON text no longer than ``max_length`` bytes or characters."""
    if not isinstance(data, bytes | str):
        raise error(f"expected {what} as bytes or text, found {type(data).__name__}")
    if len(data) > max_length:
        raise error(f"{what} is {len(data)} long, at most {max_length} allowed")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise error(f"{what} is not JSON: {exc}") from exc


class Fields:
    """One JSON object read strictly: exactly the members named, each of the type asked for.
    An ``optional`` member may be absent (:meth:`has` says); present, it is read like any."""

    def __init__(
        self,
        obj: object,
        *,
        what: str,
        required: frozenset[str],
        optional: frozenset[str] = frozenset(),
        error: type[TrustListError] = TrustListError,
    ) -> None:
        self.what = what
        self.error = error
        if not isinstance(obj, Mapping):
            raise error(f"expected {what} to be a JSON object, found {type(obj).__name__}")
        unknown = set(obj) - required - optional
        if unknown:
            raise error(f"{what} has unexpected members {show(sorted(map(str, unknown)))}")
        missing = required - set(obj)
        if missing:
            raise error(f"{what} lacks required members {sorted(missing)}")
        self.obj: Mapping[str, Any] = obj

    def fail(self, name: str, expected: str) -> TrustListError:
        return self.error(
            f"expected {self.what} {name} to be {expected}, found {show(self.obj.get(name))}"
        )

    def raw(self, name: str) -> object:
        return self.obj.get(name)

    def has(self, name: str) -> bool:
        return name in self.obj

    def integer(self, name: str, *, minimum: int = 0, maximum: int = MAX_SAFE_INT) -> int:
        value = self.obj.get(name)
        if not is_int(value) or not minimum <= value <= maximum:
            raise self.fail(name, f"an integer from {minimum} to {maximum}")
        return value

    def optional_integer(self, name: str) -> int | None:
        return None if self.obj.get(name) is None else self.integer(name)

    def text(self, name: str, *, max_length: int = MAX_TEXT, empty: bool = False) -> str:
        value = self.obj.get(name)
        if not isinstance(value, str) or len(value) > max_length or (not value and not empty):
            what = "a string" if empty else "a non-empty string"
            raise self.fail(name, f"{what} of at most {max_length} characters")
        return value

    def texts(self, name: str, *, max_items: int, max_length: int = MAX_TEXT) -> tuple[str, ...]:
        """A list of distinct non-empty strings, in the order given."""
        value = self.obj.get(name)
        if (
            not isinstance(value, list)
            or len(value) > max_items
            or not all(isinstance(v, str) and 0 < len(v) <= max_length for v in value)
            or len(set(value)) != len(value)
        ):
            raise self.fail(
                name,
                f"a list of at most {max_items} distinct non-empty strings "
                f"of at most {max_length} characters",
            )
        return tuple(value)

    def optional_texts(self, name: str, *, max_items: int) -> tuple[str, ...] | None:
        return None if self.obj.get(name) is None else self.texts(name, max_items=max_items)

    def items(self, name: str, *, max_items: int) -> list[object]:
        value = self.obj.get(name)
        if not isinstance(value, list) or len(value) > max_items:
            raise self.fail(name, f"a list of at most {max_items} items")
        return value

    def mapping(self, name: str, *, max_items: int) -> Mapping[str, object]:
        value = self.obj.get(name)
        if not isinstance(value, Mapping) or len(value) > max_items:
            raise self.fail(name, f"a JSON object of at most {max_items} members")
        return value


def public_key(
    raw: object, *, kid: str, what: str, error: type[TrustListError] = TrustListError
) -> PublicKey:
    """A public JWK (RFC 7517) whose RFC 7638 thumbprint must be ``kid``."""
    if not isinstance(raw, Mapping) or not set(raw) <= _JWK_MEMBERS:
        raise error(
            f"expected {what} to be a JSON object with members from {sorted(_JWK_MEMBERS)}, "
            f"found {show(raw)}"
        )
    try:
        key = PublicKey.from_jwk(dict(raw))
    except DataError as exc:
        raise error(f"{what}: {exc}") from exc
    if key.kid != kid:
        raise error(f"expected {what} to have the thumbprint {show(kid)}, found {key.kid}")
    for member, wanted in (("alg", key.alg), ("use", "sig")):
        if member in raw and raw[member] != wanted:
            raise error(f"expected {what} {member} {wanted!r}, found {show(raw[member])}")
    return key
