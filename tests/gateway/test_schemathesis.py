"""The gateway answers as its own OpenAPI document says (schemathesis, issue 11).

Every operation of ``/openapi.json`` gets schema-valid (positive) and schema-violating
(negative) requests from schemathesis, sent over a real loopback socket to the app served by
uvicorn (:func:`tests.interop.serving.serve_app`), with an agency's API key on the operations
that take one, on SQLite and on PostgreSQL. Every schemathesis check that applies to a single
request runs on every answer: no 5xx, each status, media type, header and body as documented,
schema-violating requests refused, and schema-valid requests accepted wherever the schema can
say what is accepted (the operations in :data:`CONTENT_CHECKED` take content no JSON Schema
can describe, such as a signed token or a photo holding a QR code; they may refuse it with a
documented 4xx).

Why a socket and not schemathesis' ASGI transport: the app's lifespan (state loaded, background
loops started and stopped) then runs exactly once, bounded, as in ``ecert serve``; the ASGI
transport keeps each app's lifespan alive for the rest of the process. Deterministic: Hypothesis
is derandomized (its seed is derived from each test), keeps no example database, and does not
shrink, so a run is bounded by :data:`EXAMPLES` per operation and mode.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.schemas import APIOperation, BaseSchema
from sqlalchemy import select

from gateway import status
from gateway.app import create_app
from gateway.core import Gateway
from gateway.holder_rule import LIVE_CODES
from gateway.models import CredentialRow
from tests.conftest import Agency
from tests.gateway.helpers import count_credentials
from tests.interop.serving import serve_app

EXAMPLES = 12  # per operation and generation mode: ~1,300 requests per database
TIME_BUDGET = 240.0  # seconds per database: a guard against a hang, far above a normal run
REQUEST_TIMEOUT = 20  # seconds for one request
SHOWN_FAILURES = 3  # per operation, in the report
ISSUE = "POST /api/v1/credentials"
# Operations whose accepted content no schema describes: a signed JWT or holder proof, a form
# holding one, a photo that must contain a QR code, a subject checked by the credential type's
# own rules (check digits, region codes), an entity or a link known to the federation, a size
# or index bounded by the audit log's current size (422 past it, saying so), a list's cursor
# (only the gateway makes one), calendar dates and a type code the gateway knows.
CONTENT_CHECKED = {
    "GET /api/v1/credentials",
    "POST /audit/cosignature",
    "GET /audit/entries",
    "GET /audit/proof/consistency",
    "GET /audit/proof/inclusion",
    "POST /api/v1/credentials",
    "POST /api/v1/credentials/batch",
    "POST /api/v1/verify/image",
    "POST /wallet/api/qr/image",
    "POST /wallet/api/requests/resolve",
    "POST /api/v1/references",
    "POST /api/v1/references/uses",
    "POST /api/v1/delegations",
    "POST /api/v1/delegations/list",
    "POST /api/v1/delegations/revoke",
    "POST /federation/trust_mark_status",
    "POST /federation/reference_resolve",
    "POST /federation/use_report",
    "POST /federation/join",
    "GET /federation/resolve",
    "GET /federation/fetch",
    "GET /federation/trust_mark",
    "POST /oid4vci/credential",
    "POST /oid4vci/token",
    "POST /oid4vp/responses/{request_id}",
}


@dataclass(frozen=True)
class Served:
    url: str
    agency_key: str


@pytest.fixture
def served(gw: Gateway, amr: Agency) -> Iterator[Served]:
    with serve_app(create_app(gw)) as url:
        yield Served(url, amr.api_key)


def _checks(operation: APIOperation) -> dict[str, Any]:
    if operation.label in CONTENT_CHECKED:
        positive = CHECKS.get_by_names(["positive_data_acceptance"])
        return {"excluded_checks": positive}
    return {}


def _exercise(
    operation: APIOperation, mode: GenerationMode, served: Served, failures: list[str]
) -> None:
    headers = {}
    if any("agencyKey" in s for s in operation.definition.raw.get("security", [])):
        headers["Authorization"] = f"Bearer {served.agency_key}"
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(
                base_url=served.url, headers=headers, timeout=REQUEST_TIMEOUT, **_checks(operation)
            )
        except (Exception, BaseExceptionGroup) as exc:  # every failure kind, reported below
            if len(found) < SHOWN_FAILURES:
                found.append(f"{operation.label} [{mode.value}]: {exc}"[:3000])

    try:
        run()
    except Unsatisfiable:  # negative mode, and nothing in the operation can be made invalid
        assert mode is GenerationMode.NEGATIVE, operation.label
        assert not operation.definition.raw.get("parameters"), operation.label
    failures.extend(found)


def _load(served: Served) -> BaseSchema:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    # Signed messages posted as they are (entity statements, reference requests, use reports,
    # cosignatures): a JWS compact serialisation is text.
    signed = {
        media_type
        for path in schema.raw_schema["paths"].values()
        for op in path.values()
        for media_type in op.get("requestBody", {}).get("content", {})
        if media_type.endswith(("+jwt", "/jwt"))
    }
    schemathesis.serializer.alias(sorted(signed), "text/plain")
    return schema


def test_every_answer_is_as_the_openapi_document_says(served: Served) -> None:
    started = time.monotonic()
    schema = _load(served)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 50  # every route, not a filtered few
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(operation, mode, served, failures)
    took = time.monotonic() - started
    assert not failures, "\n\n".join(failures)
    assert took < TIME_BUDGET, f"schemathesis took {took:.0f}s, over {TIME_BUDGET:.0f}s"


def _try_example(strategy: Any, served: Served, failures: list[str]) -> None:
    headers = {"Authorization": f"Bearer {served.agency_key}"}

    @given(case=strategy)
    @settings(
        max_examples=1,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        label = case.operation.label
        checks = {} if label == ISSUE else _checks(case.operation)
        try:
            answer = case.call_and_validate(
                base_url=served.url, headers=headers, timeout=REQUEST_TIMEOUT, **checks
            )
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{label} [example]: {exc}"[:3000])
            return
        if label == ISSUE and answer.status_code != 201:
            failures.append(f"{ISSUE} [example]: {answer.status_code} {answer.text[:500]}")

    run()


def _revoke_every_live_credential(gw: Gateway) -> None:
    """One holder may hold one live licence (issue 12): the documented issuance examples name
    one holder, so each is accepted only where that holder holds none yet."""
    with gw.sessions() as session:
        live = session.execute(
            select(CredentialRow.id, CredentialRow.agency_id).where(
                CredentialRow.status_code.in_(LIVE_CODES)
            )
        ).all()
    for credential_id, agency_id in live:
        status.change(gw, credential_id=credential_id, action="revoke", reason="测试重置",
                      actor="test", agency_id=agency_id)  # fmt: skip


def test_documented_examples_are_accepted(served: Served, gw: Gateway) -> None:
    """The examples the document gives are accepted as they are, issuance's included: a
    credential is issued from the documented body (and nothing refuses what the schema says)."""
    schema = _load(served)
    failures: list[str] = []
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for strategy in schema.get_strategies_from_examples(operation):
            if operation.label == ISSUE:  # the example's holder holds one from the try before
                _revoke_every_live_credential(gw)
            tried.append(operation.label)
            _try_example(strategy, served, failures)
    assert ISSUE in tried
    assert not failures, "\n\n".join(failures)
    assert count_credentials(gw) >= 1  # issued from the documented example
