"""Small helpers for API tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.core import Gateway
from gateway.models import CredentialRow, StatusListRow
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust import statuslist


@contextmanager
def client_for(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), base_url="http://127.0.0.1") as client:
        yield client


def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def licence_body(**subject: Any) -> dict[str, Any]:
    return {
        "type": "business-licence",
        "subject": {**SAMPLE_SUBJECTS["business-licence"], **subject},
    }


def count_credentials(gw: Gateway) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CredentialRow)) or 0)


def fill_status_list(gw: Gateway, list_id: int, *, seed: int = 7) -> None:
    """Give a status list a busy mix: one entry in ten revoked or suspended."""
    rng = random.Random(seed)
    with gw.transaction() as session:
        row = session.get(StatusListRow, list_id)
        assert row is not None
        packed = statuslist.StatusList(bits=row.bits, size=row.size)
        for idx in range(row.size):
            if rng.random() < 0.1:
                packed.set(idx, rng.choice((statuslist.INVALID, statuslist.SUSPENDED)))
        row.data = packed.data
