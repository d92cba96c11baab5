"""SD-JWT Disclosures (RFC 9901 §4.2): making, parsing and hashing them.

A Disclosure is the base64url (no padding) of the UTF-8 JSON array ``[salt, name, value]`` for
an object property or ``[salt, value]`` for an array element (§4.2.1, §4.2.2). Its digest is
the base64url SHA-256 of the Disclosure's ASCII text itself, not of the decoded bytes (§4.2.3):
so no canonical JSON is needed, and whatever JSON the issuer wrote is what is signed.

Salts are 128 bits from :mod:`secrets` (§9.3). Parsing bounds the text before decoding it and
every string and nesting level after. Deliberately not here: where digests sit in a payload
(:mod:`trust.sdjwt.core`), which claims may be disclosed (:mod:`trust.sdjwt.issue`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from trust.encoding import b64url_decode, b64url_encode
from trust.errors import DataError
from trust.sdjwt.errors import (
    ForbiddenClaimName,
    MalformedDisclosure,
    SdJwtTooLarge,
)

SD_ALG = "sha-256"  # the only hash algorithm we issue or accept (§4.1.1, IANA name)
SD_KEY = "_sd"
SD_ALG_KEY = "_sd_alg"
ARRAY_KEY = "..."
FORBIDDEN_NAMES = frozenset({SD_KEY, ARRAY_KEY})  # §4.2.1: a Disclosure may not name these
SALT_BYTES = 16  # 128 bits, §9.3
MAX_DISCLOSURE_LENGTH = 4096  # characters of one Disclosure
MAX_SALT_LENGTH = 64
MAX_NAME_LENGTH = 128
MAX_STRING_LENGTH = 2048  # characters of any string inside a claim value
MAX_DEPTH = 8  # objects and arrays nested in a payload, Disclosures included


def digest(text: str) -> str:
    """The base64url SHA-256 of an ASCII string: a Disclosure's digest (§4.2.3), ``sd_hash``."""
    return b64url_encode(hashlib.sha256(text.encode("ascii")).digest())


def decoy_digest() -> str:
    """A digest of 32 random bytes, standing for no Disclosure (§4.2.5)."""
    return b64url_encode(hashlib.sha256(secrets.token_bytes(32)).digest())


def new_salt() -> str:
    return b64url_encode(secrets.token_bytes(SALT_BYTES))


@dataclass(frozen=True)
class Disclosure:
    """One Disclosure; ``name`` is ``None`` for an array element."""

    encoded: str
    salt: str
    name: str | None
    value: Any

    @property
    def digest(self) -> str:
        return digest(self.encoded)

    @classmethod
    def make(cls, name: str | None, value: Any, *, salt: str | None = None) -> Disclosure:
        """A new Disclosure of ``value`` (under ``name``, or as an array element)."""
        if name is not None and name in FORBIDDEN_NAMES:
            raise ForbiddenClaimName(f"a disclosed claim may not be named {name!r}")
        salt = new_salt() if salt is None else salt
        array = [salt, value] if name is None else [salt, name, value]
        try:
            encoded = b64url_encode(orjson.dumps(array))
        except orjson.JSONEncodeError as exc:
            raise MalformedDisclosure(f"claim value is not encodable as JSON: {exc}") from exc
        disclosure = cls(encoded=encoded, salt=salt, name=name, value=value)
        _check_sizes(disclosure)
        return disclosure

    @classmethod
    def parse(cls, encoded: str) -> Disclosure:
        """Parse one Disclosure, bounded before it is decoded."""
        if len(encoded) > MAX_DISCLOSURE_LENGTH:
            raise SdJwtTooLarge(
                f"a Disclosure is {len(encoded)} characters, at most {MAX_DISCLOSURE_LENGTH} "
                "allowed"
            )
        try:
            array = orjson.loads(b64url_decode(encoded))
        except (DataError, orjson.JSONDecodeError) as exc:
            raise MalformedDisclosure(f"a Disclosure is not base64url JSON: {exc}") from exc
        if not isinstance(array, list) or len(array) not in (2, 3):
            shape = f"{len(array)} elements" if isinstance(array, list) else type(array).__name__
            raise MalformedDisclosure(
                f"a Disclosure is a JSON array of 2 or 3 elements, found {shape}"
            )
        salt = array[0]
        if not isinstance(salt, str):
            raise MalformedDisclosure(
                f"a Disclosure's salt is a string, found {type(salt).__name__}"
            )
        name: str | None = None
        if len(array) == 3:
            name = array[1]
            if not isinstance(name, str):
                raise MalformedDisclosure(
                    f"a Disclosure's claim name is a string, found {type(name).__name__}"
                )
            if name in FORBIDDEN_NAMES:
                raise ForbiddenClaimName(
                    f"a Disclosure may not name a claim {name!r} (RFC 9901 §4.2.1)"
                )
        disclosure = cls(encoded=encoded, salt=salt, name=name, value=array[-1])
        _check_sizes(disclosure)
        return disclosure


def _check_sizes(disclosure: Disclosure) -> None:
    if len(disclosure.encoded) > MAX_DISCLOSURE_LENGTH:
        raise SdJwtTooLarge(
            f"a Disclosure is {len(disclosure.encoded)} characters, at most "
            f"{MAX_DISCLOSURE_LENGTH} allowed"
        )
    if len(disclosure.salt) > MAX_SALT_LENGTH:
        raise SdJwtTooLarge(
            f"a salt is {len(disclosure.salt)} characters, at most {MAX_SALT_LENGTH} allowed"
        )
    if disclosure.name is not None and len(disclosure.name) > MAX_NAME_LENGTH:
        raise SdJwtTooLarge(
            f"a claim name is {len(disclosure.name)} characters, at most {MAX_NAME_LENGTH} allowed"
        )
    check_value(disclosure.value, depth=1)


def check_value(value: Any, *, depth: int) -> None:
    """Bound a JSON value: nesting at most :data:`MAX_DEPTH`, strings (and object keys) at
    most :data:`MAX_STRING_LENGTH` characters. Iterative, so no input can exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_STRING_LENGTH:
                raise SdJwtTooLarge(
                    f"a claim value string is {len(item)} characters, at most "
                    f"{MAX_STRING_LENGTH} allowed"
                )
        elif isinstance(item, dict | list):
            if level > MAX_DEPTH:
                raise SdJwtTooLarge(f"claims are nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                stack.extend((key, level) for key in item)
                stack.extend((v, level + 1) for v in item.values())
            else:
                stack.extend((v, level + 1) for v in item)
