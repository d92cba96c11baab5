"""Shared pieces of the OpenID Federation 1.0 subset: errors, names, bounds, Entity Identifiers.

- The error tree (all :class:`trust.errors.DataError`): ``FederationError`` and the specific
  ``MalformedStatement``, ``StatementExpired``, ``PolicyError``, ``ConstraintViolation`` and
  ``ChainError`` (with ``UnknownAnchor`` and ``UntrustedStatement``), each saying what was
  expected and what was found.
- Entity Identifiers (§1.2, §9): checked to one strict, canonical URL form before anything else
  looks at them, and the URLs derived from them (configuration and fetch endpoints).
- The size bounds every parser here applies.

This module does no signing, parsing of statements or I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import quote, urlsplit

import orjson

from trust.encoding import b64url_decode
from trust.errors import DataError, EcertError, FetchError
from trust.jws import MalformedToken
from trust.keys import PublicKey

# Explicit JWT types (§3, §8.3.2, §8.7.2) and the media types the endpoints answer with.
ENTITY_STATEMENT_TYP = "entity-statement+jwt"
RESOLVE_RESPONSE_TYP = "resolve-response+jwt"
HISTORICAL_KEYS_TYP = "jwk-set+jwt"
ENTITY_STATEMENT_MEDIA_TYPE = "application/entity-statement+jwt"
RESOLVE_RESPONSE_MEDIA_TYPE = "application/resolve-response+jwt"
HISTORICAL_KEYS_MEDIA_TYPE = "application/jwk-set+jwt"
WELL_KNOWN_PATH = "/.well-known/openid-federation"  # §9

# Entity Type Identifiers: the spec's federation_entity (§5.1.1) and our two leaf types.
FEDERATION_ENTITY = "federation_entity"
ECERT_ISSUER = "ecert_issuer"
ECERT_VERIFIER = "ecert_verifier"
OPENID_RELYING_PARTY = "openid_relying_party"  # OpenID Federation 1.0 §5.1.2
CREDENTIAL_TYPES = "credential_types"
ACCEPTANCE_CLAIM = "ecert_acceptance"  # our extension claim (cross-region agreements)

# Bounds. A statement is small (a few KiB); these stop hostile input long before memory does.
MAX_STATEMENT_LENGTH = 64 * 1024
MAX_RESOLVE_RESPONSE_LENGTH = 256 * 1024
MAX_HISTORICAL_KEYS_LENGTH = 64 * 1024
MAX_ENTITY_ID_LENGTH = 512
MAX_JWKS_KEYS = 16
MAX_HISTORICAL_KEYS = 64
MAX_AUTHORITY_HINTS = 8
MAX_ENTITY_TYPES = 16
MAX_LIST_ITEMS = 256  # policy operator arrays, credential types, naming constraint entries
MAX_NAME_LENGTH = 128  # entity type ids, metadata parameter names, policy names, type codes
MAX_CHAIN_DEPTH = 8  # subordinate statements in one chain; ``max_depth`` may not exceed it
DEFAULT_MAX_DEPTH = 5
MAX_TIME = 2**53 - 1  # the largest integer every JSON parser reads exactly
MAX_CLOCK_SKEW = 60  # seconds an ``iat`` may lie in the future (§3.5 step 7 "small leeway")

_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
_SHOW_LIMIT = 80


class FederationError(DataError):
    """A federation statement, policy, constraint or chain is bad."""


class MalformedStatement(FederationError):
    """A statement's claims are missing, of the wrong type, out of bounds or in the wrong place."""


class StatementExpired(FederationError):
    """A statement is past its ``exp`` (§3.5 step 8): fetch a fresh one."""


class PolicyError(FederationError):
    """A metadata policy is malformed, conflicts with a superior's, or the metadata breaks it."""


class ConstraintViolation(FederationError):
    """A chain breaks a ``constraints`` claim (§6.2); the message names constraint and entity."""


@dataclass(frozen=True)
class PathFailure:
    """Why one candidate path (entity ids, subject first) did not give a valid trust chain."""

    path: tuple[str, ...]
    error: EcertError

    def describe(self) -> str:
        return f"{' -> '.join(self.path)}: {type(self.error).__name__}: {self.error}"


class ChainError(FederationError):
    """No valid trust chain: bad structure, a loop, too deep, or every candidate path failed.

    ``failures`` lists each path tried and why it failed (empty when a single given chain was
    refused). ``unavailable`` is true when every failure was a fetch failure: retrying later
    may help, and the last good data may be used until it expires.
    """

    def __init__(self, message: str, failures: Sequence[PathFailure] = ()) -> None:
        self.failures = tuple(failures)
        super().__init__(message)

    @property
    def unavailable(self) -> bool:
        return bool(self.failures) and all(isinstance(f.error, FetchError) for f in self.failures)


class UnknownAnchor(ChainError):
    """The chain ends at an entity that is not a configured trust anchor."""


class UntrustedStatement(ChainError):
    """A statement is not signed by a key its superior (or the pinned anchor keys) vouch for."""


def show(value: object, limit: int = _SHOW_LIMIT) -> str:
    """``repr`` cut short: messages quote untrusted input, which may be kilobytes long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer; ``true``/``false`` do not pass as 1/0, floats do not pass at all."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_time(value: object) -> TypeGuard[int]:
    """Seconds since the epoch as a JSON integer within IEEE-754's exact range (RFC 7493)."""
    return is_int(value) and 0 <= value <= MAX_TIME


def check_name(value: object, what: str, error: type[FederationError]) -> str:
    """A short non-empty ASCII name without white space (types, parameters, policy names)."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_NAME_LENGTH
        or not value.isascii()
        or not value.isprintable()
        or " " in value
    ):
        raise error(
            f"{what} must be a printable ASCII name of 1 to {MAX_NAME_LENGTH} characters "
            f"without spaces, found {show(value)}"
        )
    return value


def check_name_list(
    value: object, what: str, error: type[FederationError], *, max_items: int = MAX_LIST_ITEMS
) -> tuple[str, ...]:
    """A JSON array of distinct names (see :func:`check_name`), at most ``max_items``."""
    if not isinstance(value, list) or len(value) > max_items:
        raise error(f"{what} must be an array of at most {max_items} names, found {show(value)}")
    names = tuple(check_name(v, f"each of {what}", error) for v in value)
    if len(set(names)) != len(names):
        raise error(f"{what} must not repeat a name, found {show(value)}")
    return names


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_host(host: str) -> bool:
    """A DNS name of lower-case labels (not ending in a numeric label), or an IP literal in its
    canonical (compressed) form."""
    try:
        return ipaddress.ip_address(host).compressed == host
    except ValueError:
        pass
    labels = host.split(".")
    return (
        len(host) <= 253
        and all(_DNS_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def check_entity_id(
    value: object,
    what: str = "entity identifier",
    error: type[FederationError] = MalformedStatement,
) -> str:
    """Check an Entity Identifier and return it unchanged.

    §9: an https URL with a host, optional port and path. We accept exactly one canonical form,
    so that string equality is identity and prefix naming constraints cannot be dodged:
    lower-case host (DNS name or IP literal), no user info, no query, no fragment, no trailing
    ``/``, path segments of unreserved characters only (no ``.``/``..``, no percent-escapes).
    ``http`` is allowed only for loopback hosts (local demos and tests), never on a network.
    """
    expected = (
        f"{what} must be an https URL (http only on loopback) with a lower-case host, no "
        "user info, query, fragment, dot segments, escapes or trailing '/'"
    )
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_ENTITY_ID_LENGTH
        or not value.isascii()
        or not value.isprintable()
        or any(c in value for c in " ?#@%\\")
    ):
        raise error(f"{expected}, found {show(value)}")
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        port = parts.port
    except ValueError as exc:
        raise error(f"{expected}, found {show(value)}: {exc}") from exc
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port is None else f"{shown_host}:{port}"
    segments = parts.path.split("/")[1:] if parts.path else []
    ok = (
        parts.scheme in ("https", "http")
        and (parts.scheme == "https" or _is_loopback(host))
        and bool(host)
        and _check_host(host)
        and parts.netloc == netloc
        and (port is None or port > 0)
        and (parts.path == "" or parts.path.startswith("/"))
        and all(_PATH_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments)
        and value == f"{parts.scheme}://{netloc}{parts.path}"
    )
    if not ok:
        raise error(f"{expected}, found {show(value)}")
    return value


def entity_host(entity_id: str) -> str:
    """The host part of a checked Entity Identifier (lower case, IPv6 without brackets)."""
    return urlsplit(entity_id).hostname or ""


def same_origin(url: str, entity_id: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``entity_id``."""
    a, b = urlsplit(url), urlsplit(entity_id)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def entity_configuration_url(entity_id: str) -> str:
    """§9: where an entity publishes its Entity Configuration."""
    return check_entity_id(entity_id) + WELL_KNOWN_PATH


def fetch_url(fetch_endpoint: str, sub: str) -> str:
    """§8.1.1: the fetch request for the Subordinate Statement about ``sub``."""
    return f"{fetch_endpoint}?sub={quote(check_entity_id(sub), safe='')}"


def exact_kid(keys: Iterable[PublicKey]) -> Callable[[str], list[PublicKey]]:
    """A ``keys_for_kid`` for :func:`trust.jws.verify_compact` matching full kids only (§3.5
    step 11: the kid MUST exactly match; the QR short form is no use here)."""
    by_kid: dict[str, list[PublicKey]] = {}
    for k in keys:
        by_kid.setdefault(k.kid, []).append(k)
    return lambda kid: by_kid.get(kid, [])


def unverified_payload(token: object, *, max_length: int = MAX_STATEMENT_LENGTH) -> dict[str, Any]:
    """A token's claims read WITHOUT verifying anything: only to route (which anchor, which
    keys to try), never as trust."""
    if not isinstance(token, str) or len(token) > max_length or token.count(".") != 2:
        # Not the text itself: it may be whatever a host answered (an error page, a secret).
        found = f"{len(token)} characters" if isinstance(token, str) else type(token).__name__
        raise MalformedToken(
            f"expected a compact JWS of at most {max_length} characters, found {found} of "
            "something else"
        )
    try:
        payload = orjson.loads(b64url_decode(token.split(".")[1]))
    except (DataError, orjson.JSONDecodeError) as exc:
        raise MalformedToken(f"JWS payload is not base64url JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedToken(f"JWS payload must be a JSON object, found {show(payload)}")
    return payload


def json_copy(value: Any) -> Any:
    """A deep copy of parsed JSON (dicts, lists, scalars), so results never share mutable parts."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value
