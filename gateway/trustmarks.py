"""Trust marks granting verifier roles (OpenID Federation 1.0 §7, §8.4-§8.6).

- At a **region trust anchor**: :func:`grant` signs a mark of type
  ``{anchor}/trust-marks/verifier-role/{role}`` for a counter of one of its approved cities,
  carrying what the role may request; :func:`revoke` withdraws it. The anchor lists itself as the
  issuer of every role type in its configuration's ``trust_mark_issuers``
  (:func:`trust_mark_issuers`) and answers the status endpoint (:func:`status_response`), the
  listing and the trust mark endpoint.
- At a **city**: :func:`attach` checks a mark for one of its counters (signed by the anchor it
  pinned, listed, about that counter, unexpired, still active) and stores it; the counter's Entity
  Configuration then carries it in ``trust_marks``. :func:`check_request` lets a counter ask for
  what its registered role, or a role one of its valid marks grants, allows.
- For both the city and the CLI wallet: :func:`evaluate` checks an entity's role marks against a
  trust anchor's verified configuration and asks the anchor's status endpoint about each (one
  bounded POST a mark). A status that cannot be had grants nothing: a mark widens what a counter
  may take from a holder, so without the issuer's word that it still stands, it does not.

Deliberately not here: delegated marks (§7.2), marks issued by anyone but the anchor, and
caching statuses (a counter asks beyond its role rarely; each such request asks afresh).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from gateway import audit, federation, verifiers
from gateway.core import Gateway
from gateway.errors import BadRequest, Conflict, NotFound
from gateway.models import IssuedTrustMarkRow, SubordinateRow, VerifierTrustMarkRow
from gateway.peers import HttpFetcher
from gateway.state import mark_changed
from gateway.trustsync import trust_anchors
from issuers.verifier_roles import VerifierRole
from trust.errors import DataError, EcertError, FetchError, FieldError
from trust.federation import (
    FEDERATION_ENTITY,
    DelegationUnsupported,
    EntityStatement,
    IssuerNotListed,
    MarkCheck,
    ResolvedChain,
    RoleGrant,
    TrustMarkError,
    TrustMarkExpired,
    TrustMarkRevoked,
    UntrustedTrustMark,
    WrongSubject,
    check_entity_id,
    check_role_marks,
    entity_configuration_url,
    role_mark_type,
    role_of_mark_type,
    sign_trust_mark,
    sign_trust_mark_status,
    verify_entity_statement,
    verify_trust_mark_status,
)
from trust.federation.common import same_origin, unverified_payload

MAX_DAYS = 3650
DEFAULT_DAYS = 365
MAX_LISTED = 1000
STATUS_ENDPOINT = "federation_trust_mark_status_endpoint"
FORM = "application/x-www-form-urlencoded"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _grant_of(role: VerifierRole) -> RoleGrant:
    return RoleGrant(
        code=role.code, name_zh=role.name_zh, name_en=role.name_en, may_request=role.may_request
    )


# --- at the region trust anchor -----------------------------------------------------------------


def trust_mark_issuers(gw: Gateway, anchor_id: str) -> dict[str, list[str]]:
    """The anchor's ``trust_mark_issuers``: itself, for the mark type of every role."""
    return {role_mark_type(anchor_id, r.code): [anchor_id] for r in verifiers.roles(gw.types)}


def _counter_of_a_city(session: Any, subject: str) -> None:
    cities = session.scalars(
        select(SubordinateRow.entity_id).where(
            SubordinateRow.kind == "city", SubordinateRow.status == "approved"
        )
    )
    if not any(subject.startswith(f"{city}/verifiers/") for city in cities):
        raise Conflict(
            f"授予对象应为本区域某城市的核验点 · expected a counter of one of this region's "
            f"approved cities ({{city}}/verifiers/{{id}}), found {subject}"
        )


def grant(
    gw: Gateway, *, subject: str, role: str, days: int = DEFAULT_DAYS, actor: str
) -> IssuedTrustMarkRow:
    """Anchor: sign a mark granting ``subject`` (a counter) the verifier role ``role``."""
    if not 1 <= days <= MAX_DAYS:
        raise FieldError.single(
            "days", "range", f"有效天数须为 1–{MAX_DAYS}",
            f"days must be from 1 to {MAX_DAYS}, found {days}",
        )  # fmt: skip
    granted = _grant_of(verifiers.roles(gw.types).get(role))
    try:
        check_entity_id(subject, "--subject")
    except DataError as exc:
        raise BadRequest(f"授予对象不是实体标识 · {exc}") from exc
    now = gw.clock()
    with gw.transaction() as session:
        fed = federation.config(session)
        if fed.role != federation.ANCHOR:
            raise Conflict(
                "只有区域信任锚可以授予信任标志 · only a region trust anchor grants roles"
            )
        _counter_of_a_city(session, subject)
        key, _ = federation.signing_key(gw, session, federation.SELF)
        mtype = role_mark_type(fed.entity_id, granted.code)
        token = sign_trust_mark(
            iss=fed.entity_id, sub=subject, trust_mark_type=mtype, iat=now,
            exp=now + days * 86_400, key=key, role=granted,
        )  # fmt: skip
        row = IssuedTrustMarkRow(
            id=f"tm-{secrets.token_hex(6)}", token_hash=_hash(token), subject=subject,
            trust_mark_type=mtype, role=granted.code, token=token, iat=now,
            exp=now + days * 86_400, issued_by=actor, revoked_at=None, revoked_by=None,
        )  # fmt: skip
        session.add(row)
        audit.record(session, at=now, actor=actor, action="trust_mark.grant", subject=subject,
                     id=row.id, role=granted.code, exp=row.exp)  # fmt: skip
        session.flush()
        session.expunge(row)
    return row


def list_granted(gw: Gateway) -> list[IssuedTrustMarkRow]:
    with gw.sessions() as session:
        rows = list(
            session.scalars(
                select(IssuedTrustMarkRow).order_by(IssuedTrustMarkRow.iat).limit(MAX_LISTED)
            )
        )
        for row in rows:
            session.expunge(row)
        return rows


def revoke(gw: Gateway, *, mark_id: str, actor: str) -> IssuedTrustMarkRow:
    """Anchor: withdraw a mark; its status becomes ``revoked`` (the same call again changes
    nothing)."""
    now = gw.clock()
    with gw.transaction() as session:
        row = session.get(IssuedTrustMarkRow, mark_id[:40])
        if row is None:
            raise NotFound(f"没有这个信任标志 · no trust mark {mark_id!r} was granted here")
        if row.revoked_at is None:
            row.revoked_at, row.revoked_by = now, actor
            audit.record(session, at=now, actor=actor, action="trust_mark.revoke",
                         subject=row.subject, id=row.id, role=row.role)  # fmt: skip
        session.flush()
        session.expunge(row)
    return row


def _issued(gw: Gateway, token: str) -> IssuedTrustMarkRow:
    with gw.sessions() as session:
        row = session.scalars(
            select(IssuedTrustMarkRow).where(IssuedTrustMarkRow.token_hash == _hash(token))
        ).first()
        if row is None:
            raise NotFound("this issuer did not issue that trust mark")
        session.expunge(row)
        return row


def status_response(gw: Gateway, token: str) -> str:
    """§8.4: the signed status of a mark this anchor issued (looked up by the mark itself,
    which is then byte for byte one it signed): ``revoked``, ``expired`` or ``active``."""
    row = _issued(gw, token)
    now = gw.clock()
    if row.revoked_at is not None:
        status = "revoked"
    elif row.exp is not None and now >= row.exp:
        status = "expired"
    else:
        status = "active"
    key = federation.own_signing_key(gw)
    with gw.sessions() as session:
        iss = federation.config(session).entity_id
    return sign_trust_mark_status(iss=iss, iat=now, trust_mark=token, status=status, key=key)


def _active(row: IssuedTrustMarkRow, now: int) -> bool:
    return row.revoked_at is None and (row.exp is None or now < row.exp)


def _active_marks(gw: Gateway, trust_mark_type: str, sub: str | None) -> list[IssuedTrustMarkRow]:
    """Unrevoked, unexpired marks of ``trust_mark_type`` (about ``sub``), newest first."""
    now = gw.clock()
    query = select(IssuedTrustMarkRow).where(IssuedTrustMarkRow.trust_mark_type == trust_mark_type)
    if sub is not None:
        query = query.where(IssuedTrustMarkRow.subject == sub)
    with gw.sessions() as session:
        rows = session.scalars(query.order_by(IssuedTrustMarkRow.iat.desc()).limit(MAX_LISTED))
        return [r for r in rows if _active(r, now)]


def marked_entities(gw: Gateway, *, trust_mark_type: str, sub: str | None = None) -> list[str]:
    """§8.5: the entities holding an active mark of ``trust_mark_type``."""
    return sorted({r.subject for r in _active_marks(gw, trust_mark_type, sub)})


def current_mark(gw: Gateway, *, trust_mark_type: str, sub: str) -> str:
    """§8.6: the newest active mark of ``trust_mark_type`` about ``sub``."""
    for row in _active_marks(gw, trust_mark_type, sub):
        return row.token
    raise NotFound(f"no active trust mark of type {trust_mark_type} about {sub}")


# --- checking marks against an anchor: the city and the wallet ---------------------------------


def anchor_statement(
    http: HttpFetcher, anchor_id: str, keys: Sequence[Any], now: int
) -> EntityStatement:
    """The anchor's configuration, fetched and verified with its pinned ``keys``: where its
    ``trust_mark_issuers`` and its status endpoint are read from."""
    body = http.fetch(entity_configuration_url(anchor_id))
    try:
        token = body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise DataError(f"expected a compact JWS from {anchor_id}, found other bytes") from exc
    return verify_entity_statement(
        token, keys=keys, now=now, expected_iss=anchor_id, expected_sub=anchor_id
    )


def mark_status(http: HttpFetcher, anchor: EntityStatement, token: str, now: int) -> str:
    """Ask the anchor's status endpoint (§8.4.1: POST ``trust_mark``) and verify its signed
    answer with the anchor's keys. Raises :class:`FetchError` when no answer can be had."""
    endpoint = anchor.metadata.get(FEDERATION_ENTITY, {}).get(STATUS_ENDPOINT)
    if not isinstance(endpoint, str) or not same_origin(endpoint, anchor.sub):
        raise FetchError(f"{anchor.sub} publishes no trust mark status endpoint of its own")
    answer = http.post_text(endpoint, urlencode({"trust_mark": token}), content_type=FORM)
    return verify_trust_mark_status(
        answer.strip(), keys=anchor.jwks, expected_iss=anchor.sub, trust_mark=token, now=now
    )


def evaluate(
    http: HttpFetcher, *, anchor: EntityStatement, subject: str, marks: Sequence[tuple[str, str]],
    now: int,
) -> list[MarkCheck]:  # fmt: skip
    """Each verifier-role mark of ``subject`` checked (§7.3) and, when it verifies, its status
    asked; a mark that is not ``active``, or whose status cannot be had, carries its error."""
    checks = []
    for check in check_role_marks(marks, anchor=anchor, subject=subject, now=now):
        if check.mark is not None:
            try:
                status = mark_status(http, anchor, check.mark.token, now)
            except (FetchError, DataError) as exc:
                check = replace(check, mark=None, error=exc)
            else:
                if status != "active":
                    error = TrustMarkRevoked(f"the issuer answers that the mark is {status}")
                    check = replace(check, mark=None, error=error)
        checks.append(check)
    return checks


def widen_by_marks(
    http: HttpFetcher,
    chain: ResolvedChain,
    meta: Mapping[str, Any],
    *,
    subject: str,
    credential_type: str,
    claims: Sequence[str],
    now: int,
) -> tuple[dict[str, Any], list[MarkCheck]]:
    """A wallet's view of a counter: its resolved ``ecert_verifier`` metadata with what the
    roles granted by its valid, active marks may request added to ``may_request``, when its own
    role does not cover ``claims`` of ``credential_type`` (else unchanged, and nothing fetched),
    and the checks made (to say which marks granted what and why others were ignored). The
    marks of ``subject`` (the counter ``chain`` resolves) are checked against the anchor ending
    ``chain``."""
    may_now = meta.get("may_request")
    may: dict[str, Any] = dict(may_now) if isinstance(may_now, Mapping) else {}
    marks = chain.chain.subject.trust_marks
    if not marks or set(claims) <= set(may.get(credential_type, [])):
        return dict(meta), []
    checks = evaluate(http, anchor=chain.chain.anchor, subject=subject, marks=marks, now=now)
    for check in checks:
        if check.mark is not None and check.mark.role is not None:
            for t, fields in check.mark.role.may_request.items():
                may[t] = sorted(set(may.get(t, [])) | fields)
    return {**meta, "may_request": may}, checks


_REASONS: Sequence[tuple[type[EcertError], str]] = (
    (TrustMarkExpired, "信任标志已过期"),
    (TrustMarkRevoked, "信任标志已撤销"),
    (UntrustedTrustMark, "信任标志签名无效"),
    (WrongSubject, "信任标志不是授予该核验点的"),
    (IssuerNotListed, "信任标志的签发者未获信任锚授权"),
    (DelegationUnsupported, "不接受委托签发的信任标志"),
    (FetchError, "无法查询信任标志状态"),
)


def reason(error: EcertError | None) -> tuple[str, str]:
    """Why a mark grants nothing, in Chinese and in English (the error's class and message)."""
    zh = next((text for cls, text in _REASONS if isinstance(error, cls)), "信任标志无效")
    return zh, f"{type(error).__name__}: {error}"


# --- at a city --------------------------------------------------------------------------------


def _pinned_anchor(gw: Gateway) -> tuple[str, list[Any]]:
    ((anchor_id, keys),) = trust_anchors(gw).items()
    return anchor_id, keys


def attach(
    gw: Gateway, http: HttpFetcher, *, verifier_id: str, token: str, actor: str
) -> MarkCheck:
    """City: check a role mark for one of its counters against the pinned anchor (signature,
    listed issuer, sub = the counter, unexpired, active) and store it."""
    now = gw.clock()
    with gw.sessions() as session:
        fed = federation.config(session)
        row = verifiers.get_verifier(session, verifier_id)
        subject = federation.verifier_entity_id(fed.entity_id, row.id)
    anchor_id, keys = _pinned_anchor(gw)
    anchor = anchor_statement(http, anchor_id, keys, now)
    mtype = _type_of(token)
    (check,) = evaluate(http, anchor=anchor, subject=subject, marks=[(mtype, token)], now=now) or [
        MarkCheck(mtype, "", error=TrustMarkError(f"not a verifier-role mark of {anchor_id}"))
    ]
    if check.mark is None:
        zh, en = reason(check.error)
        raise Conflict(f"{zh}，未保存 · trust mark refused, nothing stored: {en}")
    verifiers.roles(gw.types).get(check.role)  # a role this city knows
    with gw.transaction() as session:
        held = session.get(VerifierTrustMarkRow, (row.id, mtype))
        if held is None:
            held = VerifierTrustMarkRow(verifier_id=row.id, trust_mark_type=mtype, added_at=now)
            session.add(held)
        held.role, held.token, held.exp, held.added_at = check.role, token, check.mark.exp, now
        audit.record(session, at=now, actor=actor, action="verifier.trust_mark", subject=row.id,
                     type=mtype, role=check.role)  # fmt: skip
        change = mark_changed(session)
    gw.live.changed(change)
    return check


def _type_of(token: str) -> str:
    try:
        mtype = unverified_payload(token).get("trust_mark_type")
    except DataError as exc:
        raise BadRequest(f"不是信任标志 · expected a trust mark (compact JWS): {exc}") from exc
    if not isinstance(mtype, str):
        raise BadRequest("信任标志缺少 trust_mark_type · the trust mark names no trust_mark_type")
    return mtype


def held_marks(session: Any, verifier_id: str, now: int) -> list[tuple[str, str]]:
    """The unexpired marks a counter carries in its Entity Configuration's ``trust_marks``."""
    rows = session.scalars(
        select(VerifierTrustMarkRow)
        .where(VerifierTrustMarkRow.verifier_id == verifier_id)
        .order_by(VerifierTrustMarkRow.trust_mark_type)
    )
    return [(r.trust_mark_type, r.token) for r in rows if r.exp is None or now < r.exp]


def held_roles(gw: Gateway, session: Any, verifier_id: str) -> list[tuple[str, VerifierRole]]:
    """The roles a counter's unexpired marks of the pinned anchor would grant, by mark type:
    what it may ask beyond its registered role, *if* the mark still verifies and its status is
    active when it asks (:func:`check_request` checks that; this reads only what it carries)."""
    anchor_id, _keys = _pinned_anchor(gw)
    known = {r.code: r for r in verifiers.roles(gw.types)}
    held = []
    for trust_mark_type, _token in held_marks(session, verifier_id, gw.clock()):
        role = role_of_mark_type(anchor_id, trust_mark_type)
        if role is not None and role in known:
            held.append((trust_mark_type, known[role]))
    return held


def check_request(
    gw: Gateway, http: HttpFetcher | None, *, verifier_id: str, credential_type: str,
    fields: list[str],
) -> str | None:  # fmt: skip
    """Whether counter ``verifier_id`` may ask for ``fields`` of ``credential_type``: by its
    registered role (``None``), or by a valid, active role mark it holds (its type returned).
    Refused with the role's :class:`FieldError`, plus why each held mark did not help."""
    now = gw.clock()
    with gw.sessions() as session:
        row = verifiers.get_verifier(session, verifier_id)
        registered = verifiers.role_of(gw, row)
        marks = held_marks(session, row.id, now)
        subject = federation.verifier_entity_id(federation.config(session).entity_id, row.id)
    try:
        registered.check_request(credential_type, fields)
        return None
    except FieldError as refused:
        if not marks or http is None:
            raise
        errors = list(refused.errors)
    anchor_id, keys = _pinned_anchor(gw)
    try:
        anchor = anchor_statement(http, anchor_id, keys, now)
        checks = evaluate(http, anchor=anchor, subject=subject, marks=marks, now=now)
    except (FetchError, DataError) as exc:
        checks = [MarkCheck(t, "", error=exc) for t, _ in marks]
    table = verifiers.roles(gw.types)
    for check in checks:
        if check.mark is not None:
            try:
                table.get(check.role).check_request(credential_type, fields)
                return check.trust_mark_type
            except FieldError:
                continue
        zh, en = reason(check.error)
        errors.append(
            {
                "field": "trust_mark",
                "code": "trust_mark_not_valid",
                "message": f"{zh}：{check.trust_mark_type}",
                "message_en": f"the trust mark {check.trust_mark_type} grants nothing: {en}",
            }
        )
    raise FieldError(errors)


def may_see(
    gw: Gateway, http: HttpFetcher | None, *, verifier_id: str, credential_type: str
) -> frozenset[str]:
    """The fields of ``credential_type`` counter ``verifier_id`` may see by its effective role:
    its registered role's, and those of each role mark it holds whose role would see more and
    which verifies and is active now (asked through ``http``; without it, or when its issuer
    cannot be reached, the registered role's only: a mark never widens unchecked)."""
    now = gw.clock()
    with gw.sessions() as session:
        row = verifiers.get_verifier(session, verifier_id)
        fields = set(verifiers.role_of(gw, row).may_request.get(credential_type, ()))
        marks = dict(held_marks(session, row.id, now))
        wider = {
            mtype for mtype, role in held_roles(gw, session, row.id)
            if set(role.may_request.get(credential_type, ())) - fields
        }  # fmt: skip
        subject = federation.verifier_entity_id(federation.config(session).entity_id, row.id)
    if not wider or http is None:
        return frozenset(fields)
    anchor_id, keys = _pinned_anchor(gw)
    try:
        anchor = anchor_statement(http, anchor_id, keys, now)
        checks = evaluate(
            http, anchor=anchor, subject=subject, marks=[(t, marks[t]) for t in sorted(wider)],
            now=now,
        )  # fmt: skip
    except (FetchError, DataError):
        return frozenset(fields)
    table = verifiers.roles(gw.types)
    for check in checks:
        if check.mark is not None:
            fields |= table.get(check.role).may_request.get(credential_type, frozenset())
    return frozenset(fields)
