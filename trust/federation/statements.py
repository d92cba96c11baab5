"""Entity Statements (OpenID Federation 1.0 §3): sign, and verify into an ``EntityStatement``.

An Entity Statement is a compact JWS with ``typ: entity-statement+jwt``. When ``iss == sub`` it
is an Entity Configuration, which must be signed by a key in its own ``jwks``; otherwise it is a
Subordinate Statement by a superior about its immediate subordinate. Verification follows §3.5:
explicit type, an accepted algorithm, a ``kid`` that exactly matches a trusted key (never the
short form), the claims that must and must not appear in each kind of statement, ``iat`` not in
the future (60 s leeway) and ``exp`` not passed.

Our extension: a Subordinate Statement from one region's trust anchor about another may carry
``ecert_acceptance: {"policy", "credential_types"}`` (which of the other region's credential
types this region's verifiers accept). It is always listed in ``crit`` (§13.4), so that a
verifier that does not know it refuses the statement instead of over-accepting.

Trust marks: an Entity Configuration's ``trust_marks`` and a trust anchor's
``trust_mark_issuers`` / ``trust_mark_owners`` are parsed for shape here (configurations only,
never in a Subordinate Statement); each mark is verified by :mod:`trust.federation.trustmarks`
when somebody relies on it.

Deliberately not here: explicit registration (``trust_anchor``), RSA keys, and fetching
anything. Keys passed in are trusted; everything read from a token is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trust.errors import KeyError_
from trust.federation.common import (
    ACCEPTANCE_CLAIM,
    CREDENTIAL_TYPES,
    ECERT_ISSUER,
    ENTITY_STATEMENT_TYP,
    FEDERATION_ENTITY,
    MAX_AUTHORITY_HINTS,
    MAX_CLOCK_SKEW,
    MAX_ENTITY_TYPES,
    MAX_JWKS_KEYS,
    MAX_STATEMENT_LENGTH,
    ChainError,
    MalformedStatement,
    StatementExpired,
    UntrustedStatement,
    check_entity_id,
    check_name,
    check_name_list,
    exact_kid,
    is_time,
    json_copy,
    show,
)
from trust.federation.common import unverified_payload as unverified_payload  # its old home
from trust.federation.constraints import Constraints
from trust.federation.policy import MetadataPolicy
from trust.federation.trustmarks import parse_trust_mark_issuers, parse_trust_marks
from trust.jws import MalformedToken, sign_compact, verify_compact
from trust.keys import PublicKey, SigningKey

MAX_METADATA_PARAMETERS = 128  # per entity type
# §3.1-§3.4 claim names: `crit` may list none of them (§13.4).
SPEC_CLAIMS = frozenset(
    {
        "iss", "sub", "iat", "exp", "jwks", "metadata", "metadata_policy",
        "metadata_policy_crit", "constraints", "crit", "authority_hints", "trust_marks",
        "trust_mark_issuers", "trust_mark_owners", "source_endpoint", "trust_anchor",
    }
)  # fmt: skip
UNDERSTOOD_CRIT = frozenset({ACCEPTANCE_CLAIM})
_SUBORDINATE_ONLY = ("metadata_policy", "metadata_policy_crit", "constraints", "source_endpoint")
_CONFIGURATION_ONLY = ("trust_marks", "trust_mark_issuers", "trust_mark_owners")


@dataclass(frozen=True)
class Acceptance:
    """A cross-region agreement: which of the subject region's credential types we accept."""

    policy: str
    credential_types: frozenset[str]

    def __post_init__(self) -> None:
        check_name(self.policy, f"{ACCEPTANCE_CLAIM}.policy", MalformedStatement)
        check_name_list(
            sorted(self.credential_types), f"{ACCEPTANCE_CLAIM}.credential_types",
            MalformedStatement,
        )  # fmt: skip

    @classmethod
    def from_claim(cls, claim: object) -> Acceptance:
        if not isinstance(claim, dict):
            raise MalformedStatement(
                f"{ACCEPTANCE_CLAIM} must be an object with policy and credential_types, "
                f"found {show(claim)}"
            )
        types = check_name_list(
            claim.get("credential_types"), f"{ACCEPTANCE_CLAIM}.credential_types",
            MalformedStatement,
        )  # fmt: skip
        policy = check_name(claim.get("policy"), f"{ACCEPTANCE_CLAIM}.policy", MalformedStatement)
        return cls(policy=policy, credential_types=frozenset(types))

    def to_claim(self) -> dict[str, Any]:
        return {"policy": self.policy, "credential_types": sorted(self.credential_types)}


@dataclass(frozen=True)
class EntityStatement:
    """A verified Entity Statement. ``metadata`` is a private copy: read it, do not change it."""

    iss: str
    sub: str
    iat: int
    exp: int
    jwks: tuple[PublicKey, ...]
    metadata: Mapping[str, Mapping[str, Any]]
    metadata_policy: MetadataPolicy | None
    constraints: Constraints | None
    authority_hints: tuple[str, ...]
    acceptance: Acceptance | None
    source_endpoint: str | None
    token: str = field(repr=False)
    signed_with: PublicKey = field(repr=False)
    trust_marks: tuple[tuple[str, str], ...] = ()  # (trust_mark_type, trust_mark), unverified
    trust_mark_issuers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    trust_mark_owners: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_configuration(self) -> bool:
        """An Entity Configuration (``iss == sub``), not a Subordinate Statement."""
        return self.iss == self.sub

    @property
    def entity_types(self) -> frozenset[str]:
        return frozenset(self.metadata)

    @property
    def fetch_endpoint(self) -> str | None:
        """§5.1.1 ``federation_fetch_endpoint``, checked when the statement was parsed."""
        value = self.metadata.get(FEDERATION_ENTITY, {}).get("federation_fetch_endpoint")
        return value if isinstance(value, str) else None


def parse_jwks(claim: object) -> tuple[PublicKey, ...]:
    # §3.1 jwks: REQUIRED, a JWK Set; every kid unique. We require RFC 7638 kids (keys.py).
    keys = claim.get("keys") if isinstance(claim, dict) else None
    if not isinstance(keys, list) or not 0 < len(keys) <= MAX_JWKS_KEYS:
        raise MalformedStatement(
            f"jwks must be a JWK Set with 1 to {MAX_JWKS_KEYS} keys, found {show(claim)}"
        )
    parsed = []
    for jwk in keys:
        if not isinstance(jwk, dict):
            raise MalformedStatement(f"each jwks key must be a JSON object, found {show(jwk)}")
        try:
            parsed.append(PublicKey.from_jwk(jwk))
        except KeyError_ as exc:
            raise MalformedStatement(f"jwks holds an unusable key: {exc}") from exc
    kids = [k.kid for k in parsed]
    if len(set(kids)) != len(kids):
        raise MalformedStatement(f"jwks must not repeat a kid, found {kids}")
    return tuple(parsed)


def parse_metadata(claim: object) -> dict[str, dict[str, Any]]:
    # §3.1 metadata, §5: entity type → object of parameters, none of them null.
    if not isinstance(claim, dict) or len(claim) > MAX_ENTITY_TYPES:
        raise MalformedStatement(
            f"metadata must be an object of at most {MAX_ENTITY_TYPES} entity types, "
            f"found {show(claim)}"
        )
    metadata: dict[str, dict[str, Any]] = {}
    for etype, params in claim.items():
        check_name(etype, "a metadata entity type", MalformedStatement)
        if not isinstance(params, dict) or len(params) > MAX_METADATA_PARAMETERS:
            raise MalformedStatement(
                f"metadata.{etype} must be an object of at most {MAX_METADATA_PARAMETERS} "
                f"parameters, found {show(params)}"
            )
        for name, value in params.items():
            check_name(name, f"a metadata.{etype} parameter", MalformedStatement)
            if value is None:
                raise MalformedStatement(f"metadata.{etype}.{name} must not be null (§5)")
        metadata[etype] = json_copy(params)
    for name, value in metadata.get(FEDERATION_ENTITY, {}).items():
        if name.startswith("federation_") and name.endswith("_endpoint"):
            # §5.1.1; we also refuse a query component (we append ?sub= ourselves).
            check_entity_id(value, f"metadata.{FEDERATION_ENTITY}.{name}")
    if CREDENTIAL_TYPES in metadata.get(ECERT_ISSUER, {}):
        check_name_list(
            metadata[ECERT_ISSUER][CREDENTIAL_TYPES], f"metadata.{ECERT_ISSUER}.{CREDENTIAL_TYPES}",
            MalformedStatement,
        )  # fmt: skip
    return metadata


def _parse_claims(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Check and convert the claims of §3.1-§3.3 (§3.5 steps 4-6, 9, 13-18, 22)."""
    iss = check_entity_id(payload.get("iss"), "iss")
    sub = check_entity_id(payload.get("sub"), "sub")
    iat, exp = payload.get("iat"), payload.get("exp")
    if not is_time(iat) or not is_time(exp) or exp <= iat:
        raise MalformedStatement(
            f"iat and exp must be integers from 0 to 2**53 - 1 with exp after iat, found "
            f"{show(iat)} and {show(exp)}"
        )
    configuration = iss == sub
    if configuration:
        misplaced = [c for c in (*_SUBORDINATE_ONLY, ACCEPTANCE_CLAIM) if c in payload]
        if misplaced:
            raise MalformedStatement(
                f"an entity configuration ({iss}) must not carry {misplaced}: they belong in "
                "subordinate statements (§3.3)"
            )
    elif "authority_hints" in payload or any(c in payload for c in _CONFIGURATION_ONLY):
        raise MalformedStatement(
            f"a subordinate statement ({iss} about {sub}) must not carry authority_hints (§3.2) "
            f"or {', '.join(_CONFIGURATION_ONLY)} (§3.1, §7)"
        )
    crit = payload.get("crit")
    if crit is not None:
        names = check_name_list(crit, "crit", MalformedStatement)
        if not names or set(names) & SPEC_CLAIMS or not set(names) <= UNDERSTOOD_CRIT:
            raise MalformedStatement(
                f"crit must list claims this gateway understands ({sorted(UNDERSTOOD_CRIT)}) and "
                f"no claim of the specification, found {show(crit)}"
            )
    if ACCEPTANCE_CLAIM in payload and ACCEPTANCE_CLAIM not in (crit or ()):
        raise MalformedStatement(f"{ACCEPTANCE_CLAIM} must be listed in crit")
    hints = payload.get("authority_hints")
    if hints is not None:
        # §3.2: non-empty when present; we also bound it and refuse repeats and self-reference.
        if not isinstance(hints, list) or not 0 < len(hints) <= MAX_AUTHORITY_HINTS:
            raise MalformedStatement(
                f"authority_hints must be an array of 1 to {MAX_AUTHORITY_HINTS} entity "
                f"identifiers, found {show(hints)}"
            )
        hints = [check_entity_id(h, "each of authority_hints") for h in hints]
        if len(set(hints)) != len(hints) or iss in hints:
            raise MalformedStatement(
                f"authority_hints must be distinct superiors other than {iss}, found {hints}"
            )
    policy = payload.get("metadata_policy")
    policy_crit = payload.get("metadata_policy_crit")
    if policy_crit is not None:
        policy_crit = check_name_list(policy_crit, "metadata_policy_crit", MalformedStatement)
    constraints = payload.get("constraints")
    acceptance = payload.get(ACCEPTANCE_CLAIM)
    source = payload.get("source_endpoint")
    return {
        "iss": iss,
        "sub": sub,
        "iat": iat,
        "exp": exp,
        "jwks": parse_jwks(payload.get("jwks")),
        "metadata": parse_metadata(payload["metadata"]) if "metadata" in payload else {},
        "metadata_policy": None
        if policy is None and not policy_crit
        else MetadataPolicy.from_claim(
            policy if policy is not None else {}, crit=policy_crit or ()
        ),
        "constraints": None if constraints is None else Constraints.from_claim(constraints),
        "authority_hints": tuple(hints or ()),
        "acceptance": None if acceptance is None else Acceptance.from_claim(acceptance),
        "source_endpoint": None if source is None else check_entity_id(source, "source_endpoint"),
        "trust_marks": parse_trust_marks(payload["trust_marks"])
        if "trust_marks" in payload
        else (),
        **{
            name: parse_trust_mark_issuers(payload[name], name)
            for name in ("trust_mark_issuers", "trust_mark_owners")
            if name in payload
        },
    }


def sign_entity_statement(
    *,
    iss: str,
    sub: str,
    iat: int,
    exp: int,
    jwks: Sequence[PublicKey],
    key: SigningKey,
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
    metadata_policy: Mapping[str, Any] | None = None,
    constraints: Constraints | None = None,
    authority_hints: Sequence[str] = (),
    acceptance: Acceptance | None = None,
    source_endpoint: str | None = None,
    trust_marks: Sequence[tuple[str, str]] = (),
    trust_mark_issuers: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Sign an Entity Statement; ``jwks`` are the *subject's* federation keys (§3.1).

    The claims are checked with the verifier's own rules first: we never sign what we would
    refuse. An Entity Configuration (``iss == sub``) must be signed with a key in ``jwks``.
    """
    payload: dict[str, Any] = {"iss": iss, "sub": sub, "iat": iat, "exp": exp}
    payload["jwks"] = {"keys": [k.jwk for k in jwks]}
    if metadata is not None:
        payload["metadata"] = json_copy({t: dict(m) for t, m in metadata.items()})
    if metadata_policy is not None:
        payload["metadata_policy"] = json_copy(dict(metadata_policy))
    if constraints is not None:
        payload["constraints"] = constraints.to_claim()
    if authority_hints:
        payload["authority_hints"] = list(authority_hints)
    if acceptance is not None:
        payload[ACCEPTANCE_CLAIM] = acceptance.to_claim()
        payload["crit"] = [ACCEPTANCE_CLAIM]
    if source_endpoint is not None:
        payload["source_endpoint"] = source_endpoint
    if trust_marks:
        payload["trust_marks"] = [{"trust_mark_type": t, "trust_mark": m} for t, m in trust_marks]
    if trust_mark_issuers is not None:
        payload["trust_mark_issuers"] = {t: list(i) for t, i in trust_mark_issuers.items()}
    claims = _parse_claims(payload)
    if iss == sub and key.kid not in {k.kid for k in claims["jwks"]}:
        raise MalformedStatement(
            f"an entity configuration must be signed with a key in its own jwks: kid {key.kid} "
            f"is not among {[k.kid for k in claims['jwks']]}"
        )
    token = sign_compact(payload, key, typ=ENTITY_STATEMENT_TYP)
    if len(token) > MAX_STATEMENT_LENGTH:
        raise MalformedStatement(
            f"entity statement is {len(token)} characters, verifiers accept at most "
            f"{MAX_STATEMENT_LENGTH}"
        )
    return token


def verify_entity_statement(
    token: str,
    *,
    keys: Sequence[PublicKey],
    now: int,
    expected_iss: str | None = None,
    expected_sub: str | None = None,
    max_length: int = MAX_STATEMENT_LENGTH,
) -> EntityStatement:
    """Verify an Entity Statement signed by one of ``keys`` (trusted, from the caller) (§3.5).

    Signature, algorithm, ``typ`` and size errors are :class:`trust.jws.SignatureError`
    subclasses; claims errors :class:`MalformedStatement`; a passed ``exp``
    :class:`StatementExpired`; an unexpected ``iss``/``sub`` :class:`ChainError`; an Entity
    Configuration not signed with its own key :class:`UntrustedStatement`.
    """
    if not isinstance(token, str):
        raise MalformedToken(f"an entity statement is a compact JWS string, found {show(token)}")
    verified = verify_compact(
        token, exact_kid(keys), typ=ENTITY_STATEMENT_TYP, max_length=max_length
    )
    claims = _parse_claims(verified.payload)
    iss, sub = claims["iss"], claims["sub"]
    if (expected_iss is not None and iss != expected_iss) or (
        expected_sub is not None and sub != expected_sub
    ):
        raise ChainError(
            f"expected a statement by {expected_iss or 'any issuer'} about "
            f"{expected_sub or 'any subject'}, found one by {iss} about {sub}"
        )
    if iss == sub and verified.key.kid not in {k.kid for k in claims["jwks"]}:
        # §4: ES[0] and ES[i] are signed with a key in their own jwks.
        raise UntrustedStatement(
            f"entity configuration of {iss} is signed with kid {verified.key.kid}, expected a "
            "key in its own jwks"
        )
    if claims["iat"] > now + MAX_CLOCK_SKEW:  # §3.5 step 7
        raise MalformedStatement(
            f"statement by {iss} about {sub} is issued at {claims['iat']}, in the future "
            f"(now is {now})"
        )
    if now >= claims["exp"]:  # §3.5 step 8
        raise StatementExpired(
            f"statement by {iss} about {sub} expired at {claims['exp']}, now is {now}"
        )
    return EntityStatement(**claims, token=token, signed_with=verified.key)


def verify_entity_configuration(
    token: str, *, now: int, expected_sub: str | None = None, max_length: int = MAX_STATEMENT_LENGTH
) -> EntityStatement:
    """Verify an Entity Configuration against its own ``jwks`` only (§9, §3.5).

    This proves the configuration is intact and self-consistent, NOT that anyone trusts it:
    resolution uses it to find superiors and endpoints, and trust comes from
    :func:`trust.federation.chain.validate_chain` alone.
    """
    # The keys come from the token itself: this checks the self-signature, nothing more.
    keys = parse_jwks(unverified_payload(token, max_length=max_length).get("jwks"))
    statement = verify_entity_statement(
        token, keys=keys, now=now, expected_sub=expected_sub, max_length=max_length
    )
    if not statement.is_configuration:
        raise ChainError(
            f"expected an entity configuration (iss == sub), found a statement by "
            f"{statement.iss} about {statement.sub}"
        )
    return statement
