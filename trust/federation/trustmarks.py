"""Trust Marks (OpenID Federation 1.0 §7) and Trust Mark Status responses (§8.4): sign, verify.

A Trust Mark is a compact JWS with ``typ: trust-mark+jwt`` and the claims ``iss``, ``sub``,
``trust_mark_type``, ``iat``, optionally ``exp``, ``logo_uri`` and ``ref`` (§7.1). An entity
carries the marks it holds in its Entity Configuration as ``trust_marks``: an array of
``{"trust_mark_type", "trust_mark"}`` (§3.1). The trust anchor names who may issue each type in
its own configuration's ``trust_mark_issuers`` (type → issuer entity ids).

:func:`verify_trust_mark` follows §7.3: the issuer is listed in the anchor's
``trust_mark_issuers`` for the mark's type; the mark is signed by a key of that issuer that the
caller resolved through the federation (``issuer_keys``, trusted; the ``iss`` and ``kid`` in the
token are only hints); ``sub`` is the entity that carries it; ``iat`` is not in the future and
``exp``, when present, has not passed. Each failure is its own class of
:class:`TrustMarkError`, so that a caller can say why a mark grants nothing.

Our use: a region's trust anchor grants a counter a verifier role by a mark of the type
:func:`role_mark_type` (``{anchor}/trust-marks/verifier-role/{role}``), carrying what the role
may request in our claim ``ecert_verifier_role`` so that a wallet needs no role table.

Deliberately not here: delegation (§7.2, ``trust_mark_owners``: a type the anchor lists there
is refused, :class:`DelegationUnsupported`), an empty ``trust_mark_issuers`` array meaning
"anyone may issue" (we fail closed: nobody), the HTTP of the endpoints, and fetching.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trust.errors import DataError, EcertError
from trust.federation.common import (
    MAX_CLOCK_SKEW,
    MAX_LIST_ITEMS,
    FederationError,
    MalformedStatement,
    check_entity_id,
    check_name,
    check_name_list,
    exact_kid,
    is_time,
    show,
    unverified_payload,
)
from trust.jws import BadSignature, UnknownKey, sign_compact, verify_compact
from trust.keys import PublicKey, SigningKey

if TYPE_CHECKING:
    from trust.federation.statements import EntityStatement

TRUST_MARK_TYP = "trust-mark+jwt"  # §7.1
TRUST_MARK_MEDIA_TYPE = "application/trust-mark+jwt"
TRUST_MARK_STATUS_TYP = "trust-mark-status-response+jwt"  # §8.4.2
TRUST_MARK_STATUS_MEDIA_TYPE = "application/trust-mark-status-response+jwt"
TRUST_MARK_STATUSES = ("active", "expired", "revoked", "invalid")  # §8.4.2
ROLE_CLAIM = "ecert_verifier_role"  # ours: the role a verifier-role mark grants
ROLE_MARK_PATH = "/trust-marks/verifier-role/"
MAX_TRUST_MARK_LENGTH = 8 * 1024
MAX_STATUS_LENGTH = 16 * 1024
MAX_TRUST_MARKS = 16  # marks one entity configuration may carry
MAX_ISSUERS_PER_TYPE = 16


class TrustMarkError(FederationError):
    """A Trust Mark grants nothing: malformed, unlisted issuer, forged, wrong subject, expired,
    revoked or of a delegated type."""


class MalformedTrustMark(TrustMarkError):
    """Claims missing, of the wrong type or out of bounds; or not a ``trust-mark+jwt``."""


class IssuerNotListed(TrustMarkError):
    """The anchor's ``trust_mark_issuers`` does not list the mark's issuer for its type."""


class UntrustedTrustMark(TrustMarkError):
    """The signature is not by a key of the issuer as the federation vouches for it (forged)."""


class WrongSubject(TrustMarkError):
    """The mark is about another entity than the one that carries it."""


class TrustMarkExpired(TrustMarkError):
    """The mark is past its ``exp``."""


class TrustMarkRevoked(TrustMarkError):
    """The issuer's status endpoint answers that the mark is no longer active (§8.4)."""


class DelegationUnsupported(TrustMarkError):
    """The anchor lists the type in ``trust_mark_owners``: a delegation we do not check."""


def role_mark_type(anchor_id: str, role: str) -> str:
    """The Trust Mark type by which ``anchor_id`` grants the verifier role ``role``."""
    check_name(role, "a verifier role", MalformedTrustMark)
    return check_entity_id(f"{anchor_id}{ROLE_MARK_PATH}{role}", "trust_mark_type")


def role_of_mark_type(anchor_id: str, trust_mark_type: str) -> str | None:
    """The role a mark type of ``anchor_id`` grants, or ``None`` for any other type."""
    prefix = f"{anchor_id}{ROLE_MARK_PATH}"
    if not trust_mark_type.startswith(prefix):
        return None
    role = trust_mark_type.removeprefix(prefix)
    return role if role and "/" not in role else None


@dataclass(frozen=True)
class RoleGrant:
    """What a verifier-role mark grants: the role and the fields of each type it may request."""

    code: str
    name_zh: str
    name_en: str
    may_request: Mapping[str, frozenset[str]]

    @classmethod
    def from_claim(cls, claim: object) -> RoleGrant:
        expected = (
            f"{ROLE_CLAIM} must be an object with code, name {{zh, en}} and may_request "
            "{type: [fields]}"
        )
        if not isinstance(claim, dict):
            raise MalformedTrustMark(f"{expected}, found {show(claim)}")
        name, may = claim.get("name"), claim.get("may_request")
        if (
            not isinstance(name, dict)
            or not all(
                isinstance(name.get(k), str) and 0 < len(name[k]) <= 64 for k in ("zh", "en")
            )
            or not isinstance(may, dict)
            or not 0 < len(may) <= MAX_LIST_ITEMS
        ):
            raise MalformedTrustMark(f"{expected}, found {show(claim)}")
        return cls(
            code=check_name(claim.get("code"), f"{ROLE_CLAIM}.code", MalformedTrustMark),
            name_zh=name["zh"],
            name_en=name["en"],
            may_request={
                check_name(t, f"a {ROLE_CLAIM} type", MalformedTrustMark): frozenset(
                    check_name_list(f, f"{ROLE_CLAIM}.may_request.{t}", MalformedTrustMark)
                )
                for t, f in may.items()
            },
        )

    def to_claim(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": {"zh": self.name_zh, "en": self.name_en},
            "may_request": {t: sorted(f) for t, f in sorted(self.may_request.items())},
        }


@dataclass(frozen=True)
class TrustMark:
    """A verified Trust Mark (§7.1)."""

    iss: str
    sub: str
    trust_mark_type: str
    iat: int
    exp: int | None
    role: RoleGrant | None  # our claim, when the mark grants a verifier role
    token: str = field(repr=False)

    def is_expired(self, now: int) -> bool:
        return self.exp is not None and now >= self.exp


def parse_trust_marks(claim: object) -> tuple[tuple[str, str], ...]:
    """An Entity Configuration's ``trust_marks`` (§3.1): ``(trust_mark_type, trust_mark)``
    pairs, shape only. Each mark is verified only when somebody relies on it."""
    if not isinstance(claim, list) or len(claim) > MAX_TRUST_MARKS:
        raise MalformedStatement(
            f"trust_marks must be an array of at most {MAX_TRUST_MARKS} objects, found "
            f"{show(claim)}"
        )
    marks = []
    for item in claim:
        mark = item.get("trust_mark") if isinstance(item, dict) else None
        mtype = item.get("trust_mark_type") if isinstance(item, dict) else None
        if not (isinstance(mark, str) and 0 < len(mark) <= MAX_TRUST_MARK_LENGTH):
            raise MalformedStatement(
                "each of trust_marks must be an object with trust_mark_type and a trust_mark "
                f"of at most {MAX_TRUST_MARK_LENGTH} characters, found {show(item)}"
            )
        marks.append((check_entity_id(mtype, "trust_mark_type", MalformedStatement), mark))
    return tuple(marks)


def parse_trust_mark_issuers(claim: object, what: str) -> dict[str, tuple[str, ...]]:
    """A trust anchor's ``trust_mark_issuers`` or ``trust_mark_owners`` keys (type → ids)."""
    if not isinstance(claim, dict) or len(claim) > MAX_LIST_ITEMS:
        raise MalformedStatement(
            f"{what} must be an object of at most {MAX_LIST_ITEMS} trust mark types, found "
            f"{show(claim)}"
        )
    out: dict[str, tuple[str, ...]] = {}
    for mtype, ids in claim.items():
        check_entity_id(mtype, f"a {what} trust mark type", MalformedStatement)
        if what == "trust_mark_owners":  # §7.2.1: {"sub", "jwks"}; we only note the type
            out[mtype] = ()
            continue
        if not isinstance(ids, list) or len(ids) > MAX_ISSUERS_PER_TYPE:
            raise MalformedStatement(
                f"{what}[{mtype}] must be an array of at most {MAX_ISSUERS_PER_TYPE} entity "
                f"identifiers, found {show(ids)}"
            )
        out[mtype] = tuple(check_entity_id(i, f"each of {what}[{mtype}]") for i in ids)
    return out


def sign_trust_mark(
    *,
    iss: str,
    sub: str,
    trust_mark_type: str,
    iat: int,
    exp: int | None,
    key: SigningKey,
    role: RoleGrant | None = None,
) -> str:
    """Sign a Trust Mark with the issuer's federation key (§7.1); checked as it will be read."""
    payload: dict[str, Any] = {
        "iss": iss,
        "sub": sub,
        "trust_mark_type": trust_mark_type,
        "iat": iat,
    }
    if exp is not None:
        payload["exp"] = exp
    if role is not None:
        payload[ROLE_CLAIM] = role.to_claim()
    _claims(payload)
    token = sign_compact(payload, key, typ=TRUST_MARK_TYP)
    if len(token) > MAX_TRUST_MARK_LENGTH:
        raise MalformedTrustMark(
            f"trust mark is {len(token)} characters, at most {MAX_TRUST_MARK_LENGTH} accepted"
        )
    return token


def _claims(payload: Mapping[str, Any]) -> dict[str, Any]:
    iss = check_entity_id(payload.get("iss"), "iss", MalformedTrustMark)
    sub = check_entity_id(payload.get("sub"), "sub", MalformedTrustMark)
    mtype = check_entity_id(payload.get("trust_mark_type"), "trust_mark_type", MalformedTrustMark)
    iat, exp = payload.get("iat"), payload.get("exp")
    if not is_time(iat) or not (exp is None or (is_time(exp) and exp > iat)):
        raise MalformedTrustMark(
            f"iat must be an integer time and exp, when present, a later one; found {show(iat)} "
            f"and {show(exp)}"
        )
    role = None if ROLE_CLAIM not in payload else RoleGrant.from_claim(payload[ROLE_CLAIM])
    granted = role_of_mark_type(iss, mtype)
    if role is not None and granted != role.code:
        raise MalformedTrustMark(
            f"a {ROLE_CLAIM} claim belongs in a mark of type {iss}{ROLE_MARK_PATH}{role.code}, "
            f"found one in a mark of type {mtype}"
        )
    return {"iss": iss, "sub": sub, "trust_mark_type": mtype, "iat": iat, "exp": exp, "role": role}


def _verified(
    token: str, keys: Sequence[PublicKey], typ: str, max_length: int, what: str
) -> dict[str, Any]:
    """The payload of ``token`` signed by one of ``keys`` (full kid match) with ``typ``."""
    try:
        return verify_compact(token, exact_kid(keys), typ=typ, max_length=max_length).payload
    except (UnknownKey, BadSignature) as exc:
        raise UntrustedTrustMark(f"{what}: not signed by a key trusted for it: {exc}") from exc
    except DataError as exc:
        raise MalformedTrustMark(f"{what}: expected a {typ}: {exc}") from exc


def verify_trust_mark(
    token: str,
    *,
    trust_mark_issuers: Mapping[str, Sequence[str]],
    issuer_keys: Mapping[str, Sequence[PublicKey]],
    expected_sub: str,
    now: int,
    trust_mark_owners: Mapping[str, object] | None = None,
    expected_type: str | None = None,
) -> TrustMark:
    """Verify a Trust Mark as §7.3 says; raise a :class:`TrustMarkError` subclass.

    ``trust_mark_issuers`` (and ``trust_mark_owners``) are the trust anchor's, from its verified
    configuration; ``issuer_keys`` maps each issuer the caller resolved through the federation
    to its federation keys (for a mark the anchor issued: the anchor's own keys).
    """
    try:
        hinted = unverified_payload(token, max_length=MAX_TRUST_MARK_LENGTH)
    except DataError as exc:
        raise MalformedTrustMark(f"expected a trust mark (compact JWS): {exc}") from exc
    iss, mtype = hinted.get("iss"), hinted.get("trust_mark_type")
    if expected_type is not None and mtype != expected_type:
        raise MalformedTrustMark(
            f"expected a trust mark of type {expected_type}, found {show(mtype)}"
        )
    if not isinstance(mtype, str) or iss not in trust_mark_issuers.get(mtype, ()):
        raise IssuerNotListed(
            f"the trust anchor lists {list(trust_mark_issuers.get(str(mtype), ()))} as issuers of "
            f"{show(mtype)}, found a mark by {show(iss)}"
        )
    if trust_mark_owners is not None and mtype in trust_mark_owners:
        raise DelegationUnsupported(
            f"trust mark type {mtype} is delegated by its owner (trust_mark_owners); this "
            "gateway does not check delegations and accepts no mark of that type"
        )
    payload = _verified(
        token, issuer_keys.get(str(iss), ()), TRUST_MARK_TYP, MAX_TRUST_MARK_LENGTH,
        f"trust mark of type {mtype} by {iss}",
    )  # fmt: skip
    claims = _claims(payload)
    if claims["sub"] != expected_sub:
        raise WrongSubject(
            f"trust mark of type {mtype} is about {claims['sub']}, expected {expected_sub} "
            "(the entity that carries it)"
        )
    if claims["iat"] > now + MAX_CLOCK_SKEW:
        raise MalformedTrustMark(f"trust mark issued at {claims['iat']}, in the future (now {now})")
    mark = TrustMark(**claims, token=token)
    if mark.is_expired(now):
        raise TrustMarkExpired(f"trust mark of type {mtype} expired at {mark.exp}, now is {now}")
    return mark


# --- §8.4 Trust Mark Status -------------------------------------------------------------------


def sign_trust_mark_status(
    *, iss: str, iat: int, trust_mark: str, status: str, key: SigningKey
) -> str:
    """§8.4.2: the issuer's signed answer about one mark it issued."""
    if status not in TRUST_MARK_STATUSES:
        raise MalformedTrustMark(f"status must be one of {TRUST_MARK_STATUSES}, found {status!r}")
    payload = {"iss": iss, "iat": iat, "trust_mark": trust_mark, "status": status}
    return sign_compact(payload, key, typ=TRUST_MARK_STATUS_TYP)


def verify_trust_mark_status(
    token: str, *, keys: Sequence[PublicKey], expected_iss: str, trust_mark: str, now: int
) -> str:
    """The ``status`` the issuer ``expected_iss`` signed (with one of ``keys``) for exactly
    ``trust_mark``; a response about another mark or from another issuer is refused."""
    payload = _verified(
        token, keys, TRUST_MARK_STATUS_TYP, MAX_STATUS_LENGTH,
        f"trust mark status response by {expected_iss}",
    )  # fmt: skip
    status, iat = payload.get("status"), payload.get("iat")
    if (
        payload.get("iss") != expected_iss
        or payload.get("trust_mark") != trust_mark
        or not isinstance(status, str)
        or not is_time(iat)
        or iat > now + MAX_CLOCK_SKEW
    ):
        raise MalformedTrustMark(
            f"expected a status response by {expected_iss} about the mark asked for, found one "
            f"by {show(payload.get('iss'))} with status {show(status)}"
        )
    return status


@dataclass(frozen=True)
class MarkCheck:
    """One carried verifier-role mark, and either what it grants or why it grants nothing."""

    trust_mark_type: str
    role: str
    mark: TrustMark | None = None
    error: EcertError | None = None  # a TrustMarkError, or why its status could not be had


def check_role_marks(
    marks: Sequence[tuple[str, str]], *, anchor: EntityStatement, subject: str, now: int
) -> list[MarkCheck]:
    """The verifier-role marks among an entity's ``trust_marks``, each verified (§7.3) against
    ``anchor``: the trust anchor's configuration, verified with its pinned keys. Marks of other
    types are left out; a mark that fails is returned with its error, never raised. The anchor
    issues role marks itself, so its own keys are the issuer keys. Revocation is the caller's
    (it needs the status endpoint, :func:`verify_trust_mark_status`)."""
    checks = []
    for mtype, token in marks[:MAX_TRUST_MARKS]:
        role = role_of_mark_type(anchor.sub, mtype)
        if role is None:
            continue
        try:
            mark = verify_trust_mark(
                token,
                trust_mark_issuers=anchor.trust_mark_issuers,
                trust_mark_owners=anchor.trust_mark_owners,
                issuer_keys={anchor.sub: anchor.jwks},
                expected_sub=subject,
                expected_type=mtype,
                now=now,
            )
        except TrustMarkError as exc:
            checks.append(MarkCheck(mtype, role, error=exc))
            continue
        if mark.role is None:
            error = MalformedTrustMark(f"a {mtype} mark must carry its {ROLE_CLAIM} claim")
            checks.append(MarkCheck(mtype, role, error=error))
            continue
        checks.append(MarkCheck(mtype, role, mark=mark))
    return checks
