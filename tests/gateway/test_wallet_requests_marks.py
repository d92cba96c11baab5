"""The web wallet's resolve endpoint takes a role a counter holds by a valid, active trust mark,
as the CLI wallet does (:func:`gateway.trustmarks.widen_by_marks`): a hotel desk granted
police-counter by 长三角's anchor may ask the holder for the ID number, and once the anchor
revokes the mark the same request is refused."""

from __future__ import annotations

from pathlib import Path

from gateway import trustmarks
from tests.conftest import FakeClock
from tests.gateway.trustmark_helpers import YRD, hotel_desk

RESOLVE = "/wallet/api/requests/resolve"


def test_a_role_granted_by_a_trust_mark_is_taken_until_revoked(
    tmp_path: Path, clock: FakeClock
) -> None:
    with hotel_desk(tmp_path, clock) as desk:
        issued = desk.grant()
        desk.attach(issued.token)
        made = desk.ask()  # name and id_number: beyond a hotel desk's own role
        assert made.status_code == 201, made.text
        got = desk.city.post(RESOLVE, json={"uri": made.json()["uri"]})
        assert got.status_code == 200, got.text
        asked = got.json()
        assert [f["name"] for f in asked["fields"]] == ["name", "id_number"]
        assert asked["verifier"]["role"]["code"] == "hotel-desk"
        assert asked["roles_by_trust_mark"] == [
            {"zh": "公安窗口", "en": "Police counter", "issuer": YRD}
        ]

        trustmarks.revoke(desk.fed.gateways[YRD], mark_id=issued.id, actor="t")
        refused = desk.city.post(RESOLVE, json={"uri": made.json()["uri"]})
        assert refused.status_code == 422, refused.text
        assert "may not ask for ['id_number']" in refused.json()["detail"]["message_en"]
