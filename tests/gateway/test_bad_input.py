"""Bad input changes nothing and never answers 5xx (issue 11).

One named case per finding of the attack corpus: out-of-range validity dates (a 500 after the
credential was written, its serial lost), ids and integers past what their column holds (500 on
``OverflowError`` or PostgreSQL's range error), and framework errors (unknown route, wrong
method, unparseable body) answered in FastAPI's bare ``{"detail": "…"}`` instead of the house
shape. Every answer carries ``X-Content-Type-Options: nosniff``. Each runs on SQLite and, when
configured, PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.core import Gateway
from tests.conftest import Agency
from tests.gateway.helpers import auth, client_for, count_credentials
from tests.gateway.holders import fresh_body, fresh_subject
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.identifiers import LicenceIdentifier


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as c:
        yield c


def _issue(client: TestClient, agency: Agency, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/credentials", json=body, headers=auth(agency.api_key))


def _serial(answer: Any) -> int:
    assert answer.status_code == 201, answer.text
    return int(LicenceIdentifier.parse(answer.json()["identifier"]).serial)


def assert_house_error(answer: Any, status: int) -> dict[str, Any]:
    """The documented error shape: ``{"detail": {"code", "message" (zh-CN), "message_en"}}``."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    detail = answer.json()["detail"]
    assert isinstance(detail, dict), answer.text
    assert detail["code"]
    assert detail["message"]
    assert detail["message_en"]
    assert any("\u4e00" <= c <= "\u9fff" for c in detail["message"]), detail  # Chinese first
    assert answer.headers["x-content-type-options"] == "nosniff"
    return detail


# (case, credential type, body fields, the field the 422 names)
OUT_OF_RANGE = [
    ("year-1 start", "business-licence", {"valid_from": "0001-01-01"}, "valid_from"),
    ("year-1 start at +14:00", "business-licence",
     {"valid_from": "0001-01-01T00:00:00+14:00"}, "valid_from"),
    ("year-9999 start of a 10-year e-ID", "resident-eid", {"valid_from": "9999-12-31"},
     "valid_from"),
    ("start whose default validity runs past the range", "resident-eid",
     {"valid_from": "2199-06-01"}, "valid_from"),
    ("year-9999 end at -14:00", "business-licence",
     {"valid_until": "9999-12-31T23:59:59-14:00"}, "valid_until"),
    ("year-9999 end", "business-licence", {"valid_until": "9999-12-31"}, "valid_until"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("ctype", "dates", "field"),
    [pytest.param(t, d, f, id=name) for name, t, d, f in OUT_OF_RANGE],
)
def test_out_of_range_date_is_a_field_error_and_writes_nothing(
    client: TestClient,
    gw: Gateway,
    amr: Agency,
    psb: Agency,
    ctype: str,
    dates: dict[str, str],
    field: str,
) -> None:
    agency = psb if ctype == "resident-eid" else amr
    good = {"type": ctype, "subject": SAMPLE_SUBJECTS[ctype]}
    first = _serial(_issue(client, agency, good))
    written = count_credentials(gw)

    refused = _issue(client, agency, {**good, **dates})

    detail = assert_house_error(refused, 422)
    (problem,) = detail["errors"]
    assert problem["field"] == field
    assert problem["code"] == "range"
    assert "2199-12-31" in problem["message_en"]
    assert "found" in problem["message_en"]
    assert count_credentials(gw) == written  # nothing written
    another = {"type": ctype, "subject": fresh_subject(ctype)}  # one live licence a holder
    assert _serial(_issue(client, agency, another)) == first + 1  # the serial did not skip


def test_the_edges_of_the_range_are_issued(client: TestClient, amr: Agency) -> None:
    early = _issue(client, amr, {**fresh_body(), "valid_from": "1900-01-01"})
    assert early.status_code == 201, early.text
    late = _issue(client, amr, {**fresh_body(), "valid_until": "2199-12-31"})
    assert late.status_code == 201, late.text
    assert late.json()["valid_until"] == "2199-12-31T23:59:59+08:00"


def test_an_answer_that_cannot_be_rendered_rolls_the_issuance_back(
    client: TestClient, gw: Gateway, amr: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever fails while the answer is made, the credential and its serial are not kept."""
    from gateway import issuance

    first = _serial(_issue(client, amr, fresh_body()))
    written = count_credentials(gw)
    real = issuance.qr_text_for

    def broken(*_: Any) -> str:
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(issuance, "qr_text_for", broken)
    with TestClient(create_app(gw), raise_server_exceptions=False) as unraising:
        failed = _issue(unraising, amr, fresh_body())
    assert_house_error(failed, 500)
    monkeypatch.setattr(issuance, "qr_text_for", real)
    assert count_credentials(gw) == written
    assert _serial(_issue(client, amr, fresh_body())) == first + 1


# Path, query and body integers past what their column holds (INTEGER 2^31 - 1 for a status
# list's id on PostgreSQL; BIGINT 2^63 - 1 for a trust list's version).
@pytest.mark.parametrize(
    "path",
    [
        "/statuslists/2147483648",
        "/statuslists/9223372036854775808",
        "/statuslists/218039864414192680304640",
        "/statuslists/-1",
        "/statuslists/0",
    ],
)
def test_status_list_id_past_its_column_is_a_field_error(client: TestClient, path: str) -> None:
    detail = assert_house_error(client.get(path), 422)
    (problem,) = detail["errors"]
    assert problem["field"] == "path.list_id"
    assert "found" in problem["message_en"]
    assert "实际为" in problem["message"]


@pytest.mark.parametrize("since", ["9223372036854775808", "218039864414192680304640", "0"])
def test_trust_list_since_past_its_column_is_refused(client: TestClient, since: str) -> None:
    answer = client.get("/trust/list", params={"since": since})
    # a federation endpoint: OpenID Federation 1.0 §8.9 error form, zh-CN then English
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == "invalid_request"
    assert "since" in body["error_description"]
    assert "请求参数" in body["error_description"]
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "query",
    [
        {"trust_mark_type": "x\x00", "sub": "https://a.example"},
        {"trust_mark_type": "x", "sub": "https://a.example/\x00"},
    ],
)
@pytest.mark.parametrize("path", ["/federation/trust_mark_list", "/federation/trust_mark"])
def test_nul_in_a_federation_query_is_invalid_request(
    client: TestClient, path: str, query: dict[str, str]
) -> None:
    """schemathesis found these answering 500 on PostgreSQL (it refuses NUL in text)."""
    answer = client.get(path, params=query)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/credentials/" + "a" * 41),
        ("get", "/api/v1/credentials/" + "a" * 41 + "/qr.png"),
        ("post", "/api/v1/credentials/" + "a" * 41 + "/revoke"),
        ("get", "/oid4vp/requests/" + "a" * 41),
        ("get", "/api/v1/credentials/a%00b"),  # PostgreSQL refuses NUL in text: once a 500
        ("get", "/oid4vp/requests/a%00b"),
    ],
)
def test_ids_longer_than_their_column_are_field_errors(
    client: TestClient, amr: Agency, method: str, path: str
) -> None:
    kwargs: dict[str, Any] = {"headers": auth(amr.api_key)}
    if method == "post":
        kwargs["json"] = {"reason": "核查"}
    detail = assert_house_error(getattr(client, method)(path, **kwargs), 422)
    assert detail["errors"][0]["code"] in {"string_too_long", "string_pattern_mismatch"}


def test_nul_in_a_reason_is_refused_before_the_database(
    client: TestClient, gw: Gateway, amr: Agency
) -> None:
    """PostgreSQL refuses NUL in text (a 500 once it got there); whitespace alone is no reason."""
    cid = _issue(client, amr, fresh_body()).json()["id"]
    for reason in ("停业\x00整顿", "   "):
        answer = client.post(
            f"/api/v1/credentials/{cid}/suspend", json={"reason": reason}, headers=auth(amr.api_key)
        )
        detail = assert_house_error(answer, 422)
        assert detail["errors"][0]["field"] == "reason"
    assert (
        client.get(f"/api/v1/credentials/{cid}", headers=auth(amr.api_key)).json()["status_code"]
        == "01"
    )


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("name", {"name": "张\x00三", "purposes": ["银行开户"]}),
        ("purposes.0", {"name": "张三", "purposes": ["银行\x00开户"]}),
    ],
)
def test_control_characters_in_a_delegation_are_refused_before_the_database(
    client: TestClient, field: str, body: dict[str, Any]
) -> None:
    """Stored as given once the proof holds, and PostgreSQL refuses NUL in text: refused first."""
    answer = client.post(
        "/api/v1/delegations", json={"proof": "x.y.z", "until": "2027-06-30", **body}
    )
    detail = assert_house_error(answer, 422)
    assert [e["field"] for e in detail["errors"]] == [field]


def test_empty_subject_is_a_field_error(client: TestClient, amr: Agency) -> None:
    detail = assert_house_error(
        _issue(client, amr, {"type": "business-licence", "subject": {}}), 422
    )
    assert detail["errors"][0]["field"] == "subject"


# --- framework errors in the house shape --------------------------------------------------------


def test_unknown_route_is_a_house_404(client: TestClient) -> None:
    detail = assert_house_error(client.get("/api/v1/nothing-here"), 404)
    assert detail["code"] == "not_found"
    assert "/api/v1/nothing-here" in detail["message_en"]


def test_wrong_method_is_a_house_405(client: TestClient) -> None:
    answer = client.delete("/api/v1/verify")
    detail = assert_house_error(answer, 405)
    assert detail["code"] == "method_not_allowed"
    assert "POST" in answer.headers["allow"]
    assert "POST" in detail["message_en"]
    assert "DELETE" in detail["message_en"]


def test_deeply_nested_json_is_a_house_400(client: TestClient) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    answer = client.post(
        "/api/v1/verify", content=nested, headers={"Content-Type": "application/json"}
    )
    detail = assert_house_error(answer, 400)
    assert detail["code"] == "bad_request"


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b'{"qr": "x"} trailing'])
def test_unparseable_json_is_a_house_422(client: TestClient, body: bytes) -> None:
    answer = client.post(
        "/api/v1/verify", content=body, headers={"Content-Type": "application/json"}
    )
    assert_house_error(answer, 422)


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/static/page.js", "/api/v1/credentials/x", "/statuslists",
     "/.well-known/jwks.json", "/nothing", "/docs", "/openapi.json", "/"],
)  # fmt: skip
def test_every_answer_says_nosniff(client: TestClient, path: str) -> None:
    assert client.get(path).headers["x-content-type-options"] == "nosniff"


def test_too_large_body_says_nosniff(client: TestClient) -> None:
    answer = client.post("/api/v1/verify", content=b"x" * (300 * 1024))
    assert_house_error(answer, 413)


def _chunks() -> Iterator[bytes]:  # sent without Content-Length: found too long while read
    for _ in range(30):
        yield b"x" * 10_000


def test_too_large_body_without_a_length_is_413_not_a_parse_error(client: TestClient) -> None:
    """Found while FastAPI parsed the body, the bound answered 400 "error parsing the body"."""
    answer = client.post(
        "/api/v1/verify", content=_chunks(), headers={"Content-Type": "application/json"}
    )
    detail = assert_house_error(answer, 413)
    assert detail["code"] == "too_large"
    assert "262144" in detail["message"]
    federation = client.post(
        "/federation/join",
        content=_chunks(),
        headers={"Content-Type": "application/entity-statement+jwt"},
    )
    assert federation.status_code == 413, federation.text
    assert federation.json()["error"] == "invalid_request"  # OpenID Federation 1.0 §8.9 form
