"""Presentations recorded at the issuing gateway: every OpenID4VP presentation answered at one
of this city's counters is a use of the holder's credential (用证记录), recorded where the
holder reads them.

- :func:`record` (in the answer's own transaction): a credential this gateway issued (its
  status list is ours) gets a ``reference_uses`` row, channel ``presentation``, at once (a
  delegate's copy: a use of the original naming the delegate, :mod:`gateway.delegated_copies`);
  another city's gets a :class:`trust.reference_request.UseReport` signed with this gateway's
  federation key, kept in the ``use_reports`` outbox for the issuing city's gateway (the city
  link of the issuer's chain in this gateway's trust state: data held here, not the
  presentation's word).
- :func:`deliver` tries one report at once, bounded by :data:`DELIVER_NOW` seconds;
  :func:`deliver_due` (the background federation loop) retries those not delivered, each after
  a back-off doubling from :data:`FIRST_RETRY` to :data:`LAST_RETRY` seconds, and gives up on a
  report older than :data:`trust.reference_request.MAX_REPORT_AGE` (the issuer refuses it then).
- :func:`receive` (``POST /federation/use_report`` at the issuing gateway): the sending city and
  its counter are checked as for a reference request (:func:`gateway.peer_sender.sender`:
  a known member, the counter's chain to our anchors through that city, the city's keys from
  it), the report's signature, that the credential is ours and, when it was delivered to a
  wallet key, that the report carries that key and the holder's KB-JWT signed by it for this
  counter. Recorded once: the report's ``jti`` is spent in the same transaction as the record
  is written, so a report delivered twice is one record.

Only presentations whose credential signature verified are recorded (the issuer is then
known); the record holds field names, never values.

Deliberately not here: answering the presentation (:mod:`gateway.presentation_answers`), HTTP.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import audit, delegated_copies
from gateway.core import Gateway
from gateway.errors import Unprocessable
from gateway.federation import SELF, config, signing_key, verifier_entity_id
from gateway.models import (
    CredentialRow,
    HolderProofIdRow,
    ReferenceUseRow,
    StatusListRow,
    UseReportRow,
    VerifierRow,
    WalletOfferRow,
)
from gateway.peer_sender import read_signed
from gateway.peers import HttpFetcher
from trust.errors import DataError, FetchError
from trust.federation.common import unverified_payload
from trust.jws import verify_compact_with_key
from trust.keys import PublicKey
from trust.oid4vp import client_id
from trust.reference_request import (
    CLOCK_SKEW,
    MAX_REPORT_AGE,
    USE_REPORT_TYP,
    UseReport,
    new_jti,
    read_use_report,
)
from trust.sdjwt.core import KB_TYP, split
from trust.statuslist import StatusReference
from verify.presentation import PresentationResult

log = logging.getLogger("ecert.use_reports")
REPORT_PATH = "/federation/use_report"
REPORT_MEDIA_TYPE = f"application/{USE_REPORT_TYP}"
CHANNEL = "presentation"
DELIVER_NOW = 3.0  # seconds for the first try, while the counter waits
RETRY_DEADLINE = 5.0  # seconds for a try of the background loop
FIRST_RETRY, LAST_RETRY = 30, 3600  # seconds
BATCH = 50  # reports a background run tries
NEVER = 2**53  # next_attempt_at of a report given up
SPENT_PREFIX = "use-report:"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _credential(session: Session, ref: StatusReference) -> CredentialRow | None:
    return session.scalars(
        select(CredentialRow)
        .join(StatusListRow, StatusListRow.id == CredentialRow.status_list_id)
        .where((StatusListRow.uri == ref.uri) & (CredentialRow.status_idx == ref.idx))
    ).first()


def _parts(presentation: str) -> tuple[StatusReference, str, dict[str, Any] | None] | None:
    """The credential's status reference, the KB-JWT and the ``cnf`` key of a presentation
    whose signature was verified already."""
    try:
        parts = split(presentation)
        payload = unverified_payload(parts.issuer_jwt, max_length=len(parts.issuer_jwt))
        ref = StatusReference.from_claims(payload)
    except DataError:
        return None
    cnf = payload.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if ref is None or parts.kb_jwt is None:
        return None
    return ref, parts.kb_jwt, jwk if isinstance(jwk, dict) else None


def record(
    gw: Gateway, session: Session, *, verifier_id: str, purpose: str, presentation: str,
    result: PresentationResult, now: int,
) -> int | None:  # fmt: skip
    """Record a presentation answered at counter ``verifier_id`` (in the caller's transaction):
    the id of the use report to deliver, if one was queued."""
    parts = _parts(presentation) if result.issuer is not None else None
    if parts is None or result.issuer is None:
        return None
    ref, kb_jwt, holder_jwk = parts
    fed = config(session)
    city = gw.city(session)
    counter = session.get(VerifierRow, verifier_id)
    name = counter.name if counter is not None else verifier_id
    entity = verifier_entity_id(fed.entity_id, verifier_id)
    fields = list(result.claims)
    own = _credential(session, ref)
    if own is not None:
        session.add(
            ReferenceUseRow(
                verifier_id=verifier_id, verifier_entity=entity,
                verifier_name=name, city_name=city.name, city_code=city.code, at=now,
                purpose=purpose, fields=fields, reason_code=result.reason.value, channel=CHANNEL,
                **delegated_copies.attribution(session, own),
            )
        )  # fmt: skip
        return None
    issuing = [c.id for c in result.issuer.chain if c.role == "city" and "://" in c.id]
    if not issuing or not result.holder_bound:  # the issuer checks the KB-JWT: it must hold
        return None
    key, _ = signing_key(gw, session, SELF)
    body = UseReport(
        iss=fed.entity_id, aud=issuing[0], iat=now, jti=new_jti(), credential=ref,
        verifier_entity_id=entity, verifier_name=name, city_name=city.name,
        city_code=city.code, at=now, reason=purpose, fields=tuple(fields),
        reason_code=result.reason.value, kb_jwt=kb_jwt, holder_jwk=holder_jwk,
    ).sign(key)  # fmt: skip
    row = UseReportRow(to_entity=issuing[0], body=body, created_at=now, attempts=0,
                       next_attempt_at=now, delivered_at=None, last_error=None)  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def deliver(gw: Gateway, fetcher: HttpFetcher, report_id: int, *, deadline: float) -> bool:
    """Try to deliver one report now; whether it was (or had been) delivered."""
    now = gw.clock()
    with gw.sessions() as session:
        row = session.get(UseReportRow, report_id)
        if row is None or row.delivered_at is not None:
            return row is not None
        url, body, attempts, created = (
            row.to_entity + REPORT_PATH,
            row.body,
            row.attempts,
            row.created_at,
        )
    error: str | None = None
    try:
        status, answer = fetcher.post(url, body, content_type=REPORT_MEDIA_TYPE, deadline=deadline)
        if status != 200:
            error = f"HTTP {status}: {answer[:200].decode('utf-8', 'replace')}"
    except FetchError as exc:
        error = str(exc)
    with gw.transaction() as session:
        row = session.get(UseReportRow, report_id)
        if row is None or row.delivered_at is not None:
            return row is not None
        row.attempts = attempts + 1
        if error is None:
            row.delivered_at, row.last_error = now, None
            audit.record(session, at=now, actor="gateway", action="use_report.delivered",
                         subject=str(report_id), to=row.to_entity[:128])  # fmt: skip
            return True
        row.last_error = error[:300]
        if now - created > MAX_REPORT_AGE:
            row.next_attempt_at = NEVER
            audit.record(session, at=now, actor="gateway", action="use_report.abandoned",
                         subject=str(report_id), error=error[:200])  # fmt: skip
        else:
            row.next_attempt_at = now + min(LAST_RETRY, FIRST_RETRY * 2**attempts)
    return False


def deliver_due(gw: Gateway, fetcher: HttpFetcher, *, deadline: float = RETRY_DEADLINE) -> int:
    """Try the undelivered reports whose time has come (at most :data:`BATCH`); how many were
    delivered. A gateway that fails one is not tried again in this run: its other due reports
    wait as long as the one that failed (a peer that is down costs one try, not fifty)."""
    now = gw.clock()
    with gw.sessions() as session:
        due = list(
            session.execute(
                select(UseReportRow.id, UseReportRow.to_entity)
                .where(UseReportRow.delivered_at.is_(None) & (UseReportRow.next_attempt_at <= now))
                .order_by(UseReportRow.next_attempt_at)
                .limit(BATCH)
            )
        )
    delivered, failed = 0, set()
    for report_id, to_entity in due:
        if to_entity in failed:
            continue
        if deliver(gw, fetcher, report_id, deadline=deadline):
            delivered += 1
            continue
        with gw.transaction() as session:
            row = session.get(UseReportRow, report_id)
            if row is not None and row.next_attempt_at != NEVER:  # not given up: still trying
                failed.add(to_entity)
                session.execute(
                    update(UseReportRow)
                    .where(
                        (UseReportRow.to_entity == to_entity)
                        & UseReportRow.delivered_at.is_(None)
                        & (UseReportRow.next_attempt_at <= now)
                    )
                    .values(next_attempt_at=row.next_attempt_at)
                )
    return delivered


def _refuse(zh: str, en: str) -> Unprocessable:
    return Unprocessable(zh, en)


def _check_holder(session: Session, credential_id: str, report: UseReport, counter: str) -> None:
    """When the credential was delivered to a wallet key: the report names that key and its
    KB-JWT, signed by it, was made for this counter."""
    kids = set(
        session.scalars(
            select(WalletOfferRow.holder_kid).where(
                (WalletOfferRow.credential_id == credential_id)
                & WalletOfferRow.delivered_at.is_not(None)
            )
        )
    )
    if not kids:
        return
    try:
        key = PublicKey.from_jwk(dict(report.holder_jwk or {}))
    except DataError as exc:
        raise _refuse("用证回报缺少持证人密钥", f"expected the holder's key: {exc}") from exc
    if key.kid not in kids:
        raise _refuse(
            "出示所用的密钥不是此证照发放给的钱包密钥",
            f"expected one of the keys the credential was delivered to, found {key.kid}",
        )
    try:
        kb = verify_compact_with_key(report.kb_jwt, key, typ=KB_TYP).payload
    except DataError as exc:
        refused = f"expected a KB-JWT by the holder's key: {exc}"
        raise _refuse("持证人绑定无法核实", refused) from exc
    if kb.get("aud") != client_id(counter):
        raise _refuse(
            "持证人的出示不是给该核验点的",
            f"expected a KB-JWT for {client_id(counter)}, found {kb.get('aud')!r:.120}",
        )


def receive(gw: Gateway, fetcher: HttpFetcher, token: str) -> str:
    """Record a report of a use of one of our credentials: ``recorded`` or, delivered before,
    ``already_recorded``."""
    now = gw.clock()
    with gw.sessions() as session:
        own = config(session).entity_id
    report, who = read_signed(
        gw, fetcher, token, now, lambda t, keys: read_use_report(t, keys, audience=own, now=now)
    )
    city, counter, meta = who.city, who.counter, who.meta
    if not report.iat - MAX_REPORT_AGE <= report.at <= report.iat + CLOCK_SKEW:
        raise _refuse(
            "用证时间无效", f"expected the use at or before the report, found {report.at}"
        )
    try:
        with gw.transaction() as session:
            cred = _credential(session, report.credential)
            if cred is None:
                raise _refuse("此证照不是本网关签发的",
                              f"expected a credential of this gateway, found status "
                              f"{report.credential.uri}#{report.credential.idx}")  # fmt: skip
            _check_holder(session, cred.id, report, counter)
            session.execute(delete(HolderProofIdRow).where(HolderProofIdRow.expires_at < now))
            session.add(HolderProofIdRow(
                jti_hash=_hash(f"{SPENT_PREFIX}{city} {report.jti}"),
                expires_at=report.iat + MAX_REPORT_AGE + CLOCK_SKEW,
            ))  # fmt: skip
            session.add(
                ReferenceUseRow(
                    **delegated_copies.attribution(session, cred),
                    verifier_id=counter.rsplit("/", 1)[-1][:40],
                    verifier_entity=counter,
                    verifier_name=str(meta.get("organization_name") or report.verifier_name)[:128],
                    city_name=str(meta.get("city_name") or report.city_name)[:64],
                    city_code=str(meta.get("city_code") or report.city_code)[:6], at=report.at,
                    purpose=report.reason, fields=list(report.fields),
                    reason_code=report.reason_code, channel=CHANNEL,
                )
            )  # fmt: skip
            audit.record(
                session, at=now, actor=f"peer:{city}"[:80], action="presentation.reported",
                subject=cred.id, verifier_entity=counter, reason=report.reason_code,
            )  # fmt: skip
    except IntegrityError:  # its jti was spent: the same report, recorded before
        return "already_recorded"
    return "recorded"
