"""Issuing agencies' API: issue, read, QR images, suspend / reinstate / revoke."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from gateway import credential_views, issuance, printing, references, wallet
from gateway import status as status_service
from gateway.deps import GatewayDep, Issuer, Reader, StatusAdmin
from gateway.schemas import (
    CredentialDetail,
    IssueBody,
    IssuedCredential,
    PaperReferenceBody,
    ReasonBody,
    RecordId,
    ReferenceOut,
    StatusChanged,
    WalletOfferOut,
)
from issuers.qr import render_png, render_svg

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials 证照"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedCredential,
    summary="Issue a credential 签发证照",
)
def issue_credential(
    body: IssueBody,
    gw: GatewayDep,
    principal: Issuer,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    row, created, summary = issuance.issue_answered(
        gw,
        agency_id=principal.agency_id,
        request=issue_request(body),
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    answer = credential_views.issued(gw, row, summary=summary)
    if body.wallet_offer:
        offer = wallet.create_offer(gw, credential_id=row.id, agency_id=principal.agency_id)
        answer["wallet_offer"] = offer.as_dict()
    return answer


def issue_request(body: IssueBody) -> issuance.IssueRequest:
    """What issuing reads of a body (also the fast path's, :mod:`gateway.fast_issue`)."""
    return issuance.IssueRequest(
        type=body.type,
        subject=body.subject,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )


@router.post(
    "/{credential_id}/wallet-offer",
    status_code=status.HTTP_201_CREATED,
    response_model=WalletOfferOut,
    summary="A new wallet offer (OpenID4VCI) and its PIN 生成钱包领取链接",
)
def wallet_offer(credential_id: RecordId, gw: GatewayDep, principal: Issuer) -> dict[str, Any]:
    return wallet.create_offer(
        gw, credential_id=credential_id, agency_id=principal.agency_id
    ).as_dict()


@router.post(
    "/{credential_id}/paper-reference",
    status_code=status.HTTP_201_CREATED,
    response_model=ReferenceOut,
    summary="A paper reference code to print in place of data 生成纸质亮证码",
)
def paper_reference(
    credential_id: RecordId,
    gw: GatewayDep,
    principal: Issuer,
    response: Response,
    body: PaperReferenceBody | None = None,
) -> dict[str, Any]:
    made = references.create_paper(
        gw,
        credential_id=credential_id,
        agency_id=principal.agency_id,
        days=(body or PaperReferenceBody()).valid_days,
    )
    response.headers["Cache-Control"] = "no-store"
    return made


@router.get(
    "/{credential_id}", response_model=CredentialDetail, summary="Read a credential 查询证照"
)
def read_credential(credential_id: RecordId, gw: GatewayDep, principal: Reader) -> dict[str, Any]:
    return credential_views.detail(gw, credential_id, principal.agency_id)


@router.get("/{credential_id}/qr.png", summary="QR code as PNG 二维码图片", response_class=Response)
def qr_png(credential_id: RecordId, gw: GatewayDep, principal: Reader) -> Response:
    text = credential_views.qr_text(gw, credential_id, principal.agency_id)
    return Response(render_png(text), media_type="image/png")


@router.get(
    "/{credential_id}/qr.svg", summary="QR code as SVG 二维码矢量图", response_class=Response
)
def qr_svg(credential_id: RecordId, gw: GatewayDep, principal: Reader) -> Response:
    text = credential_views.qr_text(gw, credential_id, principal.agency_id)
    return Response(render_svg(text), media_type="image/svg+xml")


@router.get(
    "/{credential_id}/print.pdf",
    summary="Printable certificate (PDF, A4 副本 or card) 打印证照",
    response_class=Response,
    responses={
        200: {
            "description": "the certificate as a PDF with its Chinese font embedded 证照 PDF",
            "content": {printing.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        409: {
            "description": "no Chinese font installed: says which package to install 缺少中文字体",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
    },
)
def print_pdf(
    credential_id: RecordId,
    gw: GatewayDep,
    principal: Reader,
    size: Annotated[
        str,
        Query(
            max_length=10,
            description="a4: A4 副本 (default); card: ID-1 card, front and back 卡片尺寸",
            json_schema_extra={"enum": list(printing.SIZES)},
        ),
    ] = "a4",
) -> Response:
    pdf = printing.print_pdf(
        gw, agency_id=principal.agency_id, credential_id=credential_id, size=size
    )
    return Response(
        pdf,
        media_type=printing.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{printing.filename(credential_id, size)}"',
            "Cache-Control": "no-store",
        },
    )


# What a status change answers only to a key that may also read (StatusChanged).
PERSONAL_DETAIL = ("subject", "holder_code", "holder_name", "metadata")
STATUS_ACTIONS = {
    "suspend": "Suspend 暂扣 (reinstatable)",
    "reinstate": "Reinstate 恢复",
    "revoke": "Revoke 撤销 (final; body `code` picks 03/04/05/06/07/99)",
}


def _status_route(action: str) -> Callable[..., dict[str, Any]]:
    def change_status(
        credential_id: RecordId,
        body: ReasonBody,
        gw: GatewayDep,
        principal: StatusAdmin,
    ) -> dict[str, Any]:
        row = status_service.change(
            gw,
            credential_id=credential_id,
            action=action,
            reason=body.reason,
            actor=principal.actor,
            agency_id=principal.agency_id,
            code=body.code,
        )
        detail = credential_views.detail(gw, row.id, principal.agency_id)
        if "read" not in principal.scopes:  # a status-only key changes, it does not read
            detail.update(dict.fromkeys(PERSONAL_DETAIL))
        return detail

    change_status.__name__ = action
    return change_status


for _action, _summary in STATUS_ACTIONS.items():
    router.post(f"/{{credential_id}}/{_action}", response_model=StatusChanged, summary=_summary)(
        _status_route(_action)
    )
