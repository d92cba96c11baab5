"""``GET /api/v1/credentials``: an agency lists and searches its own credentials, a page at a time
(:mod:`gateway.credential_query`). The API key's agency is the scope: no parameter names
another agency."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from gateway.credential_query import (
    DEFAULT_LIMIT,
    MAX_CURSOR,
    MAX_LIMIT,
    STATUS_FILTERS,
    CredentialQuery,
    search,
)
from gateway.deps import GatewayDep, Reader
from gateway.search_schemas import CredentialList

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials 证照"])

DAY = "YYYY-MM-DD (a whole day, China time) or ISO 8601"
Day = Annotated[str | None, Query(max_length=40, description=DAY)]


@router.get(
    "",
    response_model=CredentialList,
    summary="List and search this agency's credentials 查询本机构签发的证照",
)
def list_credentials(
    gw: GatewayDep,
    principal: Reader,
    type: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[a-z][a-z0-9-]{1,63}$",
            description="a credential type code (GET /api/v1/types) 证照类型",
        ),
    ] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=16,
            pattern=f"^({'|'.join(STATUS_FILTERS)})$",
            description="01 … 99 (GB/T status code), or valid, suspended, revoked (every final "
            "code) 证照状态",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="the subject's name (any part), its full code (统一社会信用代码 / 公民身份"
            "号码) or a 证照标识 持证主体名称或代码",
        ),
    ] = None,
    issued_from: Day = None,
    issued_to: Day = None,
    valid_on: Annotated[
        str | None,
        Query(max_length=40, description=f"{DAY}: the validity window covers that day"),
    ] = None,
    expires_from: Day = None,
    expires_to: Day = None,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR, description="a previous page's next_cursor 翻页游标"),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="items a page 每页条数")
    ] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    query = CredentialQuery(
        type=type,
        status=status,
        q=q,
        issued_from=issued_from,
        issued_to=issued_to,
        valid_on=valid_on,
        expires_from=expires_from,
        expires_to=expires_to,
    )
    page = search(gw, agency_id=principal.agency_id, query=query, cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}
