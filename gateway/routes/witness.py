"""Witnesses of this gateway's audit log: peers deliver their cosignatures of its heads
(``POST /audit/cosignature``), and anyone may see which peers co-signed which heads
(``GET /audit/witnesses``). The log itself (checkpoints, proofs, entries) is served by the audit
log's own router."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from gateway import witness_views
from gateway.deps import FetcherDep, GatewayDep
from trust.witness import MAX_TOKEN

router = APIRouter(tags=["audit 审计"])


@router.post(
    "/audit/cosignature",
    summary="A peer co-signs one of this log's heads 见证方联署树头",
    responses={400: {}, 403: {}, 404: {}, 409: {}, 413: {}, 422: {}, 503: {}},
)
def cosignature(
    gw: GatewayDep,
    fetcher: FetcherDep,
    token: Annotated[str, Body(media_type="application/jwt", max_length=MAX_TOKEN)],
) -> dict[str, Any]:
    """A compact JWS ``typ: ecert-cosignature+jwt`` signed by a known peer's federation key over
    one of this gateway's checkpoints (gateway.witness_views)."""
    return witness_views.receive_cosignature(gw, fetcher, token.strip())


@router.get("/audit/witnesses", summary="Which peers co-signed which heads 树头见证情况")
def witnesses(
    gw: GatewayDep, limit: Annotated[int, Query(ge=1, le=witness_views.MAX_HEADS_SHOWN)] = 20
) -> dict[str, Any]:
    """This log's co-signed heads, newest first, each with its witnesses and cosignatures."""
    return {"heads": witness_views.witnesses(gw, limit=limit)}
