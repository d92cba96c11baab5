"""The audit log, public (全过程留痕): signed tree heads, inclusion and consistency proofs, leaves.

Anyone (a peer witnessing this log, an auditor) may fetch these: leaves hold ids and hashes, no
personal data. Hashes are base64url without padding. Sizes and indexes are bounded by the
log's current size (422 with the field otherwise); entries by ``auditlog.MAX_ENTRIES``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from gateway import auditheads, public_docs
from gateway.deps import GatewayDep

router = APIRouter(tags=["audit 审计日志"])
CHECKPOINT_MEDIA_TYPE = "application/jwt"
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "未加入联邦，无检查点 · no federation role, so no checkpoint"},
    406: {"description": "Accept 不含所提供的类型 · Accept excludes what is served"},
    409: {"description": "日志存储已被改动 · the log's store was altered"},
    422: {"description": "参数超出范围 · a parameter out of range"},
}
Size = Annotated[int, Query(ge=0, le=2**63 - 1)]  # then bounded by the log's size


class ConsistencyProof(BaseModel):
    first: int
    second: int
    proof: list[str]


class InclusionProof(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]


class Leaf(BaseModel):
    index: int
    at: int
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


class Entry(BaseModel):
    index: int
    leaf: Leaf
    leaf_hash: str


class Entries(BaseModel):
    entries: list[Entry]


@router.get(
    "/audit/checkpoint",
    summary="Signed tree head 审计日志检查点",
    response_class=Response,
    responses={200: {"content": {CHECKPOINT_MEDIA_TYPE: {}}}, **_ERRORS},
)
def checkpoint(request: Request, gw: GatewayDep) -> Response:
    public_docs.require_acceptable(request, CHECKPOINT_MEDIA_TYPE)
    head = auditheads.current(gw)
    return public_docs.respond(request, head.jws, media_type=CHECKPOINT_MEDIA_TYPE, max_age=0)


@router.get(
    "/audit/proof/consistency",
    summary="Consistency proof 一致性证明",
    response_model=ConsistencyProof,
    responses=_ERRORS,
)
def consistency(gw: GatewayDep, first: Size, second: Size) -> dict[str, Any]:
    return auditheads.consistency_proof(gw, first=first, second=second)


@router.get(
    "/audit/proof/inclusion",
    summary="Inclusion proof 包含证明",
    response_model=InclusionProof,
    responses=_ERRORS,
)
def inclusion(gw: GatewayDep, index: Size, tree_size: Size) -> dict[str, Any]:
    return auditheads.inclusion_proof(gw, index=index, tree_size=tree_size)


@router.get(
    "/audit/entries",
    summary="Log entries 审计日志条目",
    response_model=Entries,
    responses=_ERRORS,
)
def entries(gw: GatewayDep, start: Size, end: Size) -> dict[str, Any]:
    return auditheads.entries(gw, start=start, end=end)
