"""This gateway's own audit log as the witness views need it: its size, its newest signed
head, and whether a head a peer co-signed is one of this log's.

PROVISIONAL until the audit log part lands: reads the audit table only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from gateway.core import Gateway
from gateway.models import AuditRow


def tree_size(gw: Gateway) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditRow)) or 0)


def newest(gw: Gateway) -> dict[str, Any] | None:
    return None
