"""Row identities, default refs and request fingerprints hash the bytes they always hashed.

They are stored (``credentials.row_key``, ``row_content``, ``batch_ref``, idempotency
``request_hash``) and compared across runs: a re-run of a register issued by an earlier version
must find its rows. Since issue 13 the subject is dumped once a row and the rest written around
it; these tests compare that with ``json.dumps`` of the whole body, as written before, over the
sample subjects of every type (Chinese text), generated JSON, and known answers computed by the
code before the change.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.batch_register import DEFAULT_REF, row_request
from gateway import auditlog
from gateway.batch_rows import row_key
from gateway.issuance import IssueRequest, canonical_text
from tests.issuers.samples import SAMPLE_SUBJECTS


def before_fingerprint(request: IssueRequest) -> str:
    """``IssueRequest.fingerprint`` as written before issue 13."""
    body = {
        "type": request.type,
        "subject": request.subject,
        "valid_from": request.valid_from,
        "valid_until": request.valid_until,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def before_content_key(type_: str, subject: Any) -> str:
    """``row_key`` of a row without a ref (and, its first 32 characters, the default ref) as
    written before issue 13."""
    body = json.dumps([type_, subject], sort_keys=True, ensure_ascii=False)
    return "c:" + hashlib.sha256(body.encode()).hexdigest()


DATES = [(None, None), ("2025-01-01", None), (None, "2030-12-31"), ("二〇二五年", "2030-12-31")]


@pytest.mark.parametrize("code", sorted(SAMPLE_SUBJECTS))
@pytest.mark.parametrize(("valid_from", "valid_until"), DATES)
def test_a_sample_row_hashes_what_it_hashed_before(
    code: str, valid_from: str | None, valid_until: str | None
) -> None:
    subject = SAMPLE_SUBJECTS[code]
    record = {"subject": subject, "valid_from": valid_from, "valid_until": valid_until}
    made = row_request(code, "登记表.csv", 2, record)
    old_key = before_content_key(code, subject)
    assert made.row_key == old_key
    assert made.batch_ref == f"登记表.csv:{old_key[2 : 2 + DEFAULT_REF]}"
    assert made.fingerprint() == before_fingerprint(made)
    # the same request made without the subject's text (the API, issue_many) hashes alike
    bare = IssueRequest(code, subject, valid_from, valid_until)
    assert bare.fingerprint() == made.fingerprint()
    assert row_key(code, subject, None) == old_key


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)
TEXT_OR_NONE = st.none() | st.text(max_size=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, TEXT_OR_NONE, TEXT_OR_NONE, st.text(min_size=1, max_size=20))
def test_any_json_subject_hashes_what_it_hashed_before(
    subject: Any, valid_from: str | None, valid_until: str | None, type_: str
) -> None:
    request = IssueRequest(type_, subject, valid_from, valid_until)
    assert request.fingerprint() == before_fingerprint(request)
    given_text = IssueRequest(
        type_, subject, valid_from, valid_until, subject_text=canonical_text(subject)
    )
    assert given_text.fingerprint() == before_fingerprint(request)
    assert row_key(type_, subject, None) == before_content_key(type_, subject)
    assert row_key(type_, subject, None, subject_text=canonical_text(subject)) == row_key(
        type_, subject, None
    )


# Computed by the code before issue 13 (commit 6d75479), for a subject with Chinese text,
# quotes, a backslash, a tab, nested keys out of order, and numbers.
KNOWN_SUBJECT = {
    "name": "杭州云栖数字科技有限公司",
    "uscc": "91330106MA2H0XK7P7",
    "address": "浙江省杭州市西湖区云栖小镇云梦路 8 号",
    "registered_capital": "1000万元人民币",
    "note": '“引号” \\ "q" \t',
    "n": [1, 2.5, True, None, {"b": "乙", "a": "甲"}],
}


def test_known_answers_from_before() -> None:
    made = row_request(
        "business-licence", "登记表.csv", 2, {"subject": KNOWN_SUBJECT, "valid_until": "2030-01-01"}
    )
    assert made.batch_ref == "登记表.csv:efd457ae80f984cec704481f9c209ba0"
    assert made.row_key == "c:efd457ae80f984cec704481f9c209ba01bad5e5c49c9e7d4092bbd4a0753dcb3"
    assert made.fingerprint() == "dede887ad19fc69feba6cde45f48a191bcc9a5b2f350e014a0752105f681c08a"
    by_ref = row_request("business-licence", "b", 2, {"subject": KNOWN_SUBJECT, "ref": 42})
    assert by_ref.batch_ref == "b:42"
    assert by_ref.row_key == "r:f77a54d2bdd80fc3cb5ff85afdc91e956d6cf27a33cf1d2eef07317b32179f5b"
    assert by_ref.fingerprint() == (
        "32c50f47a257e07d9d1b48427609f6cd9ef5ed9a68515725bf1674a19a942030"
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=8), JSON, max_size=6))
def test_an_audit_leaf_is_the_json_it_was_before(leaf: dict[str, Any]) -> None:
    before = json.dumps(leaf, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert auditlog.canonical(leaf) == before
    chinese = {**leaf, "actor": "市场监管局", "detail": {"原因": "“吊销” \\ \t"}}
    assert (
        auditlog.canonical(chinese)
        == json.dumps(chinese, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
