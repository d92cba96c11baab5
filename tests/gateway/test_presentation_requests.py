"""A counter's OpenID4VP request (issue 9): signed by the counter's federation key with
the openid_federation: client id, direct_post to this gateway, a fresh nonce, a DCQL query and
the reason; refused beyond the counter's role; gone after five minutes. One test per rule."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway import verifiers
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from trust.federation import resolve_chain, verify_entity_configuration
from trust.jws import KeyIndex, verify_compact
from trust.oid4vp import REQUEST_TYP

YRD, HZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101"
ASK = {"type": "resident-eid", "fields": ["name", "sex"], "reason": "旅馆住宿登记"}


@pytest.fixture
def counter(
    tmp_path: Path, clock: FakeClock, db_url: str
) -> Iterator[tuple[Federation, TestClient, str, str]]:
    """杭州 (on SQLite, and on PostgreSQL when the suite has one) and its hotel desk."""
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["resident-eid"],
                      database_url=db_url)  # fmt: skip
        row, key = verifiers.add_verifier(hz, name="西湖宾馆前台", role="hotel-desk", actor="t")
        yield fed, fed.client(HZ), row.id, key


def _ask(client: TestClient, key: str, body: dict[str, Any] = ASK) -> Any:
    return client.post(
        "/api/v1/presentation-requests", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def test_the_request_object_is_signed_by_the_counter_the_federation_vouches_for(
    counter: tuple[Federation, TestClient, str, str],
) -> None:
    fed, client, verifier_id, key = counter
    made = _ask(client, key)
    assert made.status_code == 201, made.text
    out = made.json()
    leaf = f"{HZ}/verifiers/{verifier_id}"
    assert out["client_id"] == f"openid_federation:{leaf}"
    assert out["uri"].startswith("openid4vp://?client_id=openid_federation%3Ahttp%3A%2F%2F")
    assert out["request_uri"] == f"{HZ}/oid4vp/requests/{out['id']}"
    fetched = client.get(f"/oid4vp/requests/{out['id']}")
    assert fetched.status_code == 200
    assert fetched.headers["content-type"].startswith("application/oauth-authz-req+jwt")
    anchor = verify_entity_configuration(
        fed.client(YRD).get("/.well-known/openid-federation").text, now=fed.clock.now
    )
    resolved = resolve_chain(
        leaf, fetcher=fed.fetcher(), trust_anchors={YRD: list(anchor.jwks)}, now=fed.clock.now
    )
    verified = verify_compact(fetched.text, KeyIndex(resolved.keys), typ=REQUEST_TYP)
    claims = verified.payload
    assert claims["client_id"] == out["client_id"]
    assert claims["response_type"] == "vp_token"
    assert claims["response_mode"] == "direct_post"
    assert claims["response_uri"] == f"{HZ}/oid4vp/responses/{out['id']}"
    assert claims["purpose"] == "旅馆住宿登记"
    assert claims["exp"] - claims["iat"] == 300
    assert len(claims["nonce"]) >= 32
    assert len(claims["state"]) >= 32
    query = claims["dcql_query"]["credentials"][0]
    assert query["format"] == "dc+sd-jwt"
    assert query["meta"] == {"vct_values": [f"{HZ}/vct/resident-eid"]}
    assert query["claims"] == [{"path": ["name"]}, {"path": ["sex"]}]


def test_every_request_has_a_fresh_nonce_and_state(
    counter: tuple[Federation, TestClient, str, str],
) -> None:
    _, client, _, key = counter
    seen = []
    for _ in range(3):
        out = _ask(client, key).json()
        token = client.get(f"/oid4vp/requests/{out['id']}").text
        payload = _payload(token)
        seen.append((payload["nonce"], payload["state"]))
    assert len({n for n, _ in seen}) == 3
    assert len({s for _, s in seen}) == 3


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ASK, "fields": ["name", "id_number"]}, "fields"),
        ({**ASK, "type": "driving-licence"}, "type"),
    ],
    ids=["the-full-id-number-at-a-hotel-desk", "a-type-the-role-may-not-ask"],
)
def test_a_request_for_more_than_the_role_allows_is_refused(
    counter: tuple[Federation, TestClient, str, str], body: dict[str, Any], field: str
) -> None:
    _fed, client, _, key = counter
    refused = _ask(client, key, body)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert detail["errors"][0]["field"] == field
    assert detail["errors"][0]["code"] == "not_allowed_by_role"
    if field == "fields":  # it says what the desk may ask instead
        assert "id_number_masked" in detail["errors"][0]["message_en"]
    assert detail["message"]
    assert detail["message_en"]


@pytest.mark.parametrize(
    "body",
    [
        {**ASK, "fields": []},
        {**ASK, "reason": ""},
        {**ASK, "reason": "理" * 201},
        {**ASK, "fields": ["x" * 65]},
        {**ASK, "type": "no-such-type"},
        {"type": "resident-eid"},
    ],
    ids=["no-fields", "no-reason", "reason-too-long", "field-too-long", "unknown-type", "missing"],
)
def test_bad_requests_are_4xx(
    counter: tuple[Federation, TestClient, str, str], body: dict[str, Any]
) -> None:
    _, client, _, key = counter
    answer = _ask(client, key, body)
    assert 400 <= answer.status_code < 500, answer.text


def test_a_counter_key_is_required(counter: tuple[Federation, TestClient, str, str]) -> None:
    _, client, _, key = counter
    assert client.post("/api/v1/presentation-requests", json=ASK).status_code == 401
    assert _ask(client, key[:-3] + "abc").status_code == 401
    assert _ask(client, "ek_abc_def").status_code == 401


def test_a_request_is_gone_after_five_minutes(
    counter: tuple[Federation, TestClient, str, str],
) -> None:
    from verify.scan import decode_image

    fed, client, _, key = counter
    out = _ask(client, key).json()
    png = client.get(out["qr_png"])
    assert png.status_code == 200
    assert decode_image(png.content) == [out["uri"]]
    fed.clock.now += 299
    assert client.get(f"/oid4vp/requests/{out['id']}").status_code == 200
    fed.clock.now += 1
    assert client.get(f"/oid4vp/requests/{out['id']}").status_code == 404
    assert client.get(out["qr_png"]).status_code == 404
    assert client.get("/oid4vp/requests/" + "x" * 300).status_code == 422  # past the id's bound


def test_a_counter_reads_who_it_is_and_what_its_role_may_ask(
    counter: tuple[Federation, TestClient, str, str],
) -> None:
    _, client, verifier_id, key = counter
    answer = client.get("/api/v1/counter", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "id": verifier_id,
        "name": "西湖宾馆前台",
        "entity_id": f"{HZ}/verifiers/{verifier_id}",
        "city": {"name": "杭州市", "code": "330100"},
        "role": {"code": "hotel-desk", "name": {"zh": "旅馆前台", "en": "Hotel front desk"}},
        "trust_marks": [],
        "may_request": [
            {
                "type": "resident-eid",
                "name": {"zh": "居民身份证电子证照", "en": "Resident identity card (electronic)"},
                "fields": [
                    {"name": "name", "label": {"zh": "姓名", "en": "Name"}, "trust_mark": None},
                    {
                        "name": "id_number_masked",
                        "label": {
                            "zh": "公民身份号码（部分隐藏）",
                            "en": "Citizen ID number (masked)",
                        },
                        "trust_mark": None,
                    },
                    {"name": "sex", "label": {"zh": "性别", "en": "Sex"}, "trust_mark": None},
                ],
            }
        ],
        "reason_max_length": 200,
        "request_ttl": 300,
    }


def test_each_counter_reads_its_own_role_with_fields_in_the_types_order(
    counter: tuple[Federation, TestClient, str, str],
) -> None:
    fed, client, _, _ = counter
    row, key = verifiers.add_verifier(
        fed.gateways[HZ], name="西湖派出所户籍窗口", role="police-counter", actor="t"
    )
    out = client.get("/api/v1/counter", headers={"Authorization": f"Bearer {key}"}).json()
    assert (out["id"], out["role"]["code"]) == (row.id, "police-counter")
    asks = {t["type"]: [f["name"] for f in t["fields"]] for t in out["may_request"]}
    assert asks == {
        "driving-licence": ["name", "id_number", "id_number_masked"],
        "resident-eid": [
            "name",
            "id_number",
            "id_number_masked",
            "sex",
            "ethnicity",
            "birth_date",
            "address",
        ],
    }
    labels = {f["name"]: f["label"] for f in out["may_request"][0]["fields"]}
    assert labels["id_number"] == {"zh": "证号", "en": "Licence number (citizen ID number)"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic abc", "Bearer ", "Bearer ek_abc_def", "Bearer vk_vf-nobody_secret"],
    ids=["none", "not-bearer", "empty", "an-agency-key", "an-unknown-counter"],
)
def test_who_a_counter_is_needs_its_key(
    counter: tuple[Federation, TestClient, str, str], authorization: str | None
) -> None:
    _, client, _, _ = counter
    headers = {} if authorization is None else {"Authorization": authorization}
    refused = client.get("/api/v1/counter", headers=headers)
    assert refused.status_code == 401, refused.text
    detail = refused.json()["detail"]
    assert detail["code"] == "unauthorised"
    assert detail["message"].startswith("身份验证失败")
    assert "counter key" in detail["message_en"]


def test_a_counter_key_with_a_wrong_secret_is_refused(
    counter: tuple[Federation, TestClient, str, str],
) -> None:
    _, client, _, key = counter
    wrong = key[:-3] + ("abc" if not key.endswith("abc") else "xyz")
    refused = client.get("/api/v1/counter", headers={"Authorization": f"Bearer {wrong}"})
    assert refused.status_code == 401
    assert "unknown counter key" in refused.json()["detail"]["message_en"]


def test_openapi_documents_who_a_counter_is(
    counter: tuple[Federation, TestClient, str, str],
) -> None:
    _, client, _, _ = counter
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/api/v1/counter"]["get"]
    assert "核验点" in operation["summary"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/CounterOut"}
    documented = spec["components"]["schemas"]["CounterOut"]["properties"]
    assert {"id", "name", "city", "role", "may_request", "reason_max_length"} <= set(documented)
