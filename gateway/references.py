"""Reference codes (亮证码) within one city: a holder's wallet asks the issuing gateway for a
short-lived code for one delivered credential (:func:`create`), a counter of the same gateway
resolves it once, stating why (:func:`resolve`), and sees only what its role may see.

A code is 80 random bits written as 16 characters of RFC 4648 base32 (``A``-``Z``, ``2``-``7``).
The holder is shown, and the QR carries, its routable form: this city's region code before it
(``330100-ABCD-EFGH-JKLM-NP23``, :mod:`trust.reference_code`). Resolving takes either form and
ignores case, spaces and hyphens; a code of another city goes to that city's gateway
(:mod:`gateway.references_remote`), which answers through :mod:`gateway.reference_requests`.
It lives :data:`CODE_TTL` seconds (the setting ``ECERT_REFERENCE_TTL``), is stored only as its
SHA-256, and dies at first use: the resolving UPDATE requires it unused and unexpired.

What the counter sees is the stored credential's signed QR token verified against this
gateway's live trust state and status lists (:func:`verify.verifier.verify_scanned`: status,
issuer chain, freshness), and, when that holds, the fields of the credential its role may
request (incl. derived ones such as ``id_number_masked``; its role is the registered one and those
of its valid, active trust marks), in the shape of a presentation's
result (:func:`gateway.presentation_answers.result_json`). Every resolution is a row of
``reference_uses`` (counter entity, name, city, time, reason, field names; no values).

A counter that tries :data:`MAX_FAILURES` codes resolving nothing within :data:`FAILURE_WINDOW`
seconds is refused (429) until the oldest of them leaves the window. The count is kept in the
database, so every process of the city shares it; it holds at most :data:`MAX_FAILURES` rows a
counter, older rows being dropped as new ones come.

The holder reads a credential's records (:func:`uses`) with the same holder proof: at most
:data:`MAX_USES`, newest first, signed by this gateway's federation key (typ
:data:`USES_TYP`), so the wallet checks them against the gateway's entity configuration.

A paper code (:func:`create_paper`) is what a certificate printed at a 24-hour kiosk carries in
place of its data: the issuing agency asks for it, it lives up to :data:`MAX_PAPER_DAYS` days
(never past the credential's expiry), and every resolution by an authenticated counter is a use
(channel ``paper``); it is never spent.

A delegate's code (委托用证) names its delegated copy: it is refused when made for a delegation
that no longer stands, resolves against the delegation (:func:`verify.delegation.judge_scanned`:
DELEGATION_REVOKED / _EXPIRED / _OUT_OF_SCOPE) with the delegation in the answer, at this city's
counters and others' alike, and is recorded as a use of the original naming the delegate
(:mod:`gateway.delegated_copies`).

Deliberately not here: the web wallet's refreshing QR, recording presentations
(:mod:`gateway.use_reports`), HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from gateway import audit, delegated_copies, references_remote, trustmarks
from gateway.core import Gateway
from gateway.errors import Conflict, Forbidden, TooManyRequests, Unprocessable
from gateway.federation import SELF, config, signing_key, verifier_entity_id
from gateway.freshness import verifier_bound
from gateway.models import (
    CredentialRow,
    HolderProofIdRow,
    ReferenceCodeRow,
    ReferenceFailureRow,
    ReferenceUseRow,
    StatusListRow,
    WalletOfferRow,
)
from gateway.peers import HttpFetcher
from gateway.presentation_answers import result_json
from gateway.status import get_credential
from gateway.verifiers import Counter
from issuers.qr import render_png
from issuers.wallet_types import credential_claims
from trust.holder_proof import (
    USES_TYP,
    HolderProofRefused,
    check_holder_proof,
    read_holder_proof,
)
from trust.jws import sign_compact
from trust.reference_code import CODE_LENGTH, parse, routable
from verify.delegation import judge_scanned
from verify.presentation import PresentationResult
from verify.reasons import MESSAGES, Reason
from verify.result_json import freshness_json, iso
from verify.verifier import verify_scanned

CODE_TTL = 300  # seconds
CODE_BYTES = 10  # 80 bits
MAX_REASON = 200
MAX_FAILURES = 5
FAILURE_WINDOW = 60  # seconds
REFERENCE_RESOLVED = "reference.resolve"
MAX_USES = 100
PAPER_DAYS = 90  # a paper code's default life
MAX_PAPER_DAYS = 366
CHANNEL_CODE, CHANNEL_PAPER = "code", "paper"  # reference_uses.channel


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_code() -> str:
    return base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode()


@dataclass(frozen=True)
class _SpentInDatabase:
    """Holder proof ids, spent by inserting their hash: a second insert breaks the key."""

    gw: Gateway

    def spend(self, jti: str, *, until: int) -> bool:
        now = self.gw.clock()
        try:
            with self.gw.transaction() as session:
                session.execute(delete(HolderProofIdRow).where(HolderProofIdRow.expires_at < now))
                session.add(HolderProofIdRow(jti_hash=_hash(jti), expires_at=until))
        except IntegrityError:
            return False
        return True


def _not_delivered(kid: str) -> HolderProofRefused:
    return HolderProofRefused(
        "此证照未发放给该钱包密钥（或不是本网关签发的）",
        f"expected a credential of this gateway delivered to key {kid}, found none",
    )


def _proven(gw: Gateway, proof_token: object, now: int) -> tuple[str, str]:
    """The credential a holder proof names and the delivered wallet key it is bound to, the
    proof checked and spent: ``(credential id, holder kid)``."""
    proof = read_holder_proof(proof_token, audience=gw.public_url.rstrip("/"), now=now)
    with gw.sessions() as session:
        cred = session.scalars(
            select(CredentialRow)
            .join(StatusListRow, StatusListRow.id == CredentialRow.status_list_id)
            .where(
                (StatusListRow.uri == proof.credential.uri)
                & (CredentialRow.status_idx == proof.credential.idx)
            )
        ).first()
        kids = [] if cred is None else list(
            session.scalars(
                select(WalletOfferRow.holder_kid).where(
                    (WalletOfferRow.credential_id == cred.id)
                    & WalletOfferRow.delivered_at.is_not(None)
                )
            )
        )  # fmt: skip
    if cred is None or not kids:
        raise _not_delivered(proof.key.kid)
    bound = proof.key.kid if proof.key.kid in kids else str(kids[0])
    check_holder_proof(proof, holder_kid=bound, spent=_SpentInDatabase(gw))
    return cred.id, bound


def _code_answer(
    code: str, city_code: str, now: int, expires_at: int, *, paper: bool
) -> dict[str, Any]:
    text = routable(city_code, code)  # QR alphanumeric mode: digits, A-Z and '-'
    png = base64.b64encode(render_png(text)).decode()
    return {
        "code": code,
        "city_code": city_code,
        "display": text,
        "qr_text": text,
        "expires_at": iso(expires_at),
        "expires_in": expires_at - now,
        "qr_png": f"data:image/png;base64,{png}",
        "paper": paper,
    }


def _store_code(
    session: Any, credential_id: str, holder_kid: str, now: int, expires_at: int, *, paper: bool
) -> str:
    """A new code for ``credential_id``, stored by its hash; codes past their keeping dropped."""
    code = new_code()
    # Kept one lifetime past expiry (to answer REFERENCE_EXPIRED / _USED), then dropped.
    session.execute(delete(ReferenceCodeRow).where(ReferenceCodeRow.expires_at <= now - CODE_TTL))
    session.add(
        ReferenceCodeRow(
            code_hash=_hash(code), credential_id=credential_id, holder_kid=holder_kid,
            created_at=now, expires_at=expires_at, paper=paper,
        )
    )  # fmt: skip
    return code


def create(gw: Gateway, proof_token: object) -> dict[str, Any]:
    """A new code for the credential the holder proof names, bound to the proof's key."""
    now = gw.clock()
    credential_id, bound = _proven(gw, proof_token, now)
    until = now + gw.settings.reference_ttl
    with gw.transaction() as session:
        cred = session.get(CredentialRow, credential_id)
        if cred is not None:  # a delegate's code: only while its delegation stands
            delegated_copies.check_usable(session, cred, now)
        code = _store_code(session, credential_id, bound, now, until, paper=False)
        city_code = gw.city(session).code
        audit.record(session, at=now, actor="wallet", action="reference.create",
                     subject=credential_id, holder_kid=bound)  # fmt: skip
    return _code_answer(code, city_code, now, until, paper=False)


def create_paper(
    gw: Gateway, *, credential_id: str, agency_id: str | None, days: int = PAPER_DAYS
) -> dict[str, Any]:
    """A paper code (printed on a certificate in place of its data) for a valid credential of
    ``agency_id``: it lives ``days`` days, never past the credential's own expiry, and resolves
    any number of times, each resolution a use. Only authenticated counters resolve it."""
    if type(days) is not int or not 1 <= days <= MAX_PAPER_DAYS:
        raise Unprocessable(
            f"纸质亮证码有效天数应为 1 至 {MAX_PAPER_DAYS}",
            f"expected valid_days of 1 to {MAX_PAPER_DAYS}, found {days!r:.20}",
        )
    now = gw.clock()
    with gw.transaction() as session:
        row = get_credential(session, credential_id, agency_id)
        if row.delegated_from is not None:  # 委托用证: a copy is shown by its delegate only
            raise Conflict(
                "委托副本不能生成纸质亮证码 · expected a credential for a paper code, found a "
                f"delegated copy of {row.delegated_from}"
            )
        if row.status_code != "01":
            raise Conflict(
                f"证照状态为 {row.status_code}，不能生成纸质亮证码 · expected a valid credential "
                f"(01) for a paper code, found status {row.status_code}"
            )
        until = now + days * 86_400
        if row.valid_until is not None:
            until = min(until, row.valid_until)
        if until <= now:
            raise Conflict(
                f"证照已过有效期，不能生成纸质亮证码 · expected a credential valid after "
                f"{iso(now)}, found it valid until {iso(row.valid_until or now)}"
            )
        code = _store_code(session, row.id, f"agency:{row.agency_id}", now, until, paper=True)
        city_code = gw.city(session).code
        audit.record(session, at=now, actor=f"agency:{row.agency_id}",
                     action="reference.create_paper", subject=row.id, expires_at=until)  # fmt: skip
    return _code_answer(code, city_code, now, until, paper=True)


def _refused(reason: Reason, detail: str, now: int) -> dict[str, Any]:
    zh, en = MESSAGES[reason]
    return {
        "valid": False,
        "reason": reason.value,
        "message": {"zh": zh, "en": en},
        "detail": detail,
        "type": None,
        "type_name": None,
        "fields": [],
        "holder_binding": False,
        "issuer": None,
        "checked_at": iso(now),
        "status_as_of": None,
        "freshness": {"trust": None, "status": None},
        "delegation": None,
    }


def _throttle(gw: Gateway, counter_id: str, now: int) -> None:
    with gw.transaction() as session:
        session.execute(
            delete(ReferenceFailureRow).where(ReferenceFailureRow.at <= now - FAILURE_WINDOW)
        )
        count, oldest = session.execute(
            select(func.count(), func.min(ReferenceFailureRow.at)).where(
                ReferenceFailureRow.verifier_id == counter_id
            )
        ).one()
    if count >= MAX_FAILURES:
        wait = max(1, int(oldest) + FAILURE_WINDOW - now)
        raise TooManyRequests(
            f"错误的亮证码过多（{FAILURE_WINDOW} 秒内 {count} 次），请 {wait} 秒后再试",
            f"expected at most {MAX_FAILURES} wrong codes in {FAILURE_WINDOW} s, found {count}; "
            f"retry in {wait} s",
            retry_after=wait,
        )


def _failed(gw: Gateway, counter_id: str, reason: Reason, detail: str, now: int) -> dict[str, Any]:
    with gw.transaction() as session:
        session.add(ReferenceFailureRow(verifier_id=counter_id, at=now))
    return _refused(reason, detail, now)


def _check_reason(purpose: str) -> str:
    purpose = purpose.strip()
    if not purpose or len(purpose) > MAX_REASON:
        raise Unprocessable(
            f"请填写用证事由（1 至 {MAX_REASON} 个字符）",
            f"expected a reason of 1 to {MAX_REASON} characters, found {len(purpose)}",
        )
    return purpose


@dataclass(frozen=True)
class Asker:
    """Who resolves a code: a counter of this city (``local``: its wrong codes are counted
    here), or a counter of another city asking through its gateway (counted there)."""

    verifier_id: str  # the counter's own id (``vf-…``), at most 40 characters
    entity: str
    name: str
    city_name: str
    city_code: str
    local: bool = True

    @property
    def actor(self) -> str:
        return f"verifier:{self.verifier_id}" if self.local else f"peer-verifier:{self.verifier_id}"


REFERENCE_FAILURES = frozenset({Reason.REFERENCE_UNKNOWN.value, Reason.REFERENCE_EXPIRED.value,
                                Reason.REFERENCE_USED.value})  # fmt: skip


def resolve(
    gw: Gateway, counter: Counter, typed: str, purpose: str, *, fetcher: HttpFetcher | None = None
) -> dict[str, Any]:
    """Resolve a code once for ``counter``, stating ``purpose``: the result (always a reason
    code: REFERENCE_UNKNOWN / REFERENCE_EXPIRED / REFERENCE_USED, or the verification's). A
    code in the routable form of another city is asked of that city's gateway through
    ``fetcher`` (:mod:`gateway.references_remote`). What the counter may see is what its
    effective role may request: its registered role and the roles of its valid, active trust
    marks (checked through ``fetcher``; without one, the registered role only)."""
    purpose = _check_reason(purpose)
    now = gw.clock()
    _throttle(gw, counter.id, now)
    typed_code = parse(typed)
    if typed_code is None:
        return _failed(gw, counter.id, Reason.REFERENCE_UNKNOWN,
                       f"expected {CODE_LENGTH} base32 characters, optionally after a six-digit "
                       f"region code, found {len(typed)} characters", now)  # fmt: skip
    with gw.sessions() as session:
        city = gw.city(session)
        entity = verifier_entity_id(config(session).entity_id, counter.id)
        asker = Asker(verifier_id=counter.id, entity=entity, name=counter.name,
                      city_name=city.name, city_code=city.code)  # fmt: skip
    if typed_code.city_code not in (None, asker.city_code):
        shown = references_remote.ask(
            gw, fetcher, counter, asker.entity, typed_code, purpose, now
        )  # fmt: skip
        if shown is None:
            return _failed(gw, counter.id, Reason.REFERENCE_UNKNOWN,
                           f"no city with region code {typed_code.city_code} in this gateway's "
                           "federation", now)  # fmt: skip
        if isinstance(shown, references_remote.Refusal):
            shown = _refused(shown.reason, shown.detail, now)
        if shown["reason"] in REFERENCE_FAILURES:  # counted here, where the counter is
            with gw.transaction() as session:
                session.add(ReferenceFailureRow(verifier_id=counter.id, at=now))
        return shown

    def may_see(credential_type: str) -> frozenset[str]:
        return trustmarks.may_see(
            gw, fetcher, verifier_id=counter.id, credential_type=credential_type
        )

    return resolve_code(gw, asker, typed_code.code, purpose, now=now, may_see=may_see,
                        max_status_age=verifier_bound(gw, counter.role))  # fmt: skip


def resolve_code(
    gw: Gateway, asker: Asker, code: str, purpose: str, *, now: int,
    may_see: Callable[[str], frozenset[str]], accepted: frozenset[str] | None = None,
    max_status_age: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Resolve the bare ``code`` of this gateway once for ``asker``: shown are the fields of the
    credential's type that ``may_see`` allows (none: :class:`Forbidden`, the code unused). With
    ``accepted`` (the types the asking side's policy accepts), a credential of another type
    answers NOT_ACCEPTED_BY_POLICY and the code stays unused."""

    def failed(reason: Reason, detail: str) -> dict[str, Any]:
        if asker.local:
            return _failed(gw, asker.verifier_id, reason, detail, now)
        return _refused(reason, detail, now)

    with gw.sessions() as session:
        row = session.get(ReferenceCodeRow, _hash(code))
        if row is None:
            return failed(Reason.REFERENCE_UNKNOWN, "no such code")
        paper = row.paper
        if row.used_at is not None:
            used = f"expected an unused code, found it used at {iso(row.used_at)}"
            return failed(Reason.REFERENCE_USED, used)
        if row.expires_at <= now:
            return failed(Reason.REFERENCE_EXPIRED,
                          f"expected a code valid at {iso(now)}, found it expired at "
                          f"{iso(row.expires_at)}")  # fmt: skip
        cred = session.get(CredentialRow, row.credential_id)
        if cred is None:  # a foreign key holds it
            raise LookupError(f"code names credential {row.credential_id}, not found")
        token, ctype_code, subject, credential_id = cred.token, cred.type, cred.subject, cred.id
        delegated = delegated_copies.of_copy(session, cred)
        if delegated is not None:  # the use is the original's, naming the delegate
            credential_id = delegated.original.id
    if accepted is not None and ctype_code not in accepted:
        shown_types = ", ".join(sorted(accepted)) or "none"
        return _refused(Reason.NOT_ACCEPTED_BY_POLICY,
                        f"the asking side's policy does not accept {ctype_code!r} from this "
                        f"city (it accepts {shown_types}); the code stays unused", now)  # fmt: skip
    ctype = gw.types.get(ctype_code)
    # A public record (a business licence) has nothing to withhold: every counter sees it all.
    # A personal one shows what the counter's role may see of it.
    allowed = frozenset(f.name for f in ctype.fields) if not ctype.personal else may_see(ctype_code)
    if not allowed:
        raise Forbidden(
            f"核验点的角色不能查看 {ctype_code} · the counter {asker.name} ({asker.entity}) may "
            f"see nothing of a {ctype_code} by its role or its trust marks"
        )
    gw.live.refresh_if_changed()  # a revocation another process just committed is seen now
    state = gw.state
    # Our own credential row is the issuance record: a compromised key's token it holds is ours.
    checked = verify_scanned(
        token, trust=state.trust, statuses=state.statuses, now=now,
        confirmed={hashlib.sha256(token.encode()).digest()}, max_status_age=max_status_age,
    )  # fmt: skip
    reason, detail = checked.reason, checked.detail
    if delegated is not None:
        reason, detail = judge_scanned(
            reason, detail, delegated.claim, copy=delegated.copy_ref, issuer=checked.issuer,
            statuses=state.statuses, purpose=purpose, now=now,
        )  # fmt: skip
    claims, _ = credential_claims(ctype, subject)
    shown = {n: v for n, v in claims.items() if n in allowed} if reason is Reason.VALID else {}
    answer = PresentationResult(
        reason, detail, now, shown, True, checked.issuer, checked.status_as_of,
        None if delegated is None else delegated.claim, checked.status_max_age,
    )  # fmt: skip
    out = result_json(gw, answer, ctype_code)
    out["freshness"] = freshness_json(
        checked_at=now,
        trust_as_of=checked.trust_as_of,
        status_as_of=checked.status_as_of,
        status_max_age=checked.status_max_age,
    )
    with gw.transaction() as session:
        # A paper code is not spent (each resolution is a use); a dynamic one dies here.
        done = session.execute(
            update(ReferenceCodeRow)
            .where(
                (ReferenceCodeRow.code_hash == _hash(code))
                & ReferenceCodeRow.used_at.is_(None)
                & (ReferenceCodeRow.expires_at > now)
            )
            .values(used_at=None if paper else now, used_by=asker.verifier_id)
        )
        if getattr(done, "rowcount", 0) != 1:
            # Lost a race for a real code: not a wrong code, so not counted for throttling.
            return _refused(Reason.REFERENCE_USED, "resolved by another request just now", now)
        session.add(
            ReferenceUseRow(
                credential_id=credential_id, verifier_id=asker.verifier_id,
                verifier_entity=asker.entity, verifier_name=asker.name,
                city_name=asker.city_name, city_code=asker.city_code, at=now, purpose=purpose,
                fields=list(shown), reason_code=reason.value,
                channel=CHANNEL_PAPER if paper else CHANNEL_CODE,
                delegation_id=None if delegated is None else delegated.row.id,
                delegate_name=None if delegated is None else delegated.row.delegate_name,
            )
        )  # fmt: skip
        audit.record(session, at=now, actor=asker.actor, action=REFERENCE_RESOLVED,
                     subject=credential_id, reason=reason.value,
                     verifier_entity=asker.entity)  # fmt: skip
    return out


def uses(gw: Gateway, proof_token: object) -> str:
    """The use records of the credential the holder proof names, newest first (at most
    :data:`MAX_USES`), as a JWS of this gateway's federation key."""
    now = gw.clock()
    credential_id, bound = _proven(gw, proof_token, now)
    with gw.sessions() as session:
        rows = session.scalars(
            select(ReferenceUseRow)
            .where(delegated_copies.use_scope(session, credential_id))
            .order_by(ReferenceUseRow.at.desc(), ReferenceUseRow.id.desc())
            .limit(MAX_USES)
        ).all()
        entity = config(session).entity_id
        key, _ = signing_key(gw, session, SELF)
        records = [
            {
                "counter": r.verifier_name, "counter_entity": r.verifier_entity,
                "city": r.city_name, "city_code": r.city_code, "at": iso(r.at),
                "reason": r.purpose, "fields": list(r.fields), "reason_code": r.reason_code,
                "channel": r.channel,
                "shown_by": delegated_copies.shown_by(r),
            }
            for r in rows
        ]  # fmt: skip
    payload = {"iss": entity, "sub": bound, "iat": now, "credential_id": credential_id,
               "uses": records}  # fmt: skip
    return sign_compact(payload, key, typ=USES_TYP)
