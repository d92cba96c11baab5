"""``GET /api/v1/types`` (issue 12: "nothing lists the credential types and their fields"): each
type's fields with zh/en labels, which are required, the subject's JSON Schema and the validity
rules; one type by its code; an unknown code is a house 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from gateway.core import Gateway
from tests.gateway.helpers import client_for
from tests.issuers.samples import SAMPLE_SUBJECTS


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as c:
        yield c


def test_every_type_is_listed_with_its_fields_labels_and_rules(
    client: TestClient, gw: Gateway
) -> None:
    answer = client.get("/api/v1/types")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "public, max-age=300"
    listed = {t["code"]: t for t in answer.json()["types"]}
    assert set(listed) == {t.code for t in gw.types} == set(SAMPLE_SUBJECTS)
    for code, described in listed.items():
        ctype = gw.types.get(code)
        assert described["name"] == {"zh": ctype.name_zh, "en": ctype.name_en}
        assert [f["name"] for f in described["fields"]] == [f.name for f in ctype.fields]
        for field in described["fields"]:
            assert field["label"]["zh"]
            assert field["label"]["en"]
            assert field["required"] == ctype.field(field["name"]).required
        assert described["required"] == [f.name for f in ctype.submitted_fields if f.required]
        # The subject schema accepts the type's sample subject and refuses an empty one.
        schema = described["subject_schema"]
        Draft202012Validator.check_schema(schema)
        assert not list(Draft202012Validator(schema).iter_errors(SAMPLE_SUBJECTS[code]))
        assert list(Draft202012Validator(schema).iter_errors({}))
        assert described["validity"]["rule"]["zh"]
        assert described["validity"]["rule"]["en"]
    licence = listed["business-licence"]
    assert licence["holder"]["code_type_name"] == {
        "zh": "统一社会信用代码",
        "en": "unified social credit code",
    }
    uscc = next(f for f in licence["fields"] if f["name"] == "uscc")
    assert uscc["schema"]["x-check"] == "uscc"
    assert uscc["visibility"] == "qr"
    permit = listed["food-business-permit"]["validity"]
    assert permit["printed_valid_until"] is True
    assert permit["valid_until_required"] is True
    assert permit["default_days"] is None
    driving = listed["driving-licence"]["validity"]
    assert (driving["printed_valid_from"], driving["valid_until_required"]) == (True, False)
    assert "absent: no expiry" in driving["rule"]["en"]
    assert listed["resident-eid"]["validity"]["default_days"] == 3650
    masked = next(f for f in listed["resident-eid"]["fields"] if f["name"] == "id_number_masked")
    assert masked["derived"] == {"from": "id_number", "rule": "keep-first-6-last-4"}
    assert "id_number_masked" not in listed["resident-eid"]["subject_schema"]["properties"]


def test_one_type_and_an_unknown_one(client: TestClient) -> None:
    one = client.get("/api/v1/types/food-business-permit")
    assert one.status_code == 200, one.text
    assert one.json()["code"] == "food-business-permit"
    missing = client.get("/api/v1/types/no-such-type")
    assert missing.status_code == 404
    detail = missing.json()["detail"]
    assert detail["message"].startswith("未找到")
    assert "business-licence" in detail["message_en"]
