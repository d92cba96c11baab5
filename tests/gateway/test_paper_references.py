"""Paper reference codes (issue 10): a certificate printed at a 24-hour kiosk carries a
long-lived code in place of its data. The issuing agency asks for it; it resolves only for
authenticated counters, any number of times, and each resolution is a use the holder reads."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from pydantic import ValidationError
from sqlalchemy import select

from gateway.models import CredentialRow, ReferenceCodeRow, ReferenceUseRow
from gateway.settings import Settings
from tests.conftest import make_agency
from tests.gateway.helpers import auth
from tests.gateway.test_presentation_answers import HZ, Desk, _receive
from tests.gateway.test_references import FULL, REASON, _ask, _fields, _resolve, desk
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.holder_proof import make_holder_proof
from trust.keys import SigningKey
from trust.reference_code import grouped
from trust.statuslist import StatusReference

__all__ = ["desk"]
AMR_USCC = "11330100MB1958123M"
DAY = 86_400


def _paper(desk: Desk, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
    return desk.client.post(
        f"/api/v1/credentials/{desk.credential_id}/paper-reference",
        json=body,
        headers=auth(key or desk.agency.api_key),
    )


def _uses(desk: Desk) -> list[dict[str, Any]]:
    answer = _ask(desk, path="/api/v1/references/uses")
    assert answer.status_code == 200, answer.text
    part = answer.json()["records"].split(".")[1]
    payload = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    return list(json.loads(payload)["uses"])


def test_a_paper_code_resolves_for_every_counter_and_each_resolution_is_a_use(desk: Desk) -> None:
    made = _paper(desk)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["paper"] is True
    assert body["expires_in"] == 90 * DAY
    assert made.headers["cache-control"] == "no-store"
    image = Image.open(io.BytesIO(base64.b64decode(body["qr_png"].split(",", 1)[1])))
    (read,) = zxingcpp.read_barcodes(image)
    # The routable code only (330100-…, so a counter of any city can resolve it): no personal
    # data on the paper's QR.
    assert read.text == body["qr_text"] == f"330100-{grouped(body['code'])}"
    for _ in range(2):
        answer = _resolve(desk, body["display"])
        assert answer.json()["reason"] == "VALID", answer.text
        assert _fields(answer)["id_number_masked"] == f"{FULL[:6]}********{FULL[-4:]}"
        assert FULL not in answer.text
    with desk.fed.gateways[HZ].sessions() as session:
        uses = session.scalars(select(ReferenceUseRow)).all()
        row = session.scalars(select(ReferenceCodeRow)).one()
    assert [(u.channel, u.purpose) for u in uses] == [("paper", REASON), ("paper", REASON)]
    assert row.paper is True
    assert row.used_at is None
    assert [u["channel"] for u in _uses(desk)] == ["paper", "paper"]


def test_a_paper_code_needs_an_authenticated_counter(desk: Desk) -> None:
    code = _paper(desk).json()["code"]
    anonymous = desk.client.post(
        "/api/v1/references/resolve", json={"code": code, "reason": REASON}
    )
    assert anonymous.status_code == 401, anonymous.text
    with desk.fed.gateways[HZ].sessions() as session:
        assert session.scalars(select(ReferenceUseRow)).all() == []


def test_a_paper_code_expires_after_its_days_and_never_outlives_the_credential(
    desk: Desk,
) -> None:
    short = _paper(desk, {"valid_days": 2}).json()
    assert short["expires_in"] == 2 * DAY
    desk.fed.clock.advance(2 * DAY)
    expired = _resolve(desk, short["code"])
    assert expired.json()["reason"] == "REFERENCE_EXPIRED", expired.text
    assert expired.json()["fields"] == []
    hz = desk.fed.gateways[HZ]
    with hz.transaction() as session:
        cred = session.get(CredentialRow, desk.credential_id)
        assert cred is not None
        cred.valid_until = hz.clock() + DAY
    assert _paper(desk).json()["expires_in"] == DAY


def test_a_revoked_credential_gets_no_paper_code_and_its_printed_code_answers_revoked(
    desk: Desk,
) -> None:
    code = _paper(desk).json()["code"]
    revoked = desk.client.post(
        f"/api/v1/credentials/{desk.credential_id}/revoke",
        json={"reason": "测试撤销", "code": "03"},
        headers=auth(desk.agency.api_key),
    )
    assert revoked.status_code == 200, revoked.text
    answer = _resolve(desk, code)
    assert answer.json()["reason"] == "REVOKED", answer.text
    assert answer.json()["fields"] == []
    refused = _paper(desk)
    assert refused.status_code == 409, refused.text
    assert "01" in refused.json()["detail"]["message_en"]


def test_bad_paper_requests_are_refused_with_what_was_expected(desk: Desk) -> None:
    for days in (0, 367, "ninety"):
        refused = _paper(desk, {"valid_days": days})
        assert refused.status_code == 422, refused.text
    assert _paper(desk, {"valid_days": 3, "extra": 1}).status_code == 422
    assert (
        desk.client.post(f"/api/v1/credentials/{desk.credential_id}/paper-reference").status_code
        == 401
    )
    assert _paper(desk, key="ak_not-a-key").status_code == 401
    missing = desk.client.post(
        "/api/v1/credentials/no-such-credential/paper-reference",
        headers=auth(desk.agency.api_key),
    )
    assert missing.status_code == 404, missing.text
    with desk.fed.gateways[HZ].sessions() as session:
        assert session.scalars(select(ReferenceCodeRow)).all() == []


def test_the_code_lifetime_is_a_setting_and_bounded(desk: Desk) -> None:
    hz = desk.fed.gateways[HZ]
    hz.settings = hz.settings.model_copy(update={"reference_ttl": 30})
    made = _ask(desk).json()
    assert made["expires_in"] == 30
    desk.fed.clock.advance(30)
    assert _resolve(desk, made["code"]).json()["reason"] == "REFERENCE_EXPIRED"
    for ttl in (4, 3601):
        with pytest.raises(ValidationError, match="reference_ttl"):
            Settings(reference_ttl=ttl)


def test_a_public_record_shows_every_field_to_any_counter(desk: Desk) -> None:
    """A business licence withholds nothing (it is a public record): a hotel desk, whose role
    names no field of it, sees it whole through a code, rather than a 403."""
    hz = desk.fed.gateways[HZ]
    amr = make_agency(hz, name="杭州市市场监督管理局", uscc=AMR_USCC, types=["business-licence"])
    holder = SigningKey.generate()
    _id, sd_jwt = _receive(desk.client, desk.fed.clock, amr, holder, "business-licence")
    ref = StatusReference.from_claims(sd_jwt.unverified_payload())
    assert ref is not None
    proof = make_holder_proof(holder, audience=str(desk.client.base_url).rstrip("/"),
                              credential=ref, now=desk.fed.clock())  # fmt: skip
    made = desk.client.post("/api/v1/references", json={"proof": proof})
    assert made.status_code == 201, made.text
    answer = _resolve(desk, made.json()["code"], reason="对公开户")
    assert answer.json()["reason"] == "VALID", answer.text
    assert _fields(answer) == SAMPLE_SUBJECTS["business-licence"]
