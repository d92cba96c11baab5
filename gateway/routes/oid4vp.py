"""OpenID4VP 1.0 at a counter: a counter (by its ``vk_`` key) makes a signed request; the
wallet fetches the request object at its ``request_uri``; the QR image shows the
``openid4vp://`` link. Errors in the house shape (``code``, ``message`` zh-CN, ``message_en``)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from gateway import presentations
from gateway.deps import CounterDep, GatewayDep
from gateway.schemas import PresentationRequestBody, PresentationRequestOut
from issuers.qr import render_png
from trust.oid4vp import REQUEST_MEDIA_TYPE

router = APIRouter(tags=["presentations 出示 (OpenID4VP)"])
NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "/api/v1/presentation-requests",
    status_code=201,
    summary="A counter asks for a presentation 核验点发起出示请求",
)
async def create(
    body: PresentationRequestBody, counter: CounterDep, gw: GatewayDep, response: Response
) -> PresentationRequestOut:
    made = await run_in_threadpool(
        lambda: presentations.create_request(
            gw,
            verifier_id=counter.id,
            credential_type=body.type,
            fields=body.fields,
            reason=body.reason,
        )
    )
    response.headers.update(NO_STORE)
    return PresentationRequestOut(**made.as_dict())


@router.get(
    presentations.REQUEST_PATH + "{request_id}",
    summary="Request object 出示请求对象",
    response_class=Response,
)
def request_object(request_id: str, gw: GatewayDep) -> Response:
    return Response(
        presentations.request_object(gw, request_id),
        media_type=REQUEST_MEDIA_TYPE,
        headers=NO_STORE,
    )


@router.get(
    presentations.REQUEST_PATH + "{request_id}/qr.png",
    summary="Request QR 出示请求二维码",
    response_class=Response,
)
def request_qr(request_id: str, gw: GatewayDep) -> Response:
    link = presentations.request_link_of(gw, request_id)
    return Response(render_png(link), media_type="image/png", headers=NO_STORE)
