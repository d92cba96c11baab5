"""``valid_until`` has one meaning (issue 12: "subject ``valid_until`` and ``--valid-until`` mean
different things (a permit silently expires 26 days before the date on it)"): the credential's
validity window, whether the request or the certificate's printed dates name it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway import issuance
from gateway.clock import end_of_day, start_of_day
from gateway.core import Gateway
from issuers.credential_types import CredentialType
from tests.conftest import Agency, FakeClock
from tests.gateway.helpers import auth, client_for, count_credentials
from tests.issuers.samples import ID_DOMAIN_VECTOR, SAMPLE_SUBJECTS
from trust.encoding import b64url_decode
from trust.errors import DataError, FieldError

PERMIT = SAMPLE_SUBJECTS["food-business-permit"]
DRIVING = SAMPLE_SUBJECTS["driving-licence"]
UNPRINTED = {k: v for k, v in PERMIT.items() if k != "valid_until"}


def _issue(gw: Gateway, agency: Agency, type_: str, subject: dict[str, Any], **dates: str) -> Any:
    request = issuance.IssueRequest(
        type_, subject, dates.get("valid_from"), dates.get("valid_until")
    )
    return issuance.issue(gw, agency_id=agency.id, request=request)[0]


def _exp(token: str) -> int:
    return int(json.loads(b64url_decode(token.split(".")[1]))["exp"])


def test_a_permit_is_valid_until_the_date_printed_on_it(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    """The issue's case: issued on 2025-12-06 with 有效期至 2030-12-31 printed, the credential
    ended after the type's 1825 days, on 2030-12-05: 26 days before the printed date."""
    clock.now = start_of_day(date(2025, 12, 6)) + 9 * 3600
    row = _issue(gw, amr, "food-business-permit", {**PERMIT, "valid_until": "2030-12-31"})
    last_day = end_of_day(date(2030, 12, 31))
    assert row.valid_until == last_day
    assert _exp(row.token) == last_day  # what a verifier checks offline
    assert row.subject["valid_until"] == "2030-12-31"


def test_the_request_date_is_printed_when_the_subject_leaves_it_out(
    gw: Gateway, amr: Agency
) -> None:
    row = _issue(gw, amr, "food-business-permit", UNPRINTED, valid_until="2030-12-31")
    assert row.subject["valid_until"] == "2030-12-31"
    assert row.valid_until == end_of_day(date(2030, 12, 31))
    same = _issue(gw, amr, "food-business-permit", PERMIT, valid_until=PERMIT["valid_until"])
    assert same.valid_until == end_of_day(date.fromisoformat(PERMIT["valid_until"]))


@pytest.mark.parametrize(
    ("subject", "dates", "field"),
    [
        (PERMIT, {"valid_until": "2030-12-31"}, "valid_until"),
        (PERMIT, {"valid_until": "2029-05-31T12:00:00+08:00"}, "valid_until"),
        (DRIVING, {"valid_from": "2018-07-21"}, "valid_from"),
    ],
)
def test_two_different_dates_are_refused_naming_both(
    gw: Gateway, amr: Agency, psb: Agency, subject: dict[str, Any], dates: dict[str, str],
    field: str,
) -> None:  # fmt: skip
    type_ = "driving-licence" if subject is DRIVING else "food-business-permit"
    agency = psb if subject is DRIVING else amr
    before = count_credentials(gw)
    with pytest.raises(FieldError) as refused:
        _issue(gw, agency, type_, subject, **dates)
    (error,) = refused.value.errors
    assert (error["field"], error["code"]) == (field, "conflict")
    printed = subject[field]
    assert printed in error["message"]
    assert printed in error["message_en"]
    assert dates[field][:10] in error["message_en"]
    assert f"subject.{field}" in error["message_en"]
    assert count_credentials(gw) == before  # nothing written


def test_a_request_time_that_cannot_be_printed_is_refused(gw: Gateway, amr: Agency) -> None:
    with pytest.raises(FieldError) as refused:
        _issue(gw, amr, "food-business-permit", UNPRINTED, valid_until="2030-12-31T12:00:00+08:00")
    assert refused.value.errors[0]["code"] == "whole_day"
    row = _issue(
        gw, amr, "food-business-permit", UNPRINTED, valid_until="2030-12-31T23:59:59+08:00"
    )
    assert row.subject["valid_until"] == "2030-12-31"


def test_a_driving_licence_window_is_its_printed_dates(gw: Gateway, psb: Agency) -> None:
    row = _issue(gw, psb, "driving-licence", DRIVING)
    assert row.valid_from == start_of_day(date.fromisoformat(DRIVING["valid_from"]))
    assert row.valid_until == end_of_day(date.fromisoformat(DRIVING["valid_until"]))
    # 有效期至 left out is 长期 (its label says so), not a default of six years
    lifelong = {k: v for k, v in DRIVING.items() if k != "valid_until"} | {
        "id_number": ID_DOMAIN_VECTOR,  # another holder: one live driving licence each
        "birth_date": "1949-12-31",
    }
    assert _issue(gw, psb, "driving-licence", lifelong).valid_until is None


def test_a_type_cannot_print_valid_until_and_default_another_end() -> None:
    from issuers.credential_types import SHIPPED_TYPES

    data = json.loads((SHIPPED_TYPES / "food-business-permit.json").read_text(encoding="utf-8"))
    CredentialType.from_dict(data)
    with pytest.raises(DataError, match="default_validity_days must be null"):
        CredentialType.from_dict({**data, "default_validity_days": 1825})


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as c:
        yield c


def test_the_api_refuses_two_dates_with_a_field_error(client: TestClient, amr: Agency) -> None:
    body = {"type": "food-business-permit", "subject": PERMIT, "valid_until": "2030-12-31"}
    answer = client.post("/api/v1/credentials", json=body, headers=auth(amr.api_key))
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]["errors"]
    assert error["field"] == "valid_until"
    assert "2030-12-31" in error["message"]
    assert "2029-05-31" in error["message"]
    body = {"type": "food-business-permit", "subject": UNPRINTED, "valid_until": "2030-12-31"}
    made = client.post("/api/v1/credentials", json=body, headers=auth(amr.api_key))
    assert made.status_code == 201, made.text
    assert made.json()["valid_until"] == "2030-12-31T23:59:59+08:00"


def test_a_register_row_s_valid_until_column_is_the_printed_date(gw: Gateway, amr: Agency) -> None:
    """``ecert issue-batch`` takes a ``valid_until`` column as the request's: for a permit it
    was taken out of the subject, and the row refused for lacking 有效期至."""
    from cli.batch_register import row_request

    record = {**PERMIT, "valid_until": "2031-03-31"}
    request = row_request("food-business-permit", "permits.csv", 2, record)
    assert "valid_until" not in request.subject
    (written,), _ = issuance.issue_many(gw, agency_id=amr.id, requests=[request])
    assert written["subject"]["valid_until"] == "2031-03-31"
    assert written["valid_until"] == end_of_day(date(2031, 3, 31))
