"""Trust marks granting verifier roles: the region's anchor grants a hotel desk the police-counter
role by a mark; its city attaches the mark; the desk may then ask for the full ID number, and
no longer once the anchor revokes the mark or cannot say that it stands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from gateway import trustmarks, verifiers
from gateway.errors import Conflict
from gateway.models import AuditRow
from tests.conftest import FakeClock
from tests.gateway.trustmark_helpers import FULL_ID, HZ, POLICE, YRD, Desk, hotel_desk
from trust.federation import (
    TRUST_MARK_STATUS_MEDIA_TYPE,
    sign_trust_mark,
    verify_entity_configuration,
    verify_trust_mark_status,
)
from trust.keys import SigningKey


def _refusal_codes(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [e["code"] for e in answer.json()["detail"]["errors"]]


@pytest.fixture
def desk(tmp_path: Path, clock: FakeClock, db_url: str) -> Iterator[Desk]:
    """The shared hotel desk, with 杭州 on SQLite and on PostgreSQL when the suite has one."""
    with hotel_desk(tmp_path, clock, database_url=db_url) as made:
        yield made


def test_a_desk_granted_police_counter_by_a_mark_may_ask_for_the_id_number(desk: Desk) -> None:
    assert _refusal_codes(desk.ask()) == ["not_allowed_by_role"]  # its own role does not
    issued = desk.grant()
    assert issued.trust_mark_type == POLICE
    check = desk.attach(issued.token)
    assert check.role == "police-counter"
    made = desk.ask()
    assert made.status_code == 201, made.text
    with desk.fed.gateways[HZ].sessions() as session:
        audit = session.query(AuditRow).filter_by(action="presentation.request").one()
        assert audit.detail["granted_by"] == POLICE
    # its role still covers what it covered, without asking anybody
    plain = desk.ask({**FULL_ID, "fields": ["name"]})
    assert plain.status_code == 201, plain.text


def test_the_counter_page_learns_which_fields_a_held_mark_would_add(desk: Desk) -> None:
    def profile() -> Any:
        answer = desk.city.get("/api/v1/counter", headers={"Authorization": f"Bearer {desk.key}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def by_field(shown: Any) -> dict[str, str | None]:
        (eid,) = [t for t in shown["may_request"] if t["type"] == "resident-eid"]
        return {f["name"]: f["trust_mark"] for f in eid["fields"]}

    before = profile()
    assert before["trust_marks"] == []
    assert set(by_field(before).values()) == {None}
    assert "id_number" not in by_field(before)
    desk.attach(desk.grant().token)
    after = profile()
    assert after["role"]["code"] == "hotel-desk"  # its registered role is unchanged
    assert [(m["type"], m["role"]["code"]) for m in after["trust_marks"]] == [
        (POLICE, "police-counter")
    ]
    fields = by_field(after)
    assert fields["id_number"] == POLICE
    assert fields["name"] is None  # the registered role allows it already
    assert "driving-licence" in {t["type"] for t in after["may_request"]}


def test_after_revocation_the_mark_grants_nothing(desk: Desk) -> None:
    issued = desk.grant()
    desk.attach(issued.token)
    assert desk.ask().status_code == 201
    trustmarks.revoke(desk.fed.gateways[YRD], mark_id=issued.id, actor="t")
    refused = desk.ask()
    assert _refusal_codes(refused) == ["not_allowed_by_role", "trust_mark_not_valid"]
    mark_error = refused.json()["detail"]["errors"][1]
    assert "已撤销" in mark_error["message"]
    assert "revoked" in mark_error["message_en"]


def test_when_the_anchor_cannot_answer_for_the_mark_it_grants_nothing(desk: Desk) -> None:
    desk.attach(desk.grant().token)
    desk.fed.transport.down.add(YRD)
    refused = desk.ask()
    assert _refusal_codes(refused) == ["not_allowed_by_role", "trust_mark_not_valid"]
    assert "无法" in refused.json()["detail"]["errors"][1]["message"]


def test_an_expired_mark_grants_nothing(desk: Desk) -> None:
    desk.attach(desk.grant(days=1).token)
    desk.fed.clock.advance(86_400 + 1)
    # the mark is no longer carried, and nothing else lets the desk ask
    assert _refusal_codes(desk.ask()) == ["not_allowed_by_role"]


def test_the_counter_carries_its_mark_and_the_anchor_lists_itself_as_issuer(desk: Desk) -> None:
    issued = desk.grant()
    desk.attach(issued.token)
    leaf = desk.city.get(f"/verifiers/{desk.id}/.well-known/openid-federation").text
    statement = verify_entity_configuration(leaf, now=desk.fed.clock.now)
    assert statement.trust_marks == ((POLICE, issued.token),)
    anchor_ec = desk.fed.client(YRD).get("/.well-known/openid-federation").text
    anchor = verify_entity_configuration(anchor_ec, now=desk.fed.clock.now)
    assert anchor.trust_mark_issuers[POLICE] == (YRD,)
    endpoints = anchor.metadata["federation_entity"]
    assert (
        endpoints["federation_trust_mark_status_endpoint"] == f"{YRD}/federation/trust_mark_status"
    )


def test_the_status_endpoint_answers_active_then_revoked_signed_by_the_anchor(desk: Desk) -> None:
    issued = desk.grant()
    anchor = desk.fed.client(YRD)
    keys = verify_entity_configuration(
        anchor.get("/.well-known/openid-federation").text, now=desk.fed.clock.now
    ).jwks

    def status() -> str:
        answer = anchor.post("/federation/trust_mark_status", data={"trust_mark": issued.token})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith(TRUST_MARK_STATUS_MEDIA_TYPE)
        return verify_trust_mark_status(
            answer.text, keys=keys, expected_iss=YRD, trust_mark=issued.token,
            now=desk.fed.clock.now,
        )  # fmt: skip

    assert status() == "active"
    trustmarks.revoke(desk.fed.gateways[YRD], mark_id=issued.id, actor="t")
    assert status() == "revoked"
    unknown = sign_trust_mark(
        iss=YRD, sub=desk.entity_id, trust_mark_type=POLICE, iat=desk.fed.clock.now, exp=None,
        key=SigningKey.generate(),
    )  # fmt: skip
    missing = anchor.post("/federation/trust_mark_status", data={"trust_mark": unknown})
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    bare = anchor.post("/federation/trust_mark_status", data={"other": "x"})
    assert (bare.status_code, bare.json()["error"]) == (400, "invalid_request")
    huge = anchor.post("/federation/trust_mark_status", data={"trust_mark": "a" * 20_000})
    assert (huge.status_code, huge.json()["error"]) == (400, "invalid_request")


def test_the_listing_and_trust_mark_endpoints_show_active_marks_only(desk: Desk) -> None:
    issued = desk.grant()
    anchor = desk.fed.client(YRD)
    listed = anchor.get("/federation/trust_mark_list", params={"trust_mark_type": POLICE})
    assert listed.json() == [desk.entity_id]
    got = anchor.get(
        "/federation/trust_mark", params={"trust_mark_type": POLICE, "sub": desk.entity_id}
    )
    assert (got.status_code, got.text) == (200, issued.token)
    trustmarks.revoke(desk.fed.gateways[YRD], mark_id=issued.id, actor="t")
    assert (
        anchor.get("/federation/trust_mark_list", params={"trust_mark_type": POLICE}).json() == []
    )
    gone = anchor.get(
        "/federation/trust_mark", params={"trust_mark_type": POLICE, "sub": desk.entity_id}
    )
    assert gone.status_code == 404


def test_a_city_refuses_to_attach_a_mark_for_another_counter_or_a_forged_one(desk: Desk) -> None:
    other, _ = verifiers.add_verifier(
        desk.fed.gateways[HZ], name="另一前台", role="hotel-desk", actor="t"
    )
    issued = desk.grant()
    with closing(desk.fed.fetcher()) as http, pytest.raises(Conflict, match="WrongSubject"):
        trustmarks.attach(
            desk.fed.gateways[HZ], http, verifier_id=other.id, token=issued.token, actor="t"
        )
    forged = sign_trust_mark(
        iss=YRD, sub=desk.entity_id, trust_mark_type=POLICE, iat=desk.fed.clock.now, exp=None,
        key=SigningKey.generate(),
    )  # fmt: skip
    with pytest.raises(Conflict, match="UntrustedTrustMark"):
        desk.attach(forged)
    trustmarks.revoke(desk.fed.gateways[YRD], mark_id=issued.id, actor="t")
    with pytest.raises(Conflict, match="TrustMarkRevoked"):
        desk.attach(issued.token)


def test_only_an_anchor_grants_and_only_to_counters_of_its_cities(desk: Desk) -> None:
    with pytest.raises(Conflict):
        trustmarks.grant(
            desk.fed.gateways[HZ], subject=desk.entity_id, role="police-counter", actor="t"
        )
    with pytest.raises(Conflict):
        trustmarks.grant(
            desk.fed.gateways[YRD], subject="http://127.0.0.1:9555/verifiers/vf-1",
            role="police-counter", actor="t",
        )  # fmt: skip
