"""What an agency reads of its own credentials: the detail view (with its status history, one
:func:`history_entry` a change) and the QR text.

Each read takes one short session of its own; the routes (:mod:`gateway.routes.credentials`)
hold none. An agency sees only its own credentials (:func:`gateway.status.get_credential`).
"""

from __future__ import annotations

from typing import Any

from gateway import issuance
from gateway import status as status_service
from gateway.clock import iso
from gateway.core import Gateway
from gateway.metadata import gbt36903
from gateway.models import AgencyRow, CredentialRow, StatusChangeRow, StatusListRow
from issuers.status_rules import STATUS_NAMES, action_of


def issued(
    gw: Gateway, row: CredentialRow, *, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What issuing answers: the summary (``summary`` when the issuance rendered it already)
    and where its QR images are."""
    base = f"/api/v1/credentials/{row.id}"
    return {
        **(summary if summary is not None else issuance.credential_summary(gw, row)),
        "qr_png": f"{base}/qr.png",
        "qr_svg": f"{base}/qr.svg",
    }


def history_entry(change: StatusChangeRow) -> dict[str, Any]:
    """One recorded status change as the API, the CLI and the console show it: when, which
    action, the GB/T code it set (and its names), why and by whom; ``from``/``to`` as before."""
    zh, en = STATUS_NAMES[change.to_code]
    return {
        "at": iso(change.at),
        "action": action_of(change.to_code),
        "code": change.to_code,
        "status": {"zh": zh, "en": en},
        "reason": change.reason,
        "actor": change.actor,
        "from": change.from_code,
        "to": change.to_code,
    }


def qr_text(gw: Gateway, credential_id: str, agency_id: str) -> str:
    """The text of the credential's QR code."""
    with gw.sessions() as session:
        row = status_service.get_credential(session, credential_id, agency_id)
        return issuance.qr_text_for(gw, row)


def detail(gw: Gateway, credential_id: str, agency_id: str | None) -> dict[str, Any]:
    """The credential as its agency reads it: summary, subject, metadata and status history
    (``agency_id`` None: whoever issued it, for the local administrator's CLI)."""
    with gw.sessions() as session:
        row = status_service.get_credential(session, credential_id, agency_id)
        history = [history_entry(h) for h in status_service.history(session, row.id)]
        status_list = session.get(StatusListRow, row.status_list_id)
        agency = session.get(AgencyRow, row.agency_id)
        if agency is None:  # a foreign key holds it: only a damaged database gets here
            raise LookupError(f"credential {row.id} names agency {row.agency_id}, not found")
        return {
            **issued(gw, row),
            "agency_id": row.agency_id,
            "subject": row.subject,
            "holder_code": row.holder_code,
            "holder_name": row.holder_name,
            "kid": row.kid,
            "status_list": status_list.uri if status_list is not None else "",
            "delegated_from": row.delegated_from,  # a delegated copy (委托用证) names its original
            "metadata": gbt36903(row, agency, gw.types.get(row.type)),
            "status_history": history,
        }
