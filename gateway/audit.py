"""Append-only record of who changed what and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gateway.models import AuditRow


def record(
    session: Session, *, at: int, actor: str, action: str, subject: str, **detail: Any
) -> None:
    session.add(AuditRow(at=at, actor=actor, action=action, subject=subject, detail=detail))
