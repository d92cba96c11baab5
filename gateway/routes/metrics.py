"""``GET /metrics``: Prometheus text exposition format 0.0.4 (gateway.metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway import metrics, observe
from gateway.deps import GatewayDep, SyncHealthDep

router = APIRouter(tags=["public 公开"])


@router.get(
    "/metrics",
    summary="Metrics for Prometheus 监控指标",
    response_class=Response,
    responses={200: {"content": {metrics.CONTENT_TYPE.split(";")[0]: {}}}},
)
def metrics_text(gw: GatewayDep, sync: SyncHealthDep, request: Request) -> Response:
    observed = observe.of(request.scope)
    requests = None if observed is None else observed.registry
    text = metrics.render(gw, requests, sync_leader=sync.leader)
    return Response(text, media_type=metrics.CONTENT_TYPE)
