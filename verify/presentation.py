"""The pure presentation verifier: a wallet's SD-JWT VC presentation (OpenID4VP ``vp_token``) +
what the counter asked + trust snapshot + status lists + ``now`` → one reason code.

No I/O, never raises for bad input. The checks run in a fixed order; the first failure decides:

1. trust snapshot past its expiry                                  → TRUST_LIST_STALE
2. the SD-JWT VC (:func:`trust.sdjwt.vc.verify_credential`): a trusted key for the ``kid``
   hint, the signature, every Disclosure digest (no duplicates, none unreferenced), validity,
   and the KB-JWT: signed by the ``cnf`` key, ``aud`` = the counter's client id, the nonce it
   issued, ``iat`` within ±60 s, ``sd_hash``                       → UNKNOWN_ISSUER /
                                                                     BAD_SIGNATURE / MALFORMED /
                                                                     UNSUPPORTED / EXPIRED /
                                                                     NOT_YET_VALID /
                                                                     HOLDER_BINDING_FAILED
3. the signing key's owner is the ``iss`` the credential names, and its trust is current
                                                                   → UNKNOWN_ISSUER /
                                                                     TRUST_LIST_STALE
4. the type (``vct`` ends ``/vct/{type}``) is the one asked for    → UNSUPPORTED
5. the key was valid when the credential was issued               → KEY_NOT_VALID_AT_ISSUANCE
6. the issuer is authorised for the type, and this region's policy accepts it
                                                                   → ISSUER_NOT_AUTHORISED /
                                                                     NOT_ACCEPTED_BY_POLICY
7. exactly the requested fields disclosed                          → DISCLOSURE_NOT_REQUESTED /
                                                                     CLAIM_NOT_DISCLOSED
8. Token Status List (the same entry the QR token references)     → STATUS_UNAVAILABLE /
                                                                     REVOKED / SUSPENDED
9. a delegated copy (a ``delegation`` claim, :mod:`verify.delegation`): the delegating
   credential's entry, the copy's own, ``until``, the stated reason against the purposes
                                                                   → REVOKED / SUSPENDED /
                                                                     DELEGATION_REVOKED /
                                                                     DELEGATION_EXPIRED /
                                                                     DELEGATION_OUT_OF_SCOPE
   (an expired delegated copy answers DELEGATION_EXPIRED at step 2 already; a ``delegation``
   that is a Disclosure, or malformed, is MALFORMED)

Deliberately not here: which request a presentation answers, its ``state``, the nonce's single
use (the caller's records), and HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from trust import statuslist
from trust.errors import DataError
from trust.sdjwt import errors as sd
from trust.sdjwt.core import KeyBindingCheck, split
from trust.sdjwt.issue import SdJwt
from trust.sdjwt.vc import VerifiedCredential, verify_credential
from trust.snapshot import IssuerRecord, TrustSnapshot
from trust.statuslist import StatusSource
from verify.delegation import (
    CLAIM,
    Delegation,
    DelegationClaimError,
    check_delegated,
    expired_detail,
    in_payload,
)
from verify.freshness import strictest
from verify.reasons import MESSAGES, Reason
from verify.verifier import (
    JWS_ERRORS,
    _check_key_at_issuance,
    _Fail,
    _not_authorised,
    _refuse_status,
    _status_of,
    check_status_age,
    jws_failure,
)

VCT_PATH = "/vct/"
_BINDING = (
    sd.KeyBindingMissing,
    sd.UnexpectedKeyBinding,
    sd.KeyBindingBadSignature,
    sd.KeyBindingMalformed,
    sd.KeyBindingAudience,
    sd.KeyBindingNonce,
    sd.KeyBindingStale,
    sd.KeyBindingSdHash,
    sd.HolderKeyMismatch,
)


@dataclass(frozen=True)
class PresentationResult:
    """One reason code, the requested claims as disclosed (only when every check held), whether
    a KB-JWT proved the holder's key, the issuer as our trust data knows it."""

    reason: Reason
    detail: str
    checked_at: int
    claims: dict[str, Any] = field(default_factory=dict)
    holder_bound: bool = False
    issuer: IssuerRecord | None = None
    status_as_of: int | None = None
    delegation: Delegation | None = None  # shown by a delegate: whose, for what, until when
    status_max_age: int | None = None  # the bound on the status data's age that applied

    @property
    def valid(self) -> bool:
        return self.reason is Reason.VALID

    @property
    def message_zh(self) -> str:
        return MESSAGES[self.reason][0]

    @property
    def message_en(self) -> str:
        return MESSAGES[self.reason][1]


def expected_iss(issuer_id: str, local_entity_id: str) -> str:
    """The ``iss`` of an issuer's SD-JWT VCs: a peer's issuer is known by its entity id; one of
    our own agencies by its id, its entity id being ``{city}/agencies/{id}``."""
    if "://" in issuer_id:
        return issuer_id
    return f"{local_entity_id.rstrip('/')}/agencies/{issuer_id}"


def _open(
    presentation: str, trust: TrustSnapshot, expected: KeyBindingCheck, now: int
) -> VerifiedCredential:
    try:
        return verify_credential(
            presentation, issuer_keys=trust.public_keys, now=now, key_binding=expected
        )
    except JWS_ERRORS as exc:
        raise jws_failure(exc) from exc
    except _BINDING as exc:
        raise _Fail(Reason.HOLDER_BINDING_FAILED, str(exc)) from exc
    except sd.Expired as exc:
        # Raised once the signature held: the payload is the issuer's. A delegated copy's exp
        # is its delegation's until.
        delegation = _signed_delegation(presentation)
        if delegation is not None:
            raise _Fail(Reason.DELEGATION_EXPIRED, expired_detail(delegation)) from exc
        raise _Fail(Reason.EXPIRED, str(exc)) from exc
    except (sd.NotYetValid, sd.IssuedInFuture) as exc:
        raise _Fail(Reason.NOT_YET_VALID, str(exc)) from exc
    except DataError as exc:
        raise _Fail(Reason.MALFORMED, str(exc)) from exc


def _signed_delegation(presentation: str) -> Delegation | None:
    """The ``delegation`` of a presentation whose issuer signature was verified already."""
    try:
        return in_payload(SdJwt(split(presentation).issuer_jwt, ()).unverified_payload())
    except DataError:
        return None


def _delegation_of(cred: VerifiedCredential) -> Delegation | None:
    if CLAIM in cred.disclosed:
        raise _Fail(
            Reason.MALFORMED, "expected the delegation claim in plain view, found a Disclosure"
        )
    try:
        return in_payload(cred.claims)
    except DelegationClaimError as exc:
        raise _Fail(Reason.MALFORMED, str(exc)) from exc


def _type_of(vct: str) -> str:
    path = urlsplit(vct).path
    return path.rsplit(VCT_PATH, 1)[1] if VCT_PATH in path else ""


def verify_presentation(
    presentation: str,
    *,
    audience: str,
    nonce: str,
    credential_type: str,
    requested: Sequence[str],
    trust: TrustSnapshot,
    statuses: Mapping[str, StatusSource],
    local_entity_id: str,
    now: int,
    purpose: str = "",
    max_status_age: int | None = None,
) -> PresentationResult:
    """Verify a presentation made for the request with client id ``audience`` and ``nonce``,
    which asked for the claims ``requested`` of ``credential_type`` stating ``purpose`` (what a
    delegated copy's purposes are held to). ``max_status_age`` is the counter's bound on the
    age of status data (its role's, its gateway's); the type's applies too, the stricter wins
    (:mod:`verify.freshness`). Never raises."""
    issuer: IssuerRecord | None = None
    delegation: Delegation | None = None
    bound = False
    status_as_of: int | None = None  # known once the status list was read, whatever it says
    age_bound: int | None = None
    try:
        if trust.expires_at is not None and now >= trust.expires_at:
            raise _Fail(Reason.TRUST_LIST_STALE, f"trust data expired at {trust.expires_at}")
        expected = KeyBindingCheck(audience=audience, nonce=nonce)
        cred = _open(presentation, trust, expected, now)
        bound = cred.key_bound
        delegation = _delegation_of(cred)
        rec = trust.record_for(cred.issuer_key)
        issuer = trust.issuers[rec.issuer_id]
        if cred.issuer != expected_iss(issuer.id, local_entity_id):
            raise _Fail(
                Reason.UNKNOWN_ISSUER,
                f"expected iss {expected_iss(issuer.id, local_entity_id)} (the owner of key "
                f"{cred.issuer_key.kid}), found {cred.issuer[:200]}",
            )
        if issuer.expires_at is not None and now >= issuer.expires_at:
            raise _Fail(
                Reason.TRUST_LIST_STALE,
                f"the trust data for {issuer.name} expired at {issuer.expires_at}",
            )
        code = _type_of(cred.vct)
        if code != credential_type:
            raise _Fail(
                Reason.UNSUPPORTED,
                f"expected a {credential_type} (vct …{VCT_PATH}{credential_type}), "
                f"found vct {cred.vct[:200]}",
            )
        _check_key_at_issuance(rec, cred.issued_at, presentation.split("~", 1)[0], frozenset())
        if code not in issuer.types:
            raise _Fail(Reason.ISSUER_NOT_AUTHORISED, _not_authorised(issuer, code))
        if issuer.accepted is not None and code not in issuer.accepted:
            accepted = ", ".join(sorted(issuer.accepted)) or "none of its types"
            raise _Fail(
                Reason.NOT_ACCEPTED_BY_POLICY,
                f"policy {issuer.policy or '(unnamed)'} does not accept {code!r} from "
                f"{issuer.name} (it accepts {accepted})",
            )
        extra = sorted(cred.disclosed - set(requested))
        if extra:
            raise _Fail(
                Reason.DISCLOSURE_NOT_REQUESTED,
                f"expected Disclosures of {sorted(requested)} only, found also {extra}",
            )
        missing = [name for name in requested if name not in cred.claims]
        if missing:
            raise _Fail(Reason.CLAIM_NOT_DISCLOSED, f"expected {missing} disclosed, found none")
        if cred.status is None:
            raise _Fail(Reason.MALFORMED, "the credential has no status reference")
        ref = {"status": {"status_list": {"idx": cred.status.idx, "uri": cred.status.uri}}}
        ctype = next((t for t in trust.types.values() if t.code == code), None)
        type_bound = ctype.max_status_age if ctype is not None else None
        age_bound = strictest(type_bound, max_status_age)
        if delegation is None:
            status_as_of, value, idx, uri = _status_of(ref, issuer, statuses, now)
            if value != statuslist.VALID:
                _refuse_status(value, idx, uri)
        else:
            status_as_of = check_delegated(
                delegation, copy=cred.status, issuer=issuer, statuses=statuses,
                reason=purpose, now=now,
            )  # fmt: skip
        why = f"a {code}" if age_bound == type_bound else "this counter"
        check_status_age(status_as_of, now, bound=age_bound, uri=cred.status.uri, why=why)
    except _Fail as fail:
        if fail.reason is Reason.DELEGATION_EXPIRED and delegation is None:
            delegation = _signed_delegation(presentation)
        return PresentationResult(
            fail.reason, fail.detail, now, {}, bound, issuer, status_as_of, delegation, age_bound
        )
    return PresentationResult(
        Reason.VALID,
        "signature, disclosures, holder binding, issuer, policy and status all check out",
        now,
        {name: cred.claims[name] for name in requested},
        bound,
        issuer,
        status_as_of,
        delegation,
        age_bound,
    )
