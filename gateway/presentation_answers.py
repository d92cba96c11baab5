"""A wallet answers a counter's request (OpenID4VP 1.0 §8.2, ``direct_post``): the response
endpoint :func:`answer`, and the stored result a counter reads (:func:`result_of`).

:func:`answer` refuses, without touching the request, an unknown or expired request, a wrong
``state``, a malformed ``vp_token`` and a presentation whose KB-JWT names another nonce than
this request's (a presentation made for another request). Anything else is verified
(:func:`verify.presentation.verify_presentation`, against this gateway's live trust state and
status lists) and the result stored by one conditional UPDATE that requires the request
unanswered and unexpired: the request is answered once, a replay finds no row to change.

Deliberately not here: making requests (``gateway.presentations``), HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from sqlalchemy import update

from gateway import audit, use_reports
from gateway.core import Gateway
from gateway.errors import NotFound
from gateway.federation import config, verifier_entity_id
from gateway.freshness import verifier_bound
from gateway.models import PresentationRequestRow, VerifierRow
from gateway.peers import HttpFetcher
from gateway.presentations import MAX_ID_LENGTH
from trust.oid4vp import (
    MAX_STATE,
    ResponseRefused,
    client_id,
    presentation_from_vp_token,
    unverified_kb_nonce,
)
from verify.presentation import PresentationResult, verify_presentation
from verify.result_json import freshness_json, iso

MAX_FORM_FIELDS = 8


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _unknown() -> ResponseRefused:
    return ResponseRefused(
        "invalid_request",
        "出示请求不存在、已过期（5 分钟）或已应答",
        "no such presentation request, or it expired (5 minutes) or was answered",
    )


def result_json(gw: Gateway, result: PresentationResult, credential_type: str) -> dict[str, Any]:
    """The stored (and shown) result of a presentation."""
    ctype = gw.types.get(credential_type)
    labels = {f.name: (f.label_zh, f.label_en) for f in ctype.fields}
    issuer = result.issuer
    return {
        "valid": result.valid,
        "reason": result.reason.value,
        "message": {"zh": result.message_zh, "en": result.message_en},
        "detail": result.detail[:500],
        "type": ctype.code,
        "type_name": {"zh": ctype.name_zh, "en": ctype.name_en},
        "fields": [
            {
                "name": name,
                "label": {
                    "zh": labels.get(name, (name, name))[0],
                    "en": labels.get(name, (name, name))[1],
                },
                "value": value,
            }
            for name, value in result.claims.items()
        ],
        "holder_binding": result.holder_bound,
        "issuer": None
        if issuer is None
        else {
            "id": issuer.id,
            "name": issuer.name,
            "chain": [{"name": c.name, "role": c.role, "id": c.id} for c in issuer.chain],
        },
        "checked_at": iso(result.checked_at),
        "status_as_of": iso(result.status_as_of),
        "freshness": freshness_json(
            checked_at=result.checked_at,
            trust_as_of=gw.state.trust.as_of,
            status_as_of=result.status_as_of,
            status_max_age=result.status_max_age,
        ),
        # Shown by an authorised delegate (委托用证): who, for what, until when, for whom.
        "delegation": None if result.delegation is None else result.delegation.as_json(),
    }


def answer(
    gw: Gateway, request_id: str, form: Mapping[str, str], *, fetcher: HttpFetcher | None = None
) -> dict[str, Any]:
    """Take a wallet's ``direct_post`` answer to request ``request_id``: ``{}`` when the
    presentation holds; :class:`ResponseRefused` when it is refused (stored as the request's
    result, reason code and all, unless the request itself was not the one answered).

    The use is recorded for the holder (:mod:`gateway.use_reports`): here when the credential
    is ours, else reported to its issuing gateway, tried at once through ``fetcher`` (bounded)
    and retried by the background loop."""
    now = gw.clock()
    if len(request_id) > MAX_ID_LENGTH or len(form) > MAX_FORM_FIELDS:
        raise _unknown()
    state = form.get("state", "")
    if not state or len(state) > MAX_STATE:
        raise ResponseRefused(
            "invalid_request", "缺少 state 参数", "expected the request's state, found none"
        )
    presentation = presentation_from_vp_token(form.get("vp_token", ""))
    with gw.sessions() as session:
        row = session.get(PresentationRequestRow, request_id)
        if row is None or row.expires_at <= now or row.answered_at is not None:
            raise _unknown()
        if not hmac.compare_digest(row.state.encode(), state.encode()):
            raise ResponseRefused(
                "invalid_request",
                "state 与出示请求不符",
                "expected the state of this request, found another",
            )
        nonce = unverified_kb_nonce(presentation)
        if nonce is None or not hmac.compare_digest(_hash(nonce), row.nonce_hash):
            raise ResponseRefused(
                "invalid_request",
                "出示不是为本次请求所作（nonce 不符或缺少持证人绑定）",
                "expected a KB-JWT with this request's nonce, found another nonce or none",
            )
        audience = client_id(verifier_entity_id(config(session).entity_id, row.verifier_id))
        entity_id = config(session).entity_id
        credential_type, fields = row.credential_type, list(row.fields)
        verifier_id, purpose = row.verifier_id, row.purpose
        counter = session.get(VerifierRow, verifier_id)
        bound = verifier_bound(gw, counter.role if counter is not None else None)
    # A presentation is rare beside QR scans: ask the shared version once, so a revocation
    # another process (the CLI, another replica) just committed is seen now, not after the
    # next poll.
    gw.live.refresh_if_changed()
    state_now = gw.state
    result = verify_presentation(
        presentation,
        audience=audience,
        nonce=nonce,
        credential_type=credential_type,
        requested=fields,
        trust=state_now.trust,
        statuses=state_now.statuses,
        local_entity_id=entity_id,
        now=now,
        purpose=purpose,
        max_status_age=bound,
    )
    shown = result_json(gw, result, credential_type)
    with gw.transaction() as session:
        done = session.execute(
            update(PresentationRequestRow)
            .where(
                (PresentationRequestRow.id == request_id)
                & PresentationRequestRow.answered_at.is_(None)
                & (PresentationRequestRow.expires_at > now)
            )
            .values(answered_at=now, reason_code=result.reason.value, result=shown)
        )
        if getattr(done, "rowcount", 0) != 1:
            raise _unknown()
        audit.record(session, at=now, actor="wallet", action="presentation.answer",
                     subject=request_id, reason=result.reason.value)  # fmt: skip
        report = use_reports.record(
            gw, session, verifier_id=verifier_id, purpose=purpose, presentation=presentation,
            result=result, now=now,
        )  # fmt: skip
    if report is not None and fetcher is not None:
        use_reports.deliver(gw, fetcher, report, deadline=use_reports.DELIVER_NOW)
    if not result.valid:
        raise ResponseRefused(
            "access_denied",
            f"{result.message_zh}（{result.reason.value}）",
            f"{result.message_en} ({result.reason.value}): {result.detail[:300]}",
        )
    return {}


def result_of(gw: Gateway, request_id: str, *, verifier_id: str | None) -> dict[str, Any]:
    """What a counter asked and, once answered, the result; ``verifier_id`` (a counter's own
    key) limits it to that counter's requests, ``None`` (the operator's CLI) does not."""
    if len(request_id) > MAX_ID_LENGTH:
        raise NotFound("no such presentation request")
    now = gw.clock()
    with gw.sessions() as session:
        row = session.get(PresentationRequestRow, request_id)
        if row is None or (verifier_id is not None and row.verifier_id != verifier_id):
            raise NotFound(f"no presentation request {request_id!r} of this counter")
        if row.answered_at is not None:
            state = "answered"
        elif row.expires_at <= now:
            state = "expired"
        else:
            state = "pending"
        return {
            "id": row.id,
            "verifier": row.verifier_id,
            "state": state,
            "type": row.credential_type,
            "fields": list(row.fields),
            "reason": row.purpose,
            "created_at": iso(row.created_at),
            "expires_at": iso(row.expires_at),
            "answered_at": iso(row.answered_at),
            "result": row.result,
        }
