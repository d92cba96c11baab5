"""Reference codes (亮证码): a holder's wallet asks for one with a holder proof; a counter (by
its ``vk_`` key) resolves it once, with a reason. Errors in the house shape (``code``,
``message`` zh-CN, ``message_en``); too many wrong codes answer 429 with ``Retry-After``. The
holder reads a credential's use records (用证记录) with a holder proof, as a signed JWS."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from gateway import references
from gateway.deps import CounterDep, FetcherDep, GatewayDep
from gateway.schemas import ReferenceBody, ReferenceOut, ReferenceResolveBody

router = APIRouter(tags=["reference codes 亮证码"])
NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "/api/v1/references",
    status_code=201,
    summary="A holder asks for a reference code 持证人申请亮证码",
)
async def create(body: ReferenceBody, gw: GatewayDep, response: Response) -> ReferenceOut:
    made = await run_in_threadpool(references.create, gw, body.proof)
    response.headers.update(NO_STORE)
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
    response.headers.update(NO_STORE)
    return {"records": token}
