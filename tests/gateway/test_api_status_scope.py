"""An API key with only the ``status`` scope changes statuses but cannot read personal data:
not through ``GET`` (403) and not through the answer of a suspend, reinstate or revoke."""

from __future__ import annotations

from gateway.agencies import new_api_key
from gateway.core import Gateway
from gateway.routes.credentials import PERSONAL_DETAIL
from tests.conftest import Agency
from tests.gateway.helpers import auth, client_for
from tests.issuers.samples import SAMPLE_SUBJECTS

ID_NUMBER = SAMPLE_SUBJECTS["resident-eid"]["id_number"]


def test_a_status_only_key_gets_no_personal_data_back(gw: Gateway, psb: Agency) -> None:
    with client_for(gw) as client:
        body = {"type": "resident-eid", "subject": SAMPLE_SUBJECTS["resident-eid"]}
        cid = client.post("/api/v1/credentials", json=body, headers=auth(psb.api_key)).json()["id"]
        with gw.transaction() as session:
            status_only = new_api_key(session, agency_id=psb.id, scopes=["status"], now=gw.clock())
            both = new_api_key(session, agency_id=psb.id, scopes=["status", "read"], now=gw.clock())
        assert (
            client.get(f"/api/v1/credentials/{cid}", headers=auth(status_only)).status_code == 403
        )
        for action in ("suspend", "reinstate", "revoke"):
            answer = client.post(
                f"/api/v1/credentials/{cid}/{action}", json={"reason": "核查"},
                headers=auth(status_only),
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            assert ID_NUMBER not in answer.text
            shown = answer.json()
            assert {name: shown[name] for name in PERSONAL_DETAIL} == dict.fromkeys(PERSONAL_DETAIL)
            assert shown["status_history"][-1]["reason"] == "核查"
        again = client.post(
            "/api/v1/credentials", json=body, headers=auth(psb.api_key)
        ).json()["id"]  # fmt: skip
        read_too = client.post(
            f"/api/v1/credentials/{again}/suspend", json={"reason": "核查"}, headers=auth(both)
        )
        assert read_too.status_code == 200
        assert read_too.json()["subject"]["id_number"] == ID_NUMBER
