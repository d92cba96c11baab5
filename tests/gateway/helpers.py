"""Small helpers for API tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.core import Gateway
from gateway.models import CredentialRow
from tests.issuers.samples import SAMPLE_SUBJECTS


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
