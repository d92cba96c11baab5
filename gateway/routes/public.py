"""Public documents any verifier or CDN may fetch: JWKS, status lists, health."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from gateway import keystore
from gateway.clock import iso
from gateway.deps import GatewayDep, SessionDep
from gateway.models import PeerDocumentRow, StatusListRow
from gateway.publish import StatusListPublisher

router = APIRouter(tags=["public 公开"])


JWK_SET_MEDIA_TYPE = "application/jwk-set+json"  # RFC 7517 §8.5.1


@router.get(
    "/.well-known/jwks.json",
    summary="Public credential keys 公钥集",
    response_class=Response,
    responses={200: {"content": {JWK_SET_MEDIA_TYPE: {}}}},
)
def jwks(gw: GatewayDep) -> Response:
    return Response(orjson.dumps(keystore.jwks(gw)), media_type=JWK_SET_MEDIA_TYPE)


@router.get("/statuslists", summary="Index of status lists 状态列表索引")
def list_status_lists(session: SessionDep) -> dict[str, Any]:
    rows = session.scalars(select(StatusListRow).order_by(StatusListRow.id))
    return {
        "status_lists": [
            {"id": r.id, "uri": r.uri, "agency_id": r.agency_id, "bits": r.bits, "size": r.size}
            for r in rows
        ]
    }


@router.get(
    "/statuslists/{list_id}",
    summary="Signed Token Status List 证照状态列表",
    response_class=Response,
    responses={200: {"content": {"application/statuslist+jwt": {}}}},
)
def status_list(list_id: int, request: Request, gw: GatewayDep) -> Response:
    publisher: StatusListPublisher = request.app.state.publisher
    signed = publisher.token(list_id)
    return Response(
        signed.token,
        media_type="application/statuslist+jwt",
        headers={"Cache-Control": f"public, max-age={gw.settings.status_ttl}"},
    )


@router.get("/healthz", summary="Health 健康检查")
def health(request: Request, gw: GatewayDep) -> dict[str, Any]:
    state = gw.state
    sync = request.app.state.sync_health
    with gw.sessions() as session:
        failing = [
            {"url": d.url, "failures": d.failures, "last_error": d.last_error,
             "last_error_at": iso(d.last_error_at), "last_good_at": iso(d.fetched_at)}
            for d in session.scalars(select(PeerDocumentRow).where(PeerDocumentRow.failures > 0))
        ]  # fmt: skip
    return {
        "federation": {
            "last_sync_at": iso(sync.last_sync_at),
            "trust_list_version": sync.last_version,
            "issuers_resolved": sync.leaves,
            "chain_failures": sync.failures,
            "consecutive_failures": sync.consecutive_failures,
            "last_error": sync.last_error,
            "peer_documents_failing": failing,
        },
        "status": "ok",
        "state_version": state.version,
        "state_built_at": iso(state.built_at),
        "issuers": len(state.trust.issuers),
        "keys": len(state.trust.keys),
        "status_lists": len(state.statuses),
    }
