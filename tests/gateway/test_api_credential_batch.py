"""``POST /api/v1/credentials/batch``: one answer a row, idempotent per row, bounded (issue 12);
and ``POST /api/v1/credentials`` refuses a holder a second live licence, naming the first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway import batch_issue
from gateway.core import Gateway
from tests.conftest import Agency
from tests.gateway.helpers import auth, client_for, count_credentials, licence_body
from tests.gateway.test_batch_rows import licence

PATH = "/api/v1/credentials/batch"


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as c:
        yield c


def _post(client: TestClient, agency: Agency, body: dict[str, Any]) -> Any:
    return client.post(PATH, json=body, headers=auth(agency.api_key))


def test_each_row_is_answered_and_posting_again_issues_nothing(
    client: TestClient, gw: Gateway, amr: Agency
) -> None:
    rows = [{"ref": "HZ-1", **licence(1)}, {**licence(2), "established_on": "明天"}, licence(3)]
    body = {"type": "business-licence", "rows": rows, "first_row": 5}
    first = _post(client, amr, body)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["rows"], answer["issued"], answer["already"], answer["refused"]) == (3, 2, 0, 1)
    results = answer["results"]
    assert [r["row"] for r in results] == [5, 6, 7]
    refused = results[1]
    assert refused["id"] is None
    assert refused["error"]["field"] == "established_on"
    assert refused["error"]["message"]
    assert refused["error"]["message_en"]
    for issued in (results[0], results[2]):
        assert issued["qr_text"].startswith("https://ecert.hangzhou.gov.cn/")
        verified = client.post("/api/v1/verify", json={"qr": issued["qr_text"]}).json()
        assert verified["reason"] == "VALID"
    again = _post(client, amr, body).json()
    assert (again["issued"], again["already"], again["refused"]) == (0, 2, 1)
    assert [r["id"] for r in again["results"]] == [r["id"] for r in results]
    assert [r["already"] for r in again["results"]] == [True, False, True]
    assert count_credentials(gw) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "business-licence", "rows": []}, "rows"),
        ({"type": "business-licence", "rows": [{"name": "x"}] * (batch_issue.MAX_ROWS + 1)},
         "rows"),
        ({"type": "business-licence", "rows": [{"name": "x"}], "first_row": 0}, "first_row"),
    ],
    ids=["no rows", "too many rows", "first row 0"],
)  # fmt: skip
def test_a_body_bad_as_a_whole_is_a_field_error_and_issues_nothing(
    client: TestClient, gw: Gateway, amr: Agency, body: dict[str, Any], field: str
) -> None:
    response = _post(client, amr, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["message"]
    assert detail["message_en"]
    assert field in response.text
    assert count_credentials(gw) == 0


def test_a_type_the_agency_may_not_issue_is_refused_whole(
    client: TestClient, gw: Gateway, psb: Agency
) -> None:
    response = _post(client, psb, {"type": "business-licence", "rows": [licence(1)]})
    assert response.status_code == 403, response.text
    assert response.json()["detail"]["message"]
    assert count_credentials(gw) == 0


def test_single_issue_refuses_a_second_live_licence_naming_the_first(
    client: TestClient, amr: Agency
) -> None:
    first = client.post("/api/v1/credentials", json=licence_body(), headers=auth(amr.api_key))
    assert first.status_code == 201, first.text
    second = client.post(
        "/api/v1/credentials",
        json=licence_body(name="杭州云栖数字科技有限公司（新）"),
        headers=auth(amr.api_key),
    )
    assert second.status_code == 422, second.text
    (error,) = second.json()["detail"]["errors"]
    assert error["field"] == "subject.uscc"
    assert first.json()["id"] in error["message"]
    assert first.json()["id"] in error["message_en"]


def test_the_openapi_document_describes_the_batch(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"][PATH]["post"]
    assert {"200", "401", "403", "413", "422"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert schema["properties"]["rows"]["maxItems"] == batch_issue.MAX_ROWS
