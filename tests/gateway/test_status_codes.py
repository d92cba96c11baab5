"""A status code given to suspend or reinstate (issue 12: "``--code`` on suspend/reinstate is
silently ignored"): honoured when the national table has it for that action, refused with a
zh/en field error otherwise, and nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.core import Gateway
from tests.conftest import Agency
from tests.gateway.helpers import auth, client_for, licence_body


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as c:
        yield c


def _change(client: TestClient, agency: Agency, cid: str, action: str, **body: str) -> Any:
    return client.post(
        f"/api/v1/credentials/{cid}/{action}",
        json={"reason": "核查", **body},
        headers=auth(agency.api_key),
    )


@pytest.mark.parametrize(
    ("action", "code", "expected"),
    [
        ("suspend", "03", "02"),
        ("suspend", "01", "02"),
        ("reinstate", "02", "01"),
        ("reinstate", "07", "01"),
        ("revoke", "02", "03"),
        ("revoke", "00", "03"),
    ],
)
def test_a_code_the_action_does_not_set_is_refused(
    client: TestClient, amr: Agency, action: str, code: str, expected: str
) -> None:
    h = auth(amr.api_key)
    cid = client.post("/api/v1/credentials", json=licence_body(), headers=h).json()["id"]
    if action == "reinstate":
        assert _change(client, amr, cid, "suspend").status_code == 200
    before = client.get(f"/api/v1/credentials/{cid}", headers=h).json()
    answer = _change(client, amr, cid, action, code=code)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]["errors"]
    assert (error["field"], error["code"]) == ("code", "status_code")
    assert f"'{code}'" in error["message"]
    assert f"expected one of {expected}" in error["message_en"]
    after = client.get(f"/api/v1/credentials/{cid}", headers=h).json()
    assert (after["status_code"], after["status_history"]) == (
        before["status_code"],
        before["status_history"],
    )


def test_the_code_an_action_sets_is_honoured_and_recorded(client: TestClient, amr: Agency) -> None:
    h = auth(amr.api_key)
    cid = client.post("/api/v1/credentials", json=licence_body(), headers=h).json()["id"]
    for action, code in (("suspend", "02"), ("reinstate", "01"), ("revoke", "05")):
        answer = _change(client, amr, cid, action, code=code)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status_code"] == code
    history = client.get(f"/api/v1/credentials/{cid}", headers=h).json()["status_history"]
    assert [(c["action"], c["code"], c["status"]["zh"], c["reason"]) for c in history] == [
        ("suspend", "02", "暂扣", "核查"),
        ("reinstate", "01", "有效", "核查"),
        ("revoke", "05", "失效", "核查"),
    ]
    assert {c["actor"] for c in history} == {f"apikey:{amr.api_key.split('_')[1]}"}
    assert all(c["at"].endswith("+08:00") for c in history)
