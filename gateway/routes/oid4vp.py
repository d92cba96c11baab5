"""OpenID4VP 1.0 at a counter: a counter (by its ``vk_`` key) makes a signed request; the
wallet fetches the request object at its ``request_uri``; the QR image shows the
``openid4vp://`` link; the wallet answers at ``response_uri`` (``direct_post``, §8.2) and the
counter reads the result. Errors in the house shape (``code``, ``message`` zh-CN,
``message_en``); the response endpoint's in OAuth's (``error``, ``error_description``) with
``message`` (zh-CN) and ``message_en`` beside it.

The request object and the response endpoint are public: a browser wallet (another city's page)
fetches and posts to them from another origin, so their answers and errors carry CORS and
``OPTIONS`` answers their preflight. The counter's own API carries none."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from gateway import presentation_answers, presentations, public_docs
from gateway.deps import CounterDep, FetcherDep, GatewayDep
from gateway.public_docs import CORS_HEADERS
from gateway.schemas import (
    CounterOut,
    PresentationRequestBody,
    PresentationRequestOut,
    RecordId,
)
from issuers.qr import render_png
from trust.oid4vp import MAX_VP_TOKEN, REQUEST_MEDIA_TYPE, ResponseRefused

router = APIRouter(tags=["presentations 出示 (OpenID4VP)"])
NO_STORE = {"Cache-Control": "no-store"}
PUBLIC = {**NO_STORE, **CORS_HEADERS}
MAX_RESPONSE_BYTES = 3 * MAX_VP_TOKEN + 1024  # form-encoded, a vp_token grows up to threefold


@router.get(
    "/api/v1/counter",
    response_model=CounterOut,
    summary="Who this counter is and what it may ask for 核验点身份与可索取字段",
)
def counter_profile(counter: CounterDep, gw: GatewayDep, response: Response) -> dict[str, Any]:
    response.headers.update(NO_STORE)
    return presentations.counter_profile(gw, counter.id)


@router.post(
    "/api/v1/presentation-requests",
    status_code=201,
    summary="A counter asks for a presentation 核验点发起出示请求",
)
async def create(
    body: PresentationRequestBody,
    counter: CounterDep,
    gw: GatewayDep,
    fetcher: FetcherDep,
    response: Response,
) -> PresentationRequestOut:
    made = await run_in_threadpool(
        lambda: presentations.create_request(
            gw,
            verifier_id=counter.id,
            credential_type=body.type,
            fields=body.fields,
            reason=body.reason,
            fetcher=fetcher,
        )
    )
    response.headers.update(NO_STORE)
    return PresentationRequestOut(**made.as_dict())


@router.get(
    presentations.REQUEST_PATH + "{request_id}",
    summary="Request object 出示请求对象",
    response_class=Response,
)
def request_object(request_id: RecordId, gw: GatewayDep) -> Response:
    return Response(
        presentations.request_object(gw, request_id),
        media_type=REQUEST_MEDIA_TYPE,
        headers=PUBLIC,
    )


@router.get(
    presentations.REQUEST_PATH + "{request_id}/qr.png",
    summary="Request QR 出示请求二维码",
    response_class=Response,
)
def request_qr(request_id: RecordId, gw: GatewayDep) -> Response:
    link = presentations.request_link_of(gw, request_id)
    return Response(render_png(link), media_type="image/png", headers=NO_STORE)


async def _bounded_form(request: Request) -> dict[str, str]:
    """The form of a ``direct_post`` answer, read no further than :data:`MAX_RESPONSE_BYTES`."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise ResponseRefused(
            "invalid_request",
            "请求应为表单编码（application/x-www-form-urlencoded）",
            "expected Content-Type application/x-www-form-urlencoded (OpenID4VP §8.2)",
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise ResponseRefused(
                "invalid_request",
                f"请求过大（上限 {MAX_RESPONSE_BYTES} 字节）",
                f"expected at most {MAX_RESPONSE_BYTES} bytes",
            )
    try:
        pairs = parse_qsl(bytes(body).decode(), strict_parsing=bool(body), max_num_fields=16)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ResponseRefused("invalid_request", "表单无法解析", f"unreadable form: {exc}") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise ResponseRefused("invalid_request", f"参数重复：{name}", f"repeated {name!r}")
        form[name] = value
    return form


RESPONSE_FORM = {  # documented here; read from the raw body (bounded) by _bounded_form
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["vp_token", "state"],
                "properties": {
                    "vp_token": {"type": "string", "description": "OpenID4VP §8.1 (JSON)"},
                    "state": {"type": "string"},
                },
            }
        }
    },
}


@router.post(
    presentations.RESPONSE_PATH + "{request_id}",
    summary="Response endpoint (direct_post) 钱包提交出示",
    openapi_extra={"requestBody": RESPONSE_FORM},
)
async def response_endpoint(
    request_id: RecordId, request: Request, gw: GatewayDep, fetcher: FetcherDep, response: Response
) -> dict[str, Any]:
    form = await _bounded_form(request)
    response.headers.update(PUBLIC)
    answer = functools.partial(presentation_answers.answer, fetcher=fetcher)
    return await run_in_threadpool(answer, gw, request_id, form)


@router.get(
    "/api/v1/presentation-requests/{request_id}",
    summary="A counter reads its request and the answer 核验点查看出示结果",
)
def result(request_id: RecordId, counter: CounterDep, gw: GatewayDep, response: Response) -> Any:
    response.headers.update(NO_STORE)
    return presentation_answers.result_of(gw, request_id, verifier_id=counter.id)


public_docs.allow_preflight(router, [presentations.REQUEST_PATH + "{request_id}"])
public_docs.allow_preflight(
    router,
    [presentations.RESPONSE_PATH + "{request_id}"],
    methods=("POST",),
    request_headers=("Accept", "Content-Type"),
)
