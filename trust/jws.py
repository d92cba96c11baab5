"""Compact JWS (RFC 7515) signing and a lean, strict verification path.

Signing writes the header and payload as compact JSON (the payload without ``\\u`` escapes, so
Chinese text costs 3 bytes a character, not 6) and signs with ``cryptography``.

Verification does its own parse because it is the hot path and because it must be strict:
- only ES256 and EdDSA (named ``EdDSA`` or, RFC 9864 §2.2, ``Ed25519``); ``none``, HMAC and
  anything else is UNSUPPORTED (RFC 8725 §3.1);
- the header ``alg`` must match the key's algorithm (no algorithm confusion, RFC 8725 §2.1);
- any ``crit`` header is rejected: we understand no extensions (RFC 7515 §4.1.11);
- the ``kid`` is only a hint: every trusted key it matches is tried (full or short form,
  :attr:`trust.keys.PublicKey.kid_hints`);
- sizes are bounded before anything is decoded;
- every segment has one spelling (:func:`trust.encoding.b64url_decode`): a re-spelled header,
  payload or signature is malformed, so one token has one text and one hash.

It does not interpret claims (dates, status, types): that is the caller's business.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from trust.encoding import b64url_decode, b64url_encode, check_b64url_spelling
from trust.errors import DataError, SignatureError
from trust.keys import ACCEPTED_ALGORITHMS, PublicKey, SigningKey

MAX_TOKEN_LENGTH = 8192
MAX_HEADER_LENGTH = 512
_ALLOWED_HEADERS = frozenset({"alg", "kid", "typ", "crit", "cty"})


class MalformedToken(SignatureError):
    """Not a compact JWS we can parse (structure, base64url, JSON, size)."""


class UnsupportedToken(SignatureError):
    """A well-formed token we refuse by policy: algorithm, ``crit`` or ``typ``."""


class UnknownKey(SignatureError):
    """No trusted key matches the token's ``kid``."""


class BadSignature(SignatureError):
    """A trusted key matches the ``kid`` but the signature does not verify."""


class VerifiedJWS(NamedTuple):
    header: Mapping[str, Any]
    payload: dict[str, Any]
    key: PublicKey


def dumps_compact(obj: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: no white space, no ``\\u`` escapes (orjson writes exactly that)."""
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError as exc:
        raise SignatureError(f"payload is not encodable as JSON: {exc}") from exc


def sign_compact(
    payload: Mapping[str, Any],
    key: SigningKey,
    *,
    typ: str,
    kid: str | None = None,
    extra_headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``payload`` as a compact JWS; ``kid`` defaults to the full thumbprint.

    The header is ``{"typ", "alg", "kid", …extra}`` as compact JSON, the layout pyjwt writes,
    built once a key and type; the signature is :meth:`SigningKey.sign` (``cryptography``,
    ES256 as R || S). Signing through pyjwt cost 67 µs a token against 21 µs for the signature
    itself (issue 13's batch profile); every token is checked by independent libraries in
    ``tests/interop``."""
    if extra_headers:
        if "alg" in extra_headers:
            raise SignatureError("the algorithm is the key's: 'alg' cannot be an extra header")
        header = _header_json({"typ": typ, "alg": key.alg, "kid": kid or key.kid, **extra_headers})
    else:
        header = _plain_header(typ, key.alg, kid or key.kid)
    signing_input = f"{header}.{b64url_encode(dumps_compact(payload))}"
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def _header_json(header: Mapping[str, Any]) -> str:
    try:
        text = json.dumps(header, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise SignatureError(f"header is not encodable as JSON: {exc}") from exc
    return b64url_encode(text.encode("ascii"))


@functools.lru_cache(maxsize=256)
def _plain_header(typ: str, alg: str, kid: str) -> str:
    """The base64url header segment of a key and type (one a signing key in practice)."""
    return _header_json({"typ": typ, "alg": alg, "kid": kid})


def _unverified_header(segment: str) -> Mapping[str, Any]:
    """Parse (not verify) a header segment; the result is read-only."""
    if len(segment) > MAX_HEADER_LENGTH:
        raise MalformedToken(
            f"JWS header is {len(segment)} characters, at most {MAX_HEADER_LENGTH} allowed"
        )
    try:
        header = orjson.loads(b64url_decode(segment))
    except (DataError, orjson.JSONDecodeError) as exc:
        raise MalformedToken(f"JWS header is not base64url JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise MalformedToken(f"JWS header must be a JSON object, found {type(header).__name__}")
    return MappingProxyType(header)


@functools.lru_cache(maxsize=1024)
def _checked_header(segment: str, typ: str | frozenset[str]) -> tuple[Mapping[str, Any], str, str]:
    """Parse and check a header segment: ``(header, alg, kid)``, where ``alg`` is the algorithm
    of the key that may verify it (``Ed25519`` → ``EdDSA``). A pure function of its arguments,
    so cached (one entry per signing key in practice); failures are not cached."""
    header, alg = _checked_header_any_kid(segment, typ)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedToken("JWS header has no kid")
    return header, alg, kid


def _checked_header_any_kid(
    segment: str, typ: str | frozenset[str], also: frozenset[str] = frozenset()
) -> tuple[Mapping[str, Any], str]:
    """:func:`_checked_header` without the ``kid`` rule: ``(header, alg)``; ``also`` names
    header parameters allowed beyond the usual ones (``jwk`` in an OpenID4VCI key proof)."""
    header = _unverified_header(segment)
    named = header.get("alg")
    alg = ACCEPTED_ALGORITHMS.get(named) if isinstance(named, str) else None
    if alg is None:
        raise UnsupportedToken(
            f"algorithm must be one of {', '.join(ACCEPTED_ALGORITHMS)}, found {named!r}"
        )
    if "crit" in header:
        raise UnsupportedToken(f"critical header extensions are not supported: {header['crit']!r}")
    unknown = set(header) - _ALLOWED_HEADERS - also
    if unknown:
        raise UnsupportedToken(f"unexpected JWS header parameters: {sorted(unknown)}")
    wanted = frozenset({typ}) if isinstance(typ, str) else typ
    if header.get("typ") not in wanted:
        raise UnsupportedToken(
            f"token typ must be {' or '.join(sorted(wanted))}, found {header.get('typ')!r}"
        )
    return header, alg


class PreparedJWS(NamedTuple):
    """A compact JWS checked up to its signature (:func:`prepare_compact`): the header read and
    checked, the signature and the signing input decoded, the payload's spelling checked but
    not decoded."""

    header: Mapping[str, Any]
    alg: str
    kid: str
    signature: bytes
    signing_input: bytes
    payload_segment: str


def verify_compact(
    token: str,
    keys_for_kid: Callable[[str], Iterable[PublicKey]],
    *,
    typ: str | frozenset[str],
    max_length: int = MAX_TOKEN_LENGTH,
) -> VerifiedJWS:
    """Verify a compact JWS against trusted keys; raise a :class:`SignatureError` subclass.

    ``keys_for_kid`` maps the token's (untrusted) ``kid`` hint to the trusted keys it may name.
    The three steps, in this order, are also callable one by one (a batch verifier checks
    its tokens' signatures one after the other): :func:`prepare_compact`, :func:`signed_by`,
    :func:`payload_of`.
    """
    prepared = prepare_compact(token, typ=typ, max_length=max_length)
    key = signed_by(prepared, keys_for_kid)
    return VerifiedJWS(prepared.header, payload_of(prepared), key)


def prepare_compact(
    token: str, *, typ: str | frozenset[str], max_length: int = MAX_TOKEN_LENGTH
) -> PreparedJWS:
    """Every check of :func:`verify_compact` before the signature's: size, structure, header
    (algorithm, ``crit``, ``typ``, ``kid``), the signature's and the payload's spelling."""
    h64, p64, s64 = _split_compact(token, max_length)
    header, alg, kid = _checked_header(h64, typ)
    signature, signing_input = _signature_and_input(token, h64, p64, s64)
    return PreparedJWS(header, alg, kid, signature, signing_input, p64)


def signed_by(
    prepared: PreparedJWS, keys_for_kid: Callable[[str], Iterable[PublicKey]]
) -> PublicKey:
    """The trusted key, among those the (untrusted) ``kid`` names, whose signature verifies:
    :class:`UnknownKey` when none of them is of the token's algorithm, :class:`BadSignature`
    when none verifies."""
    alg, kid = prepared.alg, prepared.kid
    known = False
    for candidate in keys_for_kid(kid):
        if candidate.alg == alg:
            known = True
            if candidate.verify(prepared.signature, prepared.signing_input):
                return candidate
    if not known:
        raise UnknownKey(f"no trusted {alg} key has kid {kid!r}")
    raise BadSignature(f"signature does not verify with the trusted key(s) for kid {kid!r}")


def payload_of(prepared: PreparedJWS) -> dict[str, Any]:
    """The payload of a token whose signature verified (:func:`signed_by`): a JSON object, or
    :class:`MalformedToken`."""
    return _payload(prepared.payload_segment)


def verify_compact_with_key(
    token: str,
    key: PublicKey,
    *,
    typ: str | frozenset[str],
    max_length: int = MAX_TOKEN_LENGTH,
    also_headers: frozenset[str] = frozenset(),
) -> VerifiedJWS:
    """Verify a compact JWS with the one key its context names, not a ``kid`` (an SD-JWT's
    Key Binding JWT is checked with the credential's ``cnf`` key, RFC 9901 §7.3): a ``kid``
    in the header, if any, is ignored. The same header rules as :func:`verify_compact`,
    with ``also_headers`` allowed besides."""
    h64, p64, s64 = _split_compact(token, max_length)
    _header, alg = _checked_header_any_kid(h64, typ, also_headers)
    signature, signing_input = _signature_and_input(token, h64, p64, s64)
    if key.alg != alg:  # a key of another algorithm cannot have made this signature
        raise BadSignature(f"the key {key.kid!r} signs with {key.alg}, the token says {alg}")
    if not key.verify(signature, signing_input):
        raise BadSignature(f"signature does not verify with the key {key.kid!r}")
    return VerifiedJWS(_header, _payload(p64), key)


def _split_compact(token: str, max_length: int) -> list[str]:
    if len(token) > max_length:
        raise MalformedToken(f"token is {len(token)} characters, at most {max_length} allowed")
    if not token.isascii():  # base64url and dots only; the signing input is encoded as ASCII
        raise MalformedToken("a compact JWS is ASCII (base64url and '.'), found other characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken(f"a compact JWS has 3 dot-separated parts, found {len(parts)}")
    return parts


def _signature_and_input(token: str, h64: str, p64: str, s64: str) -> tuple[bytes, bytes]:
    try:  # the payload is decoded only once the signature verifies: check its spelling now
        check_b64url_spelling(p64)
    except DataError as exc:
        raise MalformedToken(f"JWS payload is not base64url: {exc}") from exc
    try:
        signature = b64url_decode(s64)
    except DataError as exc:
        raise MalformedToken(f"JWS signature is not base64url: {exc}") from exc
    return signature, token[: len(h64) + 1 + len(p64)].encode("ascii")


def _payload(p64: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(b64url_decode(p64))
    except (DataError, orjson.JSONDecodeError) as exc:
        raise MalformedToken(f"JWS payload is not base64url JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedToken(f"JWS payload must be a JSON object, found {type(payload).__name__}")
    return payload


class KeyIndex:
    """Trusted keys indexed by every ``kid`` a token may name them by (full, short, legacy)."""

    def __init__(self, keys: Iterable[PublicKey]) -> None:
        self._by_kid: dict[str, list[PublicKey]] = {}
        for key in keys:
            for hint in key.kid_hints:
                self._by_kid.setdefault(hint, []).append(key)

    def __call__(self, kid: str) -> list[PublicKey]:
        return self._by_kid.get(kid, [])
