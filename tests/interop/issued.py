"""Credentials of every shipped type, issued through the HTTP API, for the interop checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from fastapi.testclient import TestClient
from stdnum.cn import uscc

from gateway.core import Gateway
from issuers.credential_types import SHIPPED_TYPES
from tests.conftest import Agency, make_agency
from tests.gateway.helpers import auth
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.encoding import b64url_decode

SHIPPED = sorted(path.stem for path in SHIPPED_TYPES.glob("*.json"))


@dataclass(frozen=True)
class Issued:
    type: str
    answer: dict[str, Any]  # POST /api/v1/credentials
    detail: dict[str, Any]  # GET /api/v1/credentials/{id}
    verified: dict[str, Any]  # POST /api/v1/verify with the QR text

    @property
    def qr_text(self) -> str:
        text: str = self.answer["qr_text"]
        return text

    @property
    def claims(self) -> dict[str, Any]:
        """The token's payload, unverified (the checks here verify it by other means)."""
        payload: dict[str, Any] = orjson.loads(b64url_decode(self.answer["token"].split(".")[1]))
        return payload


def agency_for_every_type(gw: Gateway) -> Agency:
    first17 = "11330100MB1958140"
    return make_agency(
        gw,
        name="杭州市数据资源管理局",
        uscc=first17 + uscc.calc_check_digit(first17),
        types=SHIPPED,
    )


def issue_every_type(client: TestClient, agency: Agency) -> list[Issued]:
    assert sorted(SAMPLE_SUBJECTS) == SHIPPED, "tests/issuers/samples.py must cover every type"
    issued = []
    for ctype in SHIPPED:
        answer = client.post(
            "/api/v1/credentials",
            json={"type": ctype, "subject": SAMPLE_SUBJECTS[ctype]},
            headers=auth(agency.api_key),
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        detail = client.get(f"/api/v1/credentials/{body['id']}", headers=auth(agency.api_key))
        verified = client.post("/api/v1/verify", json={"qr": body["qr_text"]}).json()
        assert verified["reason"] == "VALID", verified
        issued.append(Issued(ctype, body, detail.json(), verified))
    return issued
