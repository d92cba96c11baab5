"""What the agency console's routes read and record in the database, so the routes hold no
session of their own (the layer rule in ``tests/test_layers.py``): the types an operator's
agency may issue, and one audit event for each operator action.

Deliberately not here: signing in and sessions (:mod:`gateway.console_auth`), the HTTP face
(:mod:`gateway.console_http`), issuing and status changes (the API's own services).
"""

from __future__ import annotations

from typing import Any

from gateway import audit
from gateway.console_auth import Operator
from gateway.core import Gateway
from gateway.issuance import load_agency


def agency_types(gw: Gateway, agency_id: str) -> list[str]:
    """The type codes ``agency_id`` may issue (:class:`NotFound` for an unknown agency)."""
    with gw.sessions() as session:
        return list(load_agency(session, agency_id).types)


def record_action(
    gw: Gateway, operator: Operator, action: str, subject: str, **detail: Any
) -> None:
    """One audit event for an operator's action (ids only, no personal data)."""
    with gw.transaction() as session:
        audit.record(
            session,
            at=gw.clock(),
            actor=operator.actor,
            action=action,
            subject=subject,
            agency_id=operator.agency_id,
            **detail,
        )
