"""The issuing side of a reference code resolved in another city: another city's gateway asks
this one (``POST /federation/reference_resolve``) for one of its counters.

Who asks is decided from the federation, never from the message alone
(:func:`gateway.peer_sender.sender`: a member known here, the counter's chain to our anchors
through its city, the city's federation keys from that chain).

:func:`answer` then checks the request's signature with those keys (audience, times), spends
its ``jti`` once (the holder proof id store, prefixed), checks the role it states is the
counter's, and resolves the code as for a local counter (:func:`gateway.references.resolve_code`)
with what the counter's role may see (its metadata's ``may_request``, widened by its valid,
active trust marks: :func:`gateway.trustmarks.widen_by_marks`) and the types the asking side
accepts: a type it does not accept answers NOT_ACCEPTED_BY_POLICY, nothing shown, the code
unused. The use is recorded (``reference_uses``, channel ``code``) with an audit entry. The
answer (:class:`trust.reference_request.ReferenceAnswer`) is signed with this gateway's
federation key, for the asking city, naming the request's ``jti``.

Refusals are :class:`gateway.errors.Unprocessable` (400 ``invalid_request`` at the federation
endpoint, with zh-CN and English); a role that may see nothing is :class:`Forbidden` (403).

Deliberately not here: the asking side (:mod:`gateway.references_remote`), HTTP.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from gateway import trustmarks
from gateway.core import Gateway
from gateway.errors import Unprocessable
from gateway.federation import (
    CITY,
    SELF,
    agency_entity_id,
    config,
    signing_key,
)
from gateway.freshness import verifier_bound
from gateway.models import HolderProofIdRow
from gateway.peer_sender import read_signed
from gateway.peers import HttpFetcher
from gateway.references import Asker, resolve_code
from trust.reference_code import parse
from trust.reference_request import ReferenceAnswer, read_request

SPENT_PREFIX = "reference-request:"  # in holder_proof_ids, apart from holder proofs' ids


def _refuse(zh: str, en: str) -> Unprocessable:
    return Unprocessable(zh, en)


def _spend(gw: Gateway, city: str, jti: str, until: int) -> bool:
    now = gw.clock()
    try:
        with gw.transaction() as session:
            session.execute(delete(HolderProofIdRow).where(HolderProofIdRow.expires_at < now))
            key = hashlib.sha256(f"{SPENT_PREFIX}{city} {jti}".encode()).hexdigest()
            session.add(HolderProofIdRow(jti_hash=key, expires_at=until))
    except IntegrityError:
        return False
    return True


def answer(gw: Gateway, fetcher: HttpFetcher, token: str) -> str:
    """Resolve the code another city's request names, for its counter: the signed answer."""
    now = gw.clock()
    with gw.sessions() as session:
        fed = config(session)
        own, role = fed.entity_id, fed.role
    if role != CITY:
        raise _refuse(
            "只有城市网关签发亮证码", "expected a city gateway, this is a region's anchor"
        )
    request, who = read_signed(
        gw, fetcher, token, now, lambda t, keys: read_request(t, keys, audience=own, now=now)
    )
    city, counter, chain, meta = who.city, who.counter, who.chain, who.meta
    if not _spend(gw, city, request.jti, request.exp):
        raise _refuse("网关间请求已使用过（重放）", f"expected an unused jti, found {request.jti}")
    if request.role != meta.get("role"):
        raise _refuse("请求所述角色与核验点登记的角色不符",
                      f"expected role {meta.get('role')!r} (the counter's metadata), found "
                      f"{request.role!r}")  # fmt: skip
    typed = parse(request.code)
    with gw.sessions() as session:
        city_code = gw.city(session).code
    if typed is None or typed.city_code not in (None, city_code):
        raise _refuse("亮证码格式无效", f"expected a code of this city ({city_code})")
    asker = Asker(
        verifier_id=counter.rsplit("/", 1)[-1][:40], entity=counter,
        name=str(meta.get("organization_name") or counter)[:128],
        city_name=str(meta.get("city_name") or "")[:64],
        city_code=str(meta.get("city_code") or "")[:6], local=False,
    )  # fmt: skip

    def may_see(credential_type: str) -> frozenset[str]:
        names = [f.name for f in gw.types.get(credential_type).fields]
        widened, _ = trustmarks.widen_by_marks(
            fetcher, chain, meta, subject=counter, credential_type=credential_type,
            claims=names, now=now,
        )  # fmt: skip
        may = widened.get("may_request")
        fields = may.get(credential_type, []) if isinstance(may, dict) else []
        return frozenset(f for f in fields if isinstance(f, str))

    out = resolve_code(
        gw, asker, typed.code, request.reason, now=now, may_see=may_see,
        accepted=request.accepted_types, max_status_age=verifier_bound(gw, request.role),
    )  # fmt: skip
    issuer = out.get("issuer")
    issuer_id = issuer["id"] if isinstance(issuer, dict) else None
    if isinstance(issuer_id, str) and "://" not in issuer_id:
        issuer_id = agency_entity_id(own, issuer_id)
    result = {
        "reason": out["reason"], "detail": out["detail"], "type": out["type"],
        "issuer_entity": issuer_id,
        "fields": {f["name"]: f["value"] for f in out["fields"]},
        "checked_at": out["checked_at"], "status_as_of": out["status_as_of"],
        "delegation": out.get("delegation"),  # shown by an authorised delegate (委托用证)
    }  # fmt: skip
    with gw.sessions() as session:
        key, _ = signing_key(gw, session, SELF)
    return ReferenceAnswer(own, city, now, request.jti, result).sign(key)
