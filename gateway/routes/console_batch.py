"""The console's batch issuance, search and printing (``/console/api/…``), on the services the
API uses: the CSV is parsed by :mod:`gateway.console_batch`, chunks of rows are issued by
``gateway.batch_issue.issue_rows`` (idempotent per row; nothing kept between chunks, so any
process may serve any chunk), searches go to ``gateway.credential_query.search`` and prints to
``gateway.printing.print_pdf``, each scoped to the operator's agency. Issuing a chunk and
printing are audit events naming the operator (issuing's own leaves say what was issued).

Deliberately not here: sign-in and the CSRF and Origin checks (``gateway.console_http``, which
every route here depends on through :data:`OperatorDep`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from gateway import batch_issue, console_actions, credential_query, printing
from gateway.console_batch import MAX_BYTES, agency_type, parse_register
from gateway.console_http import OperatorDep
from gateway.core import Gateway
from gateway.deps import GatewayDep
from gateway.schemas import RecordId, Strict

router = APIRouter(prefix="/api", include_in_schema=False)  # under /console
MAX_CELL_JSON = 2000


class ParseBody(Strict):
    type: str = Field(min_length=1, max_length=64)
    csv: str = Field(max_length=MAX_BYTES)


class ChunkBody(Strict):
    type: str = Field(min_length=1, max_length=64)
    rows: list[dict[str, Annotated[str, Field(max_length=MAX_CELL_JSON)]]] = Field(
        min_length=1, max_length=batch_issue.MAX_ROWS
    )
    first_row: int = Field(ge=1, le=batch_issue.MAX_FIRST_ROW)


class PrintBody(Strict):
    size: str = Field(default="a4", max_length=8)


def _types_of(gw: Gateway, agency_id: str) -> list[str]:
    return console_actions.agency_types(gw, agency_id)


@router.post("/batch/parse")
def parse(body: ParseBody, operator: OperatorDep, gw: GatewayDep) -> dict[str, Any]:
    """The register's rows, for the page to send back in chunks."""
    ctype = agency_type(_types_of(gw, operator.agency_id), gw.types, body.type)
    rows = parse_register(body.csv, ctype)
    return {"type": body.type, "count": len(rows), "rows": rows}


@router.post("/batch/issue")
def issue_chunk(body: ChunkBody, operator: OperatorDep, gw: GatewayDep) -> dict[str, Any]:
    """One chunk of a register: each row issued once (a row issued before answers its
    credential, ``already``), bad rows reported, and the chunk's lines of the result file."""
    agency_type(_types_of(gw, operator.agency_id), gw.types, body.type)
    results = batch_issue.issue_rows(
        gw,
        agency_id=operator.agency_id,
        type_code=body.type,
        rows=body.rows,
        first_row=body.first_row,
        actor=operator.actor,
    )
    console_actions.record_action(
        gw,
        operator,
        "console.batch",
        operator.agency_id,
        type=body.type,
        first_row=body.first_row,
        rows=len(results),
        refused=sum(1 for r in results if r.error is not None),
    )
    return {
        "results": [r.as_dict() for r in results],
        "csv": batch_issue.result_csv(results),
    }


@router.get("/credentials")
def search(
    operator: OperatorDep,
    gw: GatewayDep,
    type: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=credential_query.MAX_Q)] = None,
    issued_from: Annotated[str | None, Query(max_length=40)] = None,
    issued_to: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=credential_query.MAX_CURSOR)] = None,
    limit: Annotated[int, Query(ge=1, le=credential_query.MAX_LIMIT)] = 20,
) -> dict[str, Any]:
    """One page of the operator's agency's credentials matching the filters, newest first."""
    found = credential_query.search(
        gw,
        agency_id=operator.agency_id,
        query=credential_query.CredentialQuery(
            type=type or None,
            status=status or None,
            q=q or None,
            issued_from=issued_from or None,
            issued_to=issued_to or None,
        ),
        cursor=cursor or None,
        limit=limit,
    )
    return {"items": found.items, "next_cursor": found.next_cursor}


@router.post("/credentials/{credential_id}/print")
def print_one(
    credential_id: RecordId, body: PrintBody, operator: OperatorDep, gw: GatewayDep
) -> Response:
    """The printable PDF (A4 副本 or card); another agency's credential is not found."""
    pdf = printing.print_pdf(
        gw, agency_id=operator.agency_id, credential_id=credential_id, size=body.size
    )
    console_actions.record_action(gw, operator, "console.print", credential_id, size=body.size)
    name = printing.filename(credential_id, body.size)
    return Response(
        pdf,
        media_type=printing.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
