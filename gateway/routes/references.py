"""Reference codes (亮证码): a holder's wallet asks for one with a holder proof; a counter (by
its ``vk_`` key) resolves it once, with a reason. Errors in the house shape (``code``,
``message`` zh-CN, ``message_en``); too many wrong codes answer 429 with ``Retry-After``. The
holder reads a credential's use records (用证记录) with a holder proof, as a signed JWS.

A web wallet calls the two holder endpoints from another origin (the gateway that served the
page need not be the one that issued the credential): their answers and errors carry CORS
(``Access-Control-Allow-Origin: *``, no credentials) and ``OPTIONS`` answers the preflight of
their JSON POST. Resolving stays same-origin: a counter's key is for its own page."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from gateway import public_docs, references
from gateway.deps import CounterDep, FetcherDep, GatewayDep
from gateway.public_docs import CORS_HEADERS
from gateway.schemas import ReferenceBody, ReferenceOut, ReferenceResolveBody

router = APIRouter(tags=["reference codes 亮证码"])
NO_STORE = {"Cache-Control": "no-store"}
HOLDER_ANSWER = {**NO_STORE, **CORS_HEADERS}


@router.post(
    "/api/v1/references",
    status_code=201,
    summary="A holder asks for a reference code 持证人申请亮证码",
)
async def create(body: ReferenceBody, gw: GatewayDep, response: Response) -> ReferenceOut:
    made = await run_in_threadpool(references.create, gw, body.proof)
    response.headers.update(HOLDER_ANSWER)
    return ReferenceOut(**made)


@router.post(
    "/api/v1/references/resolve",
    summary="A counter resolves a reference code 核验点核验亮证码",
)
async def resolve(
    body: ReferenceResolveBody,
    counter: CounterDep,
    gw: GatewayDep,
    fetcher: FetcherDep,
    response: Response,
) -> dict[str, Any]:
    """A bare code of this city, or the routable form of any city's (``330100-ABCD-…``)."""
    shown = await run_in_threadpool(
        functools.partial(references.resolve, fetcher=fetcher), gw, counter, body.code, body.reason
    )
    response.headers.update(NO_STORE)
    return shown


@router.post(
    "/api/v1/references/uses",
    summary="A holder reads its credential's use records 持证人查看用证记录",
)
async def uses(body: ReferenceBody, gw: GatewayDep, response: Response) -> dict[str, str]:
    token = await run_in_threadpool(references.uses, gw, body.proof)
    response.headers.update(HOLDER_ANSWER)
    return {"records": token}


public_docs.allow_preflight(
    router,
    ["/api/v1/references", "/api/v1/references/uses"],
    methods=("POST",),
    request_headers=("Accept", "Content-Type"),
)
