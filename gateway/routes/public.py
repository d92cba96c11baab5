"""Public documents any verifier or CDN may fetch: JWKS, status lists, health.

The documents (not /healthz) are answered through :mod:`gateway.public_docs`: CORS,
``Cache-Control`` from their ``ttl``/``exp``, gzip, 406 for an ``Accept`` that excludes them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from gateway import keystore, public_docs
from gateway.clock import iso
from gateway.deps import GatewayDep, SessionDep
from gateway.models import PeerDocumentRow, StatusListRow
from gateway.publish import StatusListPublisher

router = APIRouter(tags=["public 公开"])
JWKS_MEDIA_TYPE = "application/jwk-set+json"  # RFC 7517 §8.5.1
STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"  # Token Status List §8.2


@router.get(
    "/.well-known/jwks.json",
    summary="Public credential keys 公钥集",
    response_class=Response,
    responses={200: {"content": {JWKS_MEDIA_TYPE: {}}}, 406: {}},
)
def jwks(request: Request, gw: GatewayDep) -> Response:
    # A client asking for plain JSON gets the same document, labelled as it asked.
    return public_docs.json_response(
        request,
        keystore.jwks(gw),
        now=gw.clock(),
        media_type=JWKS_MEDIA_TYPE,
        also=(public_docs.JSON,),
    )


@router.get(
    "/statuslists",
    summary="Index of status lists 状态列表索引",
    response_class=Response,
    responses={200: {"content": {public_docs.JSON: {}}}, 406: {}},
)
def list_status_lists(request: Request, gw: GatewayDep, session: SessionDep) -> Response:
    rows = session.scalars(select(StatusListRow).order_by(StatusListRow.id))
    index = {
        "status_lists": [
            {"id": r.id, "uri": r.uri, "agency_id": r.agency_id, "bits": r.bits, "size": r.size}
            for r in rows
        ]
    }
    return public_docs.json_response(request, index, now=gw.clock())


@router.get(
    "/statuslists/{list_id}",
    summary="Signed Token Status List 证照状态列表",
    response_class=Response,
    responses={200: {"content": {STATUS_LIST_MEDIA_TYPE: {}}}, 406: {}},
)
def status_list(list_id: int, request: Request, gw: GatewayDep) -> Response:
    public_docs.require_acceptable(request, STATUS_LIST_MEDIA_TYPE)
    publisher: StatusListPublisher = request.app.state.publisher
    signed = publisher.token(list_id)
    return public_docs.jwt_response(
        request, signed.token, media_type=STATUS_LIST_MEDIA_TYPE, now=gw.clock()
    )


public_docs.allow_preflight(
    router, ["/.well-known/jwks.json", "/statuslists", "/statuslists/{list_id}"]
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
