"""A hotel desk of 杭州 under 长三角's anchor, and what it takes to grant it a role by a trust
mark: shared by the gateway's and the wallet's trust mark tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from gateway import trustmarks, verifiers
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from trust.federation import role_mark_type

YRD, HZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101"
POLICE = role_mark_type(YRD, "police-counter")
FULL_ID = {"type": "resident-eid", "fields": ["name", "id_number"], "reason": "旅馆住宿登记"}


@dataclass
class Desk:
    fed: Federation
    id: str
    key: str
    entity_id: str

    @property
    def city(self) -> TestClient:
        return self.fed.client(HZ)

    def ask(self, body: dict[str, Any] = FULL_ID) -> Any:
        return self.city.post(
            "/api/v1/presentation-requests",
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
        )

    def grant(self, role: str = "police-counter", days: int = 30) -> Any:
        return trustmarks.grant(
            self.fed.gateways[YRD], subject=self.entity_id, role=role, days=days, actor="t"
        )

    def attach(self, token: str) -> Any:
        with closing(self.fed.fetcher()) as http:
            return trustmarks.attach(
                self.fed.gateways[HZ], http, verifier_id=self.id, token=token, actor="t"
            )


@contextmanager
def hotel_desk(tmp_path: Path, clock: FakeClock, **city: Any) -> Iterator[Desk]:
    """长三角's anchor, 杭州 approved for resident e-IDs (``city``: settings of its gateway,
    e.g. ``database_url``), and a hotel desk registered there."""
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["resident-eid"],
                      **city)  # fmt: skip
        row, key = verifiers.add_verifier(hz, name="西湖宾馆前台", role="hotel-desk", actor="t")
        yield Desk(fed, row.id, key, f"{HZ}/verifiers/{row.id}")
