"""Responses of the federation endpoints other than fetch (OpenID Federation 1.0 §8).

- Subordinate listing (§8.2.2): a JSON array of Entity Identifiers.
- Resolve response (§8.3.2, ``typ: resolve-response+jwt``): iss, sub, iat, exp, metadata,
  trust_chain. A resolver is trusted only as far as one wants (§8.3.3): given
  ``trust_anchors``, :func:`verify_resolve_response` validates the carried ``trust_chain``
  itself and refuses a response whose metadata or ``exp`` differ from what the chain proves.
- Historical keys (§8.7.2, ``typ: jwk-set+jwt``): an entity's past federation keys with their
  ``iat``/``nbf``/``exp`` and ``revoked`` (``revoked_at``, ``reason`` of §8.7.3).

Deliberately not here: trust marks in resolve responses, the ``trust_chain`` JWS header
(§4.3), ``aud`` and client authentication (§8.8), error responses (§8.9: the HTTP layer's job),
the trust mark status response (§8.4: :mod:`trust.federation.trustmarks`). Pure: tokens and
``now`` in, values or errors out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from trust.federation.chain import ResolvedChain, validate_chain
from trust.federation.common import (
    DEFAULT_MAX_DEPTH,
    HISTORICAL_KEYS_TYP,
    MAX_CHAIN_DEPTH,
    MAX_CLOCK_SKEW,
    MAX_HISTORICAL_KEYS,
    MAX_HISTORICAL_KEYS_LENGTH,
    MAX_NAME_LENGTH,
    MAX_RESOLVE_RESPONSE_LENGTH,
    MAX_STATEMENT_LENGTH,
    RESOLVE_RESPONSE_TYP,
    ChainError,
    MalformedStatement,
    StatementExpired,
    check_entity_id,
    exact_kid,
    is_time,
    json_copy,
    show,
)
from trust.federation.statements import parse_jwks, parse_metadata
from trust.jws import MalformedToken, sign_compact, verify_compact
from trust.keys import PublicKey, SigningKey

MAX_LISTING = 10_000
REVOCATION_REASONS = ("unspecified", "compromised", "superseded")  # §8.7.3 Table 2


# --- §8.2 Subordinate listing -----------------------------------------------------------------


def subordinate_listing(entity_ids: Iterable[str]) -> bytes:
    """The §8.2.2 response body: a JSON array of the immediate subordinates' ids."""
    ids = [check_entity_id(e, "a listed subordinate") for e in entity_ids]
    if len(ids) > MAX_LISTING:
        raise MalformedStatement(f"a listing holds at most {MAX_LISTING} ids, found {len(ids)}")
    return orjson.dumps(ids)


def parse_subordinate_listing(body: bytes, *, max_entries: int = MAX_LISTING) -> tuple[str, ...]:
    """Parse a §8.2.2 listing: distinct, checked Entity Identifiers, at most ``max_entries``."""
    if not isinstance(body, bytes) or len(body) > max_entries * 600:
        raise MalformedStatement(f"expected a listing of at most {max_entries} ids")
    try:
        ids = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedStatement(f"listing is not JSON: {exc}") from exc
    if not isinstance(ids, list) or len(ids) > max_entries:
        raise MalformedStatement(
            f"listing must be a JSON array of at most {max_entries} ids, found {show(ids)}"
        )
    checked = tuple(check_entity_id(e, "a listed subordinate") for e in ids)
    if len(set(checked)) != len(checked):
        raise MalformedStatement("listing must not repeat an entity id")
    return checked


# --- §8.3 Resolve response --------------------------------------------------------------------


@dataclass(frozen=True)
class ResolveResponse:
    """A verified resolve response; ``resolved`` is set when its trust chain was re-validated."""

    iss: str
    sub: str
    iat: int
    exp: int
    metadata: Mapping[str, Mapping[str, Any]]
    trust_chain: tuple[str, ...] = field(repr=False)
    resolved: ResolvedChain | None = field(default=None, repr=False)


def _times(payload: Mapping[str, Any], what: str, now: int, *, exp_required: bool) -> None:
    iat, exp = payload.get("iat"), payload.get("exp")
    if not is_time(iat) or not (is_time(exp) or (exp is None and not exp_required)):
        raise MalformedStatement(
            f"{what} iat and exp must be integers, found {show(iat)}, {show(exp)}"
        )
    if iat > now + MAX_CLOCK_SKEW:
        raise MalformedStatement(f"{what} is issued at {iat}, in the future (now is {now})")
    if exp is not None and (exp <= iat or now >= exp):
        raise StatementExpired(f"{what} expired at {exp} (issued {iat}), now is {now}")


def sign_resolve_response(*, iss: str, resolved: ResolvedChain, iat: int, key: SigningKey) -> str:
    """§8.3.2: the resolver's signed answer; ``exp`` is the chain's (§8.3.2: it MUST match)."""
    payload = {
        "iss": check_entity_id(iss, "iss"),
        "sub": resolved.leaf_id,
        "iat": iat,
        "exp": resolved.exp,
        "metadata": json_copy({t: dict(m) for t, m in resolved.metadata.items()}),
        "trust_chain": list(resolved.chain.tokens),
    }
    token = sign_compact(payload, key, typ=RESOLVE_RESPONSE_TYP)
    if len(token) > MAX_RESOLVE_RESPONSE_LENGTH:
        raise MalformedStatement(
            f"resolve response is {len(token)} characters, at most "
            f"{MAX_RESOLVE_RESPONSE_LENGTH} accepted"
        )
    return token


def verify_resolve_response(
    token: str,
    *,
    keys: Sequence[PublicKey],
    now: int,
    expected_iss: str,
    expected_sub: str | None = None,
    trust_anchors: Mapping[str, Sequence[PublicKey]] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> ResolveResponse:
    """Verify a resolve response signed by the resolver ``expected_iss`` with one of ``keys``.

    With ``trust_anchors``, the response's ``trust_chain`` is validated here too, and must prove
    exactly the ``sub``, ``metadata`` and ``exp`` the resolver signed (else :class:`ChainError`).
    """
    if not isinstance(token, str):
        raise MalformedToken(f"a resolve response is a compact JWS string, found {show(token)}")
    payload = verify_compact(
        token, exact_kid(keys), typ=RESOLVE_RESPONSE_TYP, max_length=MAX_RESOLVE_RESPONSE_LENGTH
    ).payload
    iss = check_entity_id(payload.get("iss"), "iss")
    sub = check_entity_id(payload.get("sub"), "sub")
    if iss != expected_iss or (expected_sub is not None and sub != expected_sub):
        raise ChainError(
            f"expected a resolve response by {expected_iss} about {expected_sub or 'any subject'}"
            f", found one by {iss} about {sub}"
        )
    _times(payload, f"resolve response about {sub}", now, exp_required=True)
    metadata = parse_metadata(payload.get("metadata"))
    chain = payload.get("trust_chain")
    if (
        not isinstance(chain, list)
        or not 3 <= len(chain) <= MAX_CHAIN_DEPTH + 2
        or not all(isinstance(t, str) and len(t) <= MAX_STATEMENT_LENGTH for t in chain)
    ):
        raise MalformedStatement(
            f"trust_chain must be an array of 3 to {MAX_CHAIN_DEPTH + 2} compact JWS strings, "
            f"found {show(chain)}"
        )
    response = ResolveResponse(
        iss=iss,
        sub=sub,
        iat=payload["iat"],
        exp=payload["exp"],
        metadata=metadata,
        trust_chain=tuple(chain),
    )
    if trust_anchors is None:
        return response
    resolved = validate_chain(chain, trust_anchors=trust_anchors, now=now, max_depth=max_depth)
    if (resolved.leaf_id, resolved.exp, dict(resolved.metadata)) != (sub, response.exp, metadata):
        raise ChainError(
            f"resolve response by {iss} about {sub} (exp {response.exp}) does not match what its "
            f"trust chain proves about {resolved.leaf_id} (exp {resolved.exp}, metadata "
            f"{show(dict(resolved.metadata), 200)})"
        )
    return replace(response, resolved=resolved)


# --- §8.7 Historical keys ---------------------------------------------------------------------


@dataclass(frozen=True)
class HistoricalKey:
    """A past federation key and its life (§8.7.2); all times are Unix seconds."""

    key: PublicKey
    exp: int
    iat: int | None = None
    nbf: int | None = None
    revoked_at: int | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        times = {"exp": self.exp, "iat": self.iat, "nbf": self.nbf, "revoked_at": self.revoked_at}
        bad = {k: v for k, v in times.items() if v is not None and not is_time(v)}
        if bad or not is_time(self.exp):
            raise MalformedStatement(
                f"historical key {self.key.kid}: times must be integers, found {bad}"
            )
        start = self.nbf if self.nbf is not None else self.iat
        if start is not None and self.exp <= start:
            raise MalformedStatement(
                f"historical key {self.key.kid}: exp {self.exp} must be after its start {start}"
            )
        if self.reason is not None and (
            self.revoked_at is None or self.reason not in REVOCATION_REASONS
        ):
            raise MalformedStatement(
                f"historical key {self.key.kid}: a reason needs revoked_at and is one of "
                f"{REVOCATION_REASONS}, found {show(self.reason)}"
            )

    def valid_at(self, t: int) -> bool:
        """Whether a signature made at ``t`` by this key may be trusted (§8.7: never after
        ``exp``; never at or after ``revoked_at``)."""
        start = self.nbf if self.nbf is not None else self.iat
        return (
            (start is None or start <= t)
            and t < self.exp
            and (self.revoked_at is None or t < self.revoked_at)
        )

    def to_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = {**self.key.jwk, "exp": self.exp}
        for name in ("iat", "nbf"):
            if getattr(self, name) is not None:
                jwk[name] = getattr(self, name)
        if self.revoked_at is not None:
            jwk["revoked"] = {"revoked_at": self.revoked_at}
            if self.reason is not None:
                jwk["revoked"]["reason"] = self.reason
        return jwk

    @classmethod
    def from_jwk(cls, jwk: object) -> HistoricalKey:
        if not isinstance(jwk, dict):
            raise MalformedStatement(f"each historical key must be a JWK object, found {show(jwk)}")
        (key,) = parse_jwks({"keys": [jwk]})
        exp = jwk.get("exp")
        if not is_time(exp):  # §8.7.2: exp is REQUIRED
            raise MalformedStatement(f"historical key {key.kid}: exp must be an integer")
        revoked = jwk.get("revoked")
        if revoked is not None and not (
            isinstance(revoked, dict)
            and is_time(revoked.get("revoked_at"))
            and (revoked.get("reason") is None or isinstance(revoked.get("reason"), str))
        ):
            raise MalformedStatement(
                f"historical key {key.kid}: revoked must be an object with an integer "
                f"revoked_at, found {show(revoked)}"
            )
        reason = None if revoked is None else revoked.get("reason")
        if isinstance(reason, str) and len(reason) > MAX_NAME_LENGTH:
            raise MalformedStatement(f"historical key {key.kid}: reason too long")
        return cls(
            key=key,
            exp=exp,
            iat=jwk.get("iat"),
            nbf=jwk.get("nbf"),
            revoked_at=None if revoked is None else revoked["revoked_at"],
            reason=reason,
        )


@dataclass(frozen=True)
class HistoricalKeys:
    """A verified historical keys response (§8.7.2)."""

    iss: str
    iat: int
    keys: tuple[HistoricalKey, ...]

    def get(self, kid: str) -> HistoricalKey | None:
        return next((k for k in self.keys if k.key.kid == kid), None)


def sign_historical_keys(
    *, iss: str, iat: int, keys: Sequence[HistoricalKey], key: SigningKey
) -> str:
    """§8.7.2: ``typ: jwk-set+jwt``, claims iss, iat, keys; signed with a current key."""
    if not 0 < len(keys) <= MAX_HISTORICAL_KEYS:
        raise MalformedStatement(
            f"historical keys must list 1 to {MAX_HISTORICAL_KEYS} keys, found {len(keys)}"
        )
    payload = {"iss": check_entity_id(iss, "iss"), "iat": iat, "keys": [k.to_jwk() for k in keys]}
    return sign_compact(payload, key, typ=HISTORICAL_KEYS_TYP)


def verify_historical_keys(
    token: str, *, keys: Sequence[PublicKey], now: int, expected_iss: str
) -> HistoricalKeys:
    """Verify ``expected_iss``'s historical keys with one of its current ``keys``."""
    if not isinstance(token, str):
        raise MalformedToken(f"historical keys are a compact JWS string, found {show(token)}")
    payload = verify_compact(
        token, exact_kid(keys), typ=HISTORICAL_KEYS_TYP, max_length=MAX_HISTORICAL_KEYS_LENGTH
    ).payload
    iss = check_entity_id(payload.get("iss"), "iss")
    if iss != expected_iss:
        raise ChainError(f"expected historical keys of {expected_iss}, found those of {iss}")
    _times(payload, f"historical keys of {iss}", now, exp_required=False)
    listed = payload.get("keys")
    if not isinstance(listed, list) or not 0 < len(listed) <= MAX_HISTORICAL_KEYS:
        raise MalformedStatement(
            f"historical keys must list 1 to {MAX_HISTORICAL_KEYS} keys, found {show(listed)}"
        )
    parsed = tuple(HistoricalKey.from_jwk(k) for k in listed)
    kids = [k.key.kid for k in parsed]
    if len(set(kids)) != len(kids):
        raise MalformedStatement(f"historical keys must not repeat a kid, found {kids}")
    return HistoricalKeys(iss=iss, iat=payload["iat"], keys=parsed)
