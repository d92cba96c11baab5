"""The console's batch issuance, search and printing (``/console/api/…``), on the services the
API uses: the CSV is parsed by :mod:`gateway.console_batch`, chunks of rows are issued by
``gateway.batch_issue.issue_rows`` (idempotent per row; nothing kept between chunks),
searches go to ``gateway.credential_query.search`` and prints to ``gateway.printing.print_pdf``,
each scoped to the operator's agency.

Deliberately not here: sign-in and the CSRF and Origin checks (``gateway.console_http``, which
every route here depends on through :data:`OperatorDep`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from gateway.console_batch import MAX_BYTES, agency_type, parse_register
from gateway.console_http import OperatorDep
from gateway.deps import GatewayDep
from gateway.issuance import load_agency
from gateway.schemas import Strict

router = APIRouter(prefix="/api", include_in_schema=False)  # under /console


class ParseBody(Strict):
    type: str = Field(min_length=1, max_length=64)
    csv: str = Field(max_length=MAX_BYTES)


@router.post("/batch/parse")
def parse(body: ParseBody, operator: OperatorDep, gw: GatewayDep) -> dict[str, Any]:
    """The register's rows, for the page to send back in chunks."""
    with gw.sessions() as session:
        agency = load_agency(session, operator.agency_id)
        ctype = agency_type(list(agency.types), gw.types, body.type)
    rows = parse_register(body.csv, ctype)
    return {"type": body.type, "count": len(rows), "rows": rows}
