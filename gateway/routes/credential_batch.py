"""``POST /api/v1/credentials/batch``: issue up to 200 register rows, one answer a row.

Built on :func:`gateway.batch_issue.issue_rows`: each row is issued once, known by its ``ref``
or else its type and subject, so posting the same rows again answers the same ids with
``already: true`` and issues nothing (no ``Idempotency-Key`` needed). A bad row is answered with
its field errors (zh-CN and English) and does not stop the others; a body that is bad as a whole
(too many rows, an unknown type, a type the agency may not issue) is refused with nothing
issued.

Deliberately not here: the rules (:mod:`gateway.batch_rows`, :mod:`gateway.holder_rule`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway import batch_issue
from gateway.deps import GatewayDep, Issuer
from gateway.schemas import Strict

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials 证照"])

ROW_EXAMPLE = {
    "ref": "2026-HZ-0001",
    "name": "杭州西湖龙井茶业有限公司",
    "uscc": "91330106MA2B3C4D5D",
    "entity_type": "有限责任公司",
    "legal_representative": "王建国",
    "registered_capital": "100万元人民币",
    "established_on": "2020-05-18",
    "address": "浙江省杭州市西湖区龙井路1号",
    "business_scope": "茶叶种植、加工、销售",
}


class BatchBody(Strict):
    type: str = Field(max_length=64, examples=["business-licence"])
    rows: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=batch_issue.MAX_ROWS,
        description="each row: the type's subject fields, plus optional `ref` (the row's "
        "identity; default: its type and subject), `valid_from`, `valid_until` "
        "每行为主体字段，可另加 ref、valid_from、valid_until",
        examples=[[ROW_EXAMPLE]],
    )
    first_row: int = Field(
        default=1,
        ge=1,
        le=batch_issue.MAX_FIRST_ROW,
        description="the number of the first row, as the answers name rows 首行行号",
    )


class RowProblem(BaseModel):
    field: str
    message: str = Field(description="zh-CN")
    message_en: str


class RowAnswer(BaseModel):
    row: int
    id: str | None = Field(description="the credential's id (now or before); null if refused")
    identifier: str | None = Field(description="证照标识 (GB/T 36904)")
    qr_text: str | None
    already: bool = Field(description="issued before, by an earlier call or run 此前已签发")
    error: RowProblem | None = Field(description="why the row was not issued (all problems)")
    errors: list[RowProblem] = Field(description="each problem of the row")


class BatchAnswer(BaseModel):
    type: str
    rows: int
    issued: int = Field(description="issued by this call 本次签发")
    already: int = Field(description="found issued before 此前已签发")
    refused: int = Field(description="not issued: see each row's error 未签发")
    results: list[RowAnswer]


@router.post(
    "/batch",
    response_model=BatchAnswer,
    summary="Issue up to 200 register rows, each once 批量签发",
    description="Each row is issued once, known by its `ref` or else its type and subject: "
    "posting the same rows again answers the same ids with `already: true`. A bad row gets "
    "its errors and does not stop the others. A holder may hold one live credential of a "
    "type unless the type allows several. 每行只签发一次；有误的行不影响其他行。",
)
def issue_batch(body: BatchBody, gw: GatewayDep, principal: Issuer) -> dict[str, Any]:
    results = batch_issue.issue_rows(
        gw,
        agency_id=principal.agency_id,
        type_code=body.type,
        rows=body.rows,
        first_row=body.first_row,
        actor=f"agency:{principal.agency_id}",
    )
    refused = sum(1 for r in results if r.error is not None)
    already = sum(1 for r in results if r.already)
    return {
        "type": body.type,
        "rows": len(results),
        "issued": len(results) - refused - already,
        "already": already,
        "refused": refused,
        "results": [r.as_dict() for r in results],
    }
