"""The OpenAPI document and the answers agree, case by case (issue 11's schemathesis findings:
"422 bodies that contradict the OpenAPI schema (documented as an array, served as an object),
29 undocumented status codes, and schema-valid requests refused (a whitespace-only `reason`,
`subject: {}`)").

schemathesis (``test_schemathesis.py``) looks for such disagreements at random; these are the
named ones, each answered by the gateway and checked against ``/openapi.json`` with
``jsonschema`` (the document is OpenAPI 3.1, whose schemas are JSON Schema 2020-12): the status
is one the operation documents, and the body is what the document says for that status.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.core import Gateway
from tests.conftest import Agency
from tests.gateway.helpers import auth, client_for
from tests.gateway.holders import fresh_subject

DOCUMENT = "urn:ecert:openapi"


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as client:
        yield client


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    doc: dict[str, Any] = answer.json()
    assert doc["openapi"].startswith("3.1")
    return doc


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    return Draft202012Validator(_anchored(schema), registry=registry)


def _anchored(schema: Any) -> Any:
    """``schema`` with each local ``$ref`` (``#/components/…``) pointed into the document."""
    if isinstance(schema, dict):
        return {
            k: (DOCUMENT + v if k == "$ref" and v.startswith("#") else _anchored(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_anchored(v) for v in schema]
    return schema


def _operation(doc: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    op: dict[str, Any] = doc["paths"][template][method.lower()]
    return op


def _body_schema(doc: dict[str, Any], method: str, template: str) -> Draft202012Validator:
    op = _operation(doc, method, template)
    return _validator(doc, op["requestBody"]["content"]["application/json"]["schema"])


def _assert_documented(doc: dict[str, Any], method: str, template: str, answer: Any) -> None:
    """The status is one the operation documents; a JSON body is what it documents for it."""
    responses = _operation(doc, method, template)["responses"]
    status = str(answer.status_code)
    assert status in responses, (
        f"{method} {template} answered {status}, documented: {sorted(responses)}"
    )
    content = responses[status].get("content", {})
    if answer.headers.get("content-type", "").startswith("application/json"):
        assert "application/json" in content, f"{method} {template} {status}: JSON undocumented"
        validator = _validator(doc, content["application/json"]["schema"])
        problems = [e.message for e in validator.iter_errors(answer.json())]
        assert problems == [], f"{method} {template} {status}: {problems}"


def test_the_document_refuses_the_requests_the_gateway_refuses(
    client: TestClient, document: dict[str, Any], amr: Agency
) -> None:
    """A whitespace-only reason and an empty subject: the document says invalid, and the
    gateway answers 422, so a schema-valid request is never refused for them."""
    suspend = _body_schema(document, "POST", "/api/v1/credentials/{credential_id}/suspend")
    assert not suspend.is_valid({"reason": "   "})
    assert not suspend.is_valid({"reason": "停业\x00整顿"})
    assert suspend.is_valid({"reason": "涉嫌违法经营，暂扣待查"})
    issue = _body_schema(document, "POST", "/api/v1/credentials")
    assert not issue.is_valid({"type": "business-licence", "subject": {}})
    licence = {"type": "business-licence", "subject": fresh_subject("business-licence")}
    assert issue.is_valid(licence)

    issued = client.post("/api/v1/credentials", json=licence, headers=auth(amr.api_key))
    assert issued.status_code == 201
    spaces = client.post(
        f"/api/v1/credentials/{issued.json()['id']}/suspend",
        json={"reason": "   "},
        headers=auth(amr.api_key),
    )
    empty = client.post(
        "/api/v1/credentials",
        json={"type": "business-licence", "subject": {}},
        headers=auth(amr.api_key),
    )
    assert (spaces.status_code, empty.status_code) == (422, 422)


def test_each_answer_is_documented_with_its_body(
    client: TestClient, document: dict[str, Any], amr: Agency
) -> None:
    """Refusals of each kind, on the operations counters and agencies use most: every status
    documented, every body (the house error object, never FastAPI's ``{"detail": [...]}``)
    valid against the document."""
    key = auth(amr.api_key)
    licence = {"type": "business-licence", "subject": fresh_subject("business-licence")}
    issued = client.post("/api/v1/credentials", json=licence, headers=key)
    cid = issued.json()["id"]
    revoke = "/api/v1/credentials/{credential_id}/revoke"
    cases: list[tuple[str, str, Any, int]] = [  # (method, operation, TestClient answer, status)
        ("POST", "/api/v1/credentials", issued, 201),
        ("POST", "/api/v1/credentials", client.post("/api/v1/credentials", json=licence), 401),
        ("POST", "/api/v1/credentials",
         client.post("/api/v1/credentials", json={"type": 5}, headers=key), 422),
        ("POST", "/api/v1/credentials",
         client.post("/api/v1/credentials", content=b"{not json", headers={
             **key, "Content-Type": "application/json"}), 422),
        ("POST", "/api/v1/credentials",
         client.post("/api/v1/credentials", content=b"[" * 5000 + b"]" * 5000, headers={
             **key, "Content-Type": "application/json"}), 400),
        ("POST", "/api/v1/credentials",
         client.post("/api/v1/credentials", content=b" " * (2 << 20), headers={
             **key, "Content-Type": "application/json"}), 413),
        ("GET", "/api/v1/credentials/{credential_id}",
         client.get("/api/v1/credentials/nosuchcredential", headers=key), 404),
        ("GET", "/api/v1/credentials",
         client.get("/api/v1/credentials", params={"limit": 0}, headers=key), 422),
        ("POST", revoke,
         client.post(f"/api/v1/credentials/{cid}/revoke", json={"reason": "吊销"}, headers=key),
         200),
        ("POST", revoke,
         client.post(f"/api/v1/credentials/{cid}/revoke", json={"reason": "吊销"}, headers=key),
         409),
        ("POST", "/api/v1/verify", client.post("/api/v1/verify", json={"qr": ""}), 422),
        ("POST", "/api/v1/verify", client.post("/api/v1/verify", json={"qr": "x"}), 200),
        ("POST", "/api/v1/verify/batch",
         client.post("/api/v1/verify/batch", json={"qrs": []}), 422),
        ("POST", "/api/v1/verify/batch",
         client.post("/api/v1/verify/batch", json={"qrs": [issued.json()["qr_text"]]}), 200),
    ]  # fmt: skip
    for method, template, answer, expected in cases:
        assert answer.status_code == expected, (method, template, answer.text[:300])
        _assert_documented(document, method, template, answer)
