"""Delegated use (委托用证): a holder delegates a credential to an agent's wallet, lists its
delegations and revokes one, each call with a holder proof of the credential. The create answer
holds the wallet offer (link and PIN) the holder hands to the agent, so it is never cached.

As for the reference holder endpoints, a web wallet calls these from another origin (the gateway
that served the page need not be the one that issued the credential): answers and errors carry
CORS (``Access-Control-Allow-Origin: *``, no credentials) and ``OPTIONS`` answers the preflight
of their JSON POST."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from gateway import delegations, public_docs
from gateway.deps import GatewayDep
from gateway.public_docs import CORS_HEADERS
from gateway.schemas import DelegationBody, DelegationRevokeBody, ReferenceBody

router = APIRouter(tags=["delegated use 委托用证"])
HOLDER_ANSWER = {"Cache-Control": "no-store", **CORS_HEADERS}


@router.post(
    "/api/v1/delegations",
    status_code=201,
    summary="A holder delegates a credential to an agent 持证人委托代理人用证",
)
async def create(body: DelegationBody, gw: GatewayDep, response: Response) -> dict[str, Any]:
    made = await run_in_threadpool(
        lambda: delegations.create(
            gw, body.proof, name=body.name, purposes=body.purposes, until=body.until
        )
    )
    response.headers.update(HOLDER_ANSWER)
    return made


@router.post(
    "/api/v1/delegations/list",
    summary="A holder lists its credential's delegations 持证人查看委托",
)
async def list_(body: ReferenceBody, gw: GatewayDep, response: Response) -> dict[str, Any]:
    listed = await run_in_threadpool(delegations.list_, gw, body.proof)
    response.headers.update(HOLDER_ANSWER)
    return listed


@router.post(
    "/api/v1/delegations/revoke",
    summary="A holder revokes a delegation 持证人撤销委托",
)
async def revoke(body: DelegationRevokeBody, gw: GatewayDep, response: Response) -> dict[str, Any]:
    done = await run_in_threadpool(delegations.revoke, gw, body.proof, body.delegation_id)
    response.headers.update(HOLDER_ANSWER)
    return done


public_docs.allow_preflight(
    router,
    ["/api/v1/delegations", "/api/v1/delegations/list", "/api/v1/delegations/revoke"],
    methods=("POST",),
    request_headers=("Accept", "Content-Type"),
)
