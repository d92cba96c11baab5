"""Public documents any verifier or CDN may fetch: JWKS, status lists, health.

The documents (not /healthz) are answered through :mod:`gateway.public_docs`: CORS,
``Cache-Control`` from their ``ttl``/``exp``, gzip, 406 for an ``Accept`` that excludes them."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from gateway import keystore, public_docs, trustsync, witness_views
from gateway.clock import iso
from gateway.deps import GatewayDep, LimiterDep, PublisherDep, SyncHealthDep

router = APIRouter(tags=["public 公开"])
JWKS_MEDIA_TYPE = "application/jwk-set+json"  # RFC 7517 §8.5.1
STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"  # Token Status List §8.2
MAX_LIST_ID = 2**31 - 1  # the status list id column is an INTEGER (PostgreSQL: 4 bytes)


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
def list_status_lists(request: Request, gw: GatewayDep, publisher: PublisherDep) -> Response:
    index = {"status_lists": publisher.index()}
    return public_docs.json_response(request, index, now=gw.clock())


@router.get(
    "/statuslists/{list_id}",
    summary="Signed Token Status List 证照状态列表",
    response_class=Response,
    responses={200: {"content": {STATUS_LIST_MEDIA_TYPE: {}}}, 406: {}},
)
def status_list(
    list_id: Annotated[int, Path(ge=1, le=MAX_LIST_ID)],
    request: Request,
    gw: GatewayDep,
    publisher: PublisherDep,
) -> Response:
    public_docs.require_acceptable(request, STATUS_LIST_MEDIA_TYPE)
    signed = publisher.token(list_id)
    return public_docs.jwt_response(
        request, signed.token, media_type=STATUS_LIST_MEDIA_TYPE, now=gw.clock()
    )


public_docs.allow_preflight(
    router, ["/.well-known/jwks.json", "/statuslists", "/statuslists/{list_id}"]
)


@router.get("/healthz", summary="Health 健康检查")
def health(gw: GatewayDep, sync: SyncHealthDep, limiter: LimiterDep) -> dict[str, Any]:
    state = gw.state
    failing = trustsync.failing_documents(gw)
    audit = witness_views.audit_health(gw)
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
        # degraded while a peer's audit log alarm stands (until an operator acknowledges it)
        "status": "degraded" if audit["alarms"] else "ok",
        "audit": audit,
        "state_version": state.version,
        "state_built_at": iso(state.built_at),
        "issuers": len(state.trust.issuers),
        "keys": len(state.trust.keys),
        "status_lists": len(state.statuses),
        "rate_limits": limiter.health(),  # where the budgets are kept; Redis down → "memory"
        # which process of the city answered, and whether it leads the background sync
        # (gateway.cluster: one process of a city at a time)
        "process": {"pid": os.getpid(), "sync_leader": sync.leader},
    }
