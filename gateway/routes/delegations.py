"""Delegated use (委托用证): a holder delegates a credential to an agent's wallet, lists its
delegations and revokes one, each call with a holder proof of the credential. The create answer
holds the wallet offer (link and PIN) the holder hands to the agent, so it is never cached."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from gateway import delegations
from gateway.deps import GatewayDep
from gateway.schemas import DelegationBody, DelegationRevokeBody, ReferenceBody

router = APIRouter(tags=["delegated use 委托用证"])
NO_STORE = {"Cache-Control": "no-store"}


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
    response.headers.update(NO_STORE)
    return made


@router.post(
    "/api/v1/delegations/list",
    summary="A holder lists its credential's delegations 持证人查看委托",
)
async def list_(body: ReferenceBody, gw: GatewayDep, response: Response) -> dict[str, Any]:
    listed = await run_in_threadpool(delegations.list_, gw, body.proof)
    response.headers.update(NO_STORE)
    return listed


@router.post(
    "/api/v1/delegations/revoke",
    summary="A holder revokes a delegation 持证人撤销委托",
)
async def revoke(body: DelegationRevokeBody, gw: GatewayDep, response: Response) -> dict[str, Any]:
    done = await run_in_threadpool(delegations.revoke, gw, body.proof, body.delegation_id)
    response.headers.update(NO_STORE)
    return done
