"""The verify fast path (:mod:`gateway.fast_verify`) answers exactly as the FastAPI routes do.

Each case posts the same request to two apps of one gateway, one with the fast path in front and
one without, and compares status, the headers that matter and the JSON body: over the attack
corpus (forged tokens signed with the gateway's own key, the respellings of
``tests/verify/test_canonical_tokens.py``, ``loadtests.common.garbage_texts``), a valid, a revoked,
a suspended and another city's certificate, malformed JSON, bodies VerifyBody refuses, oversized
bodies and other content types. The batch endpoint answers each text as the single one does.
"""

from __future__ import annotations

import dataclasses
import hmac
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import (
    fast_verify,
    issuance,
    keystore,
    status,
    trustsync,
    valid_answers,
    verify_extras,
)
from gateway.app import JSON_BODY_LIMIT, create_app
from gateway.core import Gateway
from gateway.models import SigningKeyRow
from gateway.schemas import BATCH_MAX_QRS, QR_MAX_CHARS
from loadtests.common import garbage_texts
from tests.conftest import Agency, FakeClock
from tests.gateway.federation_helpers import federation_of
from tests.gateway.helpers import on_own_loop
from tests.gateway.test_federation_sync import _region, _sync
from tests.issuers.samples import SAMPLE_SUBJECTS
from tests.verify.test_canonical_tokens import B64URL, _same_bytes, _with_segment
from trust.claims import CREDENTIAL_TYP
from trust.encoding import b64url_decode, b64url_encode
from trust.jws import sign_compact
from trust.keys import EDDSA, SigningKey
from verify.reasons import Reason
from verify.result import VerificationResult
from verify.verifier import verify_scanned

URL = "/api/v1/verify"
BATCH = "/api/v1/verify/batch"
# Headers whose presence and value must agree (date and server are the server's, not the app's).
COMPARED = ("content-type", "x-content-type-options", "retry-after", "allow")


@contextmanager
def settings_of(gw: Gateway, **settings: Any) -> Iterator[None]:
    original = gw.settings
    gw.settings = type(original).model_validate({**original.model_dump(), **settings})
    try:
        yield
    finally:
        gw.settings = original


@contextmanager
def both(gw: Gateway, **settings: Any) -> Iterator[tuple[TestClient, TestClient]]:
    """A client of ``gw``'s app with the fast path and one without (rate limits off unless
    ``settings`` say otherwise)."""
    with (
        settings_of(gw, **{"rate_limits": False, **settings}),
        TestClient(create_app(gw), base_url="http://127.0.0.1") as fast,
        TestClient(create_app(gw, verify_fast_path=False), base_url="http://127.0.0.1") as slow,
    ):
        yield fast, slow


def same(fast: TestClient, slow: TestClient, path: str, **request: Any) -> Any:
    """Post ``request`` to both apps; assert the answers agree; the fast one's."""
    a = fast.post(path, **request)
    b = slow.post(path, **request)
    assert a.status_code == b.status_code, (request, a.text, b.text)
    for name in COMPARED:
        assert a.headers.get(name) == b.headers.get(name), (name, request, a.headers, b.headers)
    assert a.headers["x-request-id"], a.headers
    assert a.json() == b.json(), request
    assert a.content == b.content, request  # byte for byte, not only the same JSON
    return a


def _issue(gw: Gateway, agency_id: str, n: int) -> tuple[str, str, str]:
    subject = {**SAMPLE_SUBJECTS["business-licence"], "name": f"杭州云栖数字科技{n:06d}有限公司"}
    from stdnum.cn import uscc

    first17 = f"9133010{n:010d}"
    subject["uscc"] = first17 + uscc.calc_check_digit(first17)
    row, _ = issuance.issue(
        gw, agency_id=agency_id,
        request=issuance.IssueRequest("business-licence", subject),
    )  # fmt: skip
    return row.id, row.token, issuance.qr_text_for(gw, row)


def _b64json(obj: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(obj, ensure_ascii=False).encode())


def forged(gw: Gateway, agency_id: str, token: str) -> dict[str, str]:
    """The attacks of ``tests/verify/test_attacks.py``, made against this gateway's own key."""
    with gw.sessions() as session:
        key = gw.keyring.signing_key(keystore.active_key(session, agency_id))
    kid = json.loads(b64url_decode(token.split(".")[0]))["kid"]
    claims = json.loads(b64url_decode(token.split(".")[1]))
    h64, p64, s64 = token.split(".")
    none_head = _b64json({"alg": "none", "typ": CREDENTIAL_TYP, "kid": kid})
    hs_head = _b64json({"alg": "HS256", "typ": CREDENTIAL_TYP, "kid": kid})
    mac = hmac.new(json.dumps(key.public.jwk).encode(), f"{hs_head}.{p64}".encode(), "sha256")
    out = {
        "alg none, no signature": f"{none_head}.{p64}.",
        "alg none, dummy signature": f"{none_head}.{p64}.AAAA",
        "HS256 keyed with the public key": f"{hs_head}.{p64}.{b64url_encode(mac.digest())}",
        "EdDSA under the ES256 kid": sign_compact(
            claims, SigningKey.generate(EDDSA), typ=CREDENTIAL_TYP, kid=kid
        ),
        "another key under the kid": sign_compact(
            claims, SigningKey.generate(), typ=CREDENTIAL_TYP, kid=kid
        ),
        "unknown crit header": sign_compact(
            claims, key, typ=CREDENTIAL_TYP, kid=kid, extra_headers={"crit": ["b64"]}
        ),
        "expired": sign_compact(
            {**claims, "exp": gw.clock() - 1}, key, typ=CREDENTIAL_TYP, kid=kid
        ),
        "not yet valid": sign_compact(
            {**claims, "nbf": gw.clock() + 86_400}, key, typ=CREDENTIAL_TYP, kid=kid
        ),
        "oversized digits": "1" * QR_MAX_CHARS,
        "oversized token": sign_compact(
            {**claims, "c": {"name": "甲" * 3000}}, key, typ=CREDENTIAL_TYP, kid=kid
        )[:QR_MAX_CHARS],
        "signature padding": _with_segment(token, 2, s64 + "="),
        "wrong typ": sign_compact(claims, key, typ="JWT", kid=kid),
        # Numbers JSON writers spell differently (orjson 1e16, Python's json 1e+16), in a
        # signed field: the answer shows them as the route does.
        "float fields": sign_compact(
            {
                **claims,
                "c": {
                    **claims["c"],
                    "big": 1e16,
                    "small": 1.5e-7,
                    "half": 0.5,
                    "neg": -2.0,
                    "int": 12,
                },
            },
            key,
            typ=CREDENTIAL_TYP,
            kid=kid,
        ),
        "header only": h64,
        "valid, spaces around": f"  {token}\n",  # a scanner's white space is dropped
    }
    if "-" in s64 or "_" in s64:  # ES256 signatures are random: most have one
        out["signature plus-slash"] = _with_segment(
            token, 2, s64.replace("-", "+").replace("_", "/")
        )
    for c in _same_bytes(s64)[:4]:  # a lenient decoder's other spellings (issue 11)
        out[f"signature respelled {c}"] = _with_segment(token, 2, s64[:-1] + c)
    assert all(c in B64URL for c in s64)
    return out


@pytest.fixture
def hz(gw: Gateway, amr: Agency, clock: FakeClock) -> dict[str, str]:
    """Texts of 杭州's: VALID (token and QR), REVOKED, SUSPENDED, and the attack corpus."""
    _, token, qr = _issue(gw, amr.id, 1)
    revoked_id, revoked, _ = _issue(gw, amr.id, 2)
    suspended_id, suspended, _ = _issue(gw, amr.id, 3)
    status.change(gw, credential_id=revoked_id, action="revoke", reason="依法吊销", actor="t",
                  agency_id=None, code="07")  # fmt: skip
    status.change(gw, credential_id=suspended_id, action="suspend", reason="暂扣待查",
                  actor="t", agency_id=None)  # fmt: skip
    clock.advance(5)
    texts = {"valid token": token, "valid QR": qr, "revoked": revoked, "suspended": suspended}
    texts.update(forged(gw, amr.id, token))
    texts.update({f"garbage {i}": g for i, g in enumerate(garbage_texts(qr))})
    return texts


def test_every_text_of_the_corpus_answers_the_same(gw: Gateway, hz: dict[str, str]) -> None:
    with both(gw) as (fast, slow):
        reasons = {name: same(fast, slow, URL, json={"qr": text}).json()["reason"]
                   for name, text in hz.items()}  # fmt: skip
    assert reasons["valid token"] == reasons["valid QR"] == "VALID"
    assert reasons["revoked"] == "REVOKED"
    assert reasons["suspended"] == "SUSPENDED"
    assert reasons["expired"] == "EXPIRED"
    assert reasons["another key under the kid"] == "BAD_SIGNATURE"
    assert {n for n, r in reasons.items() if r == "VALID"} == {
        "float fields",
        "valid token",
        "valid QR",
        "valid, spaces around",
    }


JSON = {"content-type": "application/json"}
BAD_BODIES: dict[str, dict[str, Any]] = {
    "empty body": {"content": b"", "headers": {"content-type": "application/json"}},
    "bad JSON": {"content": b'{"qr": ', "headers": {"content-type": "application/json"}},
    "NaN": {"content": b'{"qr": NaN}', "headers": {"content-type": "application/json"}},
    "a list": {"json": ["x"]},
    "a string": {"json": "x"},
    "no qr": {"json": {}},
    "empty qr": {"json": {"qr": ""}},
    "qr too long": {"json": {"qr": "1" * (QR_MAX_CHARS + 1)}},
    "qr a number": {"json": {"qr": 12345}},
    "qr null": {"json": {"qr": None}},
    "qr a list": {"json": {"qr": ["a"]}},
    "extra field": {"json": {"qr": "abc", "more": 1}},
    "duplicate keys": {"content": b'{"qr": 1, "qr": "abc"}',
                       "headers": {"content-type": "application/json"}},
    "lone surrogate": {"content": b'{"qr": "\\ud800"}',
                       "headers": {"content-type": "application/json"}},
    "UTF-16": {"content": '{"qr": "abc"}'.encode("utf-16"),
               "headers": {"content-type": "application/json"}},
    "BOM": {"content": b'\xef\xbb\xbf{"qr": "abc"}', "headers": JSON},
    "bad UTF-8": {"content": b'{"qr": "\xff"}', "headers": {"content-type": "application/json"}},
    "text/plain": {"content": b'{"qr": "abc"}', "headers": {"content-type": "text/plain"}},
    "no content type": {"content": b'{"qr": "abc"}'},
    "form": {"data": {"qr": "abc"}},
    "+json": {"content": b'{"qr": "abc"}', "headers": {"content-type": "application/ld+json"}},
    "charset": {"content": b'{"qr": "abc"}',
                "headers": {"content-type": "application/json; charset=utf-8"}},
    "upper case type": {"content": b'{"qr": "abc"}',
                        "headers": {"content-type": "Application/JSON"}},
    "over the limit, declared": {
        "content": b'{"qr": "' + b"1" * JSON_BODY_LIMIT + b'"}',
        "headers": {"content-type": "application/json"},
    },
    "over the limit, chunked": {
        "content": iter([b'{"qr": "', b"1" * JSON_BODY_LIMIT, b'"}']),
        "headers": {"content-type": "application/json"},
    },
    "a bad request id": {"json": {"qr": "abc"}, "headers": {"x-request-id": "a\nb"}},
}  # fmt: skip


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bodies_and_content_types_answer_the_same(gw: Gateway, name: str) -> None:
    request = BAD_BODIES[name]
    with both(gw) as (fast, slow):
        if isinstance(request.get("content"), Iterator):  # a generator is read once: twice made
            chunks = [b'{"qr": "', b"1" * JSON_BODY_LIMIT, b'"}']
            a = fast.post(URL, content=iter(chunks), headers=request["headers"])
            b = slow.post(URL, content=iter(chunks), headers=request["headers"])
            assert (a.status_code, a.json()) == (b.status_code, b.json()) == (413, b.json())
            return
        answer = same(fast, slow, URL, **request)
        assert answer.status_code in (200, 400, 413, 415, 422), answer.text
        for path in (BATCH,):  # the batch endpoint's checks agree too
            batch = {**request}
            if "json" in batch and isinstance(batch["json"], dict) and "qr" in batch["json"]:
                batch["json"] = {"qrs": [batch["json"]["qr"]], **{
                    k: v for k, v in batch["json"].items() if k != "qr"}}  # fmt: skip
            same(fast, slow, path, **batch)


def test_a_caller_request_id_is_echoed(gw: Gateway, hz: dict[str, str]) -> None:
    with both(gw) as (fast, _slow):
        answer = fast.post(
            URL, json={"qr": hz["valid QR"]}, headers={"X-Request-ID": "abc-123-xyz"}
        )
    assert answer.headers["x-request-id"] == "abc-123-xyz"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_other_methods_and_paths_go_to_the_app(gw: Gateway) -> None:
    with both(gw) as (fast, slow):
        for method, path in (("GET", URL), ("PUT", URL), ("GET", BATCH), ("POST", URL + "/")):
            a, b = fast.request(method, path), slow.request(method, path)
            assert (a.status_code, a.json()) == (b.status_code, b.json()), (method, path)
        assert fast.post(URL + "/image").status_code == 422  # a form route, not the fast path


# --- batch -----------------------------------------------------------------------------------


def test_batch_answers_each_text_as_the_single_endpoint_does(
    gw: Gateway, hz: dict[str, str]
) -> None:
    texts = list(hz.values())
    with both(gw) as (fast, slow):
        singles = [fast.post(URL, json={"qr": t}).json() for t in texts]
        answer = same(fast, slow, BATCH, json={"qrs": texts})
    results = answer.json()["results"]
    assert len(results) == len(texts)
    assert results == singles


@pytest.mark.parametrize(
    ("qrs", "field"),
    [
        ([], "qrs"),
        (["ok", ""], "qrs.1"),
        (["ok", "ok", 5], "qrs.2"),
        (["1" * (QR_MAX_CHARS + 1)], "qrs.0"),
        (["x"] * (BATCH_MAX_QRS + 1), "qrs"),
        (None, "qrs"),
        ("abc", "qrs"),
    ],
    ids=["none", "empty text", "a number", "too long", "too many", "null", "a string"],
)
def test_a_bad_item_refuses_the_whole_batch_naming_its_index(
    gw: Gateway, qrs: Any, field: str
) -> None:
    with both(gw) as (fast, slow):
        answer = same(fast, slow, BATCH, json={"qrs": qrs})
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["detail"]["errors"]}
    assert field in fields, fields
    assert answer.json()["detail"]["message"] == "请求格式有误"


def test_another_citys_certificate_and_its_revocation_answer_the_same(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        _, valid, _ = _issue(hz, amr, 11)
        revoked_id, revoked, _ = _issue(hz, amr, 12)
        _sync(fed, sz)
        clock.advance(60)
        status.change(hz, credential_id=revoked_id, action="revoke", reason="依法吊销",
                      actor="t", agency_id=None, code="07")  # fmt: skip
        clock.advance(301)
        trustsync.refresh_status_lists(sz, fed.fetcher())
        fast = fed.client(sz.public_url)
        with TestClient(
            create_app(sz, fetcher=fed.fetcher(), verify_fast_path=False), base_url=sz.public_url
        ) as slow:
            first = same(fast, slow, URL, json={"qr": valid}).json()
            second = same(fast, slow, URL, json={"qr": revoked}).json()
            batch = same(fast, slow, BATCH, json={"qrs": [valid, revoked]}).json()
    assert (first["reason"], second["reason"]) == ("VALID", "REVOKED")
    assert second["status_detail"]["source"] == "status_list"
    assert first["answered_by"]["name"] == "苏州市"
    assert batch["results"] == [first, second]


# --- rate limits and metrics -----------------------------------------------------------------


def test_the_fast_path_spends_the_verify_budget_and_answers_429_as_the_app(
    gw: Gateway, hz: dict[str, str]
) -> None:
    with both(gw, rate_limits=True, rate_limit_verify="3/minute") as (fast, slow):
        for client in (fast, slow):
            codes = [client.post(URL, json={"qr": hz["valid QR"]}).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
        a = fast.post(URL, json={"qr": hz["valid QR"]})
        b = slow.post(URL, json={"qr": hz["valid QR"]})
    assert (a.status_code, a.json()) == (b.status_code, b.json())
    assert a.headers["retry-after"] == b.headers["retry-after"]
    assert a.headers["x-content-type-options"] == "nosniff"
    assert "too many verification requests" in a.json()["detail"]["message_en"]


def test_a_refused_body_handed_on_spends_the_budget_once(gw: Gateway) -> None:
    with both(gw, rate_limits=True, rate_limit_verify="2/minute") as (fast, _slow):
        assert fast.post(URL, json={"qr": ""}).status_code == 422  # handed to the app: 1 spent
        assert fast.post(URL, json={"qr": "abc"}).status_code == 200  # 2
        assert fast.post(URL, json={"qr": "abc"}).status_code == 429


def test_a_batch_spends_one_a_text_of_its_own_budget(gw: Gateway, hz: dict[str, str]) -> None:
    qr = hz["valid QR"]
    limits = {"rate_limit_verify_batch": "5/minute", "rate_limit_verify": "1/minute"}
    with both(gw, rate_limits=True, **limits) as (fast, slow):
        for client in (fast, slow):
            assert client.post(BATCH, json={"qrs": [qr] * 3}).status_code == 200  # 3 spent
            refused = client.post(BATCH, json={"qrs": [qr] * 3})  # 1 more, then 2 refused
            assert refused.status_code == 429, refused.text
            assert "QRs verified in batches" in refused.json()["detail"]["message_en"]
            assert int(refused.headers["retry-after"]) >= 1
            assert client.post(BATCH, json={"qrs": [qr]}).status_code == 200  # the 5th
            assert client.post(BATCH, json={"qrs": [qr]}).status_code == 429
            # single verifies keep their own budget
            assert client.post(URL, json={"qr": qr}).status_code == 200
            assert client.post(URL, json={"qr": qr}).status_code == 429


@pytest.mark.parametrize("size", [64, BATCH_MAX_QRS])
def test_a_full_batch_passes_under_the_default_budgets(
    gw: Gateway, hz: dict[str, str], size: int
) -> None:
    qrs = [hz["valid QR"]] * size
    with both(gw, rate_limits=True) as (fast, slow):
        for client in (fast, slow):
            for _ in range(3):  # and again: the per-second item has room for more than one
                answer = client.post(BATCH, json={"qrs": qrs})
                assert answer.status_code == 200, answer.text
                assert len(answer.json()["results"]) == size


def test_a_batch_over_what_the_budget_ever_admits_is_a_422_naming_both(
    gw: Gateway, hz: dict[str, str]
) -> None:
    qr = hz["valid QR"]
    with both(gw, rate_limits=True, rate_limit_verify_batch="600/hour;10/minute") as (
        fast,
        slow,
    ):
        refused = same(fast, slow, BATCH, json={"qrs": [qr] * 11})
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert "at most 10 QR texts a request" in detail["message_en"], detail
        assert "found 11" in detail["message_en"], detail
        assert "最多 10 个" in detail["message"], detail
        assert "实际为 11 个" in detail["message"], detail
        # never a 429, however often: it could never pass (each spends one, as any request)
        for _ in range(3):
            assert fast.post(BATCH, json={"qrs": [qr] * 11}).status_code == 422
        assert fast.post(BATCH, json={"qrs": [qr] * 6}).status_code == 200  # 4 + 6 = 10
        assert fast.post(BATCH, json={"qrs": [qr]}).status_code == 429


def test_repeated_batches_reach_a_429_whose_retry_after_is_honest(
    gw: Gateway, hz: dict[str, str]
) -> None:
    qrs = [hz["valid QR"]] * 64
    with both(gw, rate_limits=True, rate_limit_verify_batch="100/minute") as (fast, slow):
        for client in (fast, slow):
            assert client.post(BATCH, json={"qrs": qrs}).status_code == 200
            refused = client.post(BATCH, json={"qrs": qrs})
            assert refused.status_code == 429, refused.text
            wait = int(refused.headers["retry-after"])
            # 64 of 100 spent: room for 64 again only once the window slides past them (the
            # library's reset time, when *one* more fits, would say 1 s)
            assert 1 < wait <= 120, wait
            assert f"retry in {wait} s" in refused.json()["detail"]["message_en"]


def _counted(client: TestClient, line_start: str) -> float:
    text = client.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(line_start):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_fast_answers_are_counted_and_logged_as_the_app_counts_them(
    gw: Gateway, hz: dict[str, str], tmp_path: Path
) -> None:
    log_file = tmp_path / "access.log"
    with both(gw, access_log="json", access_log_file=log_file) as (fast, slow):
        for client in (fast, slow):
            client.post(URL, json={"qr": hz["valid QR"]}, headers={"X-Request-ID": "req-000001"})
            client.post(URL, json={"qr": hz["revoked"]})
            client.post(URL, json={"qr": ""})
            # A batch counts each answer (the fast path adds up a reason's answers in one step).
            client.post(BATCH, json={"qrs": [hz["valid QR"], hz["suspended"], hz["valid QR"]]})
        counts = [
            (
                _counted(c, 'ecert_http_requests_total{method="POST",route="/api/v1/verify",'
                            'status="200"}'),
                _counted(c, 'ecert_http_requests_total{method="POST",route="/api/v1/verify",'
                            'status="422"}'),
                _counted(c, 'ecert_http_requests_total{method="POST",'
                            'route="/api/v1/verify/batch",status="200"}'),
                _counted(c, 'ecert_verify_answers_total{reason="VALID"}'),
                _counted(c, 'ecert_verify_answers_total{reason="REVOKED"}'),
                _counted(c, 'ecert_verify_answers_total{reason="SUSPENDED"}'),
                _counted(c, 'ecert_http_request_duration_seconds_count{method="POST",'
                            'route="/api/v1/verify"}'),
            )
            for c in (fast, slow)
        ]  # fmt: skip
    assert counts[0] == counts[1] == (2.0, 1.0, 1.0, 3.0, 1.0, 1.0, 3.0)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    verify_lines = [line for line in lines if line["route"].startswith(URL)]
    assert len(verify_lines) == 8  # 4 a client
    fast_lines, slow_lines = verify_lines[:4], verify_lines[4:]
    strip = ("time", "duration_ms", "request_id", "client")  # each app hashes with its own key
    assert [{k: v for k, v in x.items() if k not in strip} for x in fast_lines] == [
        {k: v for k, v in x.items() if k not in strip} for x in slow_lines
    ]
    assert fast_lines[0]["request_id"] == slow_lines[0]["request_id"] == "req-000001"
    assert "qr" not in json.dumps(lines)  # no QR text, nothing of the body


def test_the_openapi_document_keeps_both_endpoints(gw: Gateway) -> None:
    with both(gw) as (fast, _slow):
        paths = fast.get("/openapi.json").json()["paths"]
    assert "post" in paths[URL]
    batch = paths[BATCH]["post"]
    assert "批量核验" in batch["summary"]
    assert "Verify up to" in batch["summary"]


def test_a_batch_handed_on_for_a_confirmation_spends_its_budget_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        # An hour's window: the sliding counter's windows are aligned to the clock, and a run that
        # crossed a minute's end between its batches saw part of its spending weighed away.
        hz, sz, amr, _psb = _region(fed, rate_limit_verify_batch="4/hour")
        clock.advance(100)
        _, genuine, _ = _issue(hz, amr, 21)
        with hz.sessions() as session:
            kid = session.query(SigningKeyRow).filter(SigningKeyRow.agency_id == amr).one().kid
        clock.advance(600)
        keystore.compromise(hz, kid=kid, at=clock.now - 60, reason="leak", actor="t")
        clock.advance(60)
        trustsync.sync_once(sz, fed.fetcher(), lifetime=3600, refresh=60)
        trustsync.refresh_status_lists(sz, fed.fetcher())
        sz.reload()
        client = fed.client(sz.public_url)
        # Issued before the compromise: 苏州 asks 杭州 to confirm (the route, in a thread).
        first = client.post(BATCH, json={"qrs": [genuine, genuine]})
        assert [r["reason"] for r in first.json()["results"]] == ["VALID", "VALID"]
        assert client.post(BATCH, json={"qrs": [genuine, genuine]}).status_code == 200  # 4 spent
        assert client.post(BATCH, json={"qrs": [genuine]}).status_code == 429


# --- VALID answers from byte templates -------------------------------------------------------


def _dict_answer(gw: Gateway, result: VerificationResult) -> bytes:
    """The answer as the route builds it: ``answers``' dictionary, serialised."""
    return orjson.dumps(on_own_loop(lambda: fast_verify.answers(gw, [result]))[0])


def _verified(gw: Gateway, text: str) -> VerificationResult:
    state = gw.state
    return verify_scanned(text, trust=state.trust, statuses=state.statuses, now=gw.clock())


def test_a_templated_valid_answer_is_the_built_answer_byte_for_byte(
    gw: Gateway, amr: Agency, psb: Agency, hz: dict[str, str]
) -> None:
    """Every VALID answer of the corpus, of a personal type (its own message) and of another
    type: rendered from the template, the same bytes as the dictionary serialised; any other
    answer has no template (it is built as ever)."""
    personal, _ = issuance.issue(
        gw, agency_id=psb.id,
        request=issuance.IssueRequest("resident-eid", SAMPLE_SUBJECTS["resident-eid"]),
    )  # fmt: skip
    permit, _ = issuance.issue(
        gw, agency_id=amr.id,
        request=issuance.IssueRequest("food-business-permit",
                                      SAMPLE_SUBJECTS["food-business-permit"]),
    )  # fmt: skip
    texts = {**hz, "personal": personal.token, "permit": permit.token}
    who = verify_extras.answered_by(gw)
    valid = valid_answers.ValidAnswers()
    rendered = {}
    for name, text in texts.items():
        first = _verified(gw, text)
        later = first._replace(checked_at=first.checked_at + 7, status_max_age=None)
        for result in (first, first, later, first):  # made, held; other times; back again
            got = valid.render(result, who)
            if result.reason is Reason.VALID:
                assert got == _dict_answer(gw, result), name
            else:
                assert got is None, name
        rendered[name] = valid.render(first, who)
    assert rendered["personal"] is not None
    assert "持证人" in rendered["personal"].decode()
    assert {n for n, r in rendered.items() if r is not None} >= {
        "valid QR",
        "float fields",
        "personal",
        "permit",
    }


def test_a_new_city_record_or_trust_snapshot_gets_a_new_template(
    gw: Gateway, hz: dict[str, str]
) -> None:
    """Templates are matched by identity: another ``answered_by`` (the city renamed) or
    another snapshot's issuer renders afresh, never from the old bytes."""
    result = _verified(gw, hz["valid QR"])
    valid = valid_answers.ValidAnswers()
    who = verify_extras.answered_by(gw)
    first = valid.render(result, who)
    renamed = {**who, "name": "杭州市（新）"}
    again = valid.render(result, renamed)
    assert first is not None
    assert again is not None
    assert "杭州市（新）".encode() in again
    assert "杭州市（新）".encode() not in first
    assert again == orjson.dumps({**orjson.loads(first), "answered_by": renamed})
    assert result.issuer is not None
    moved = result._replace(issuer=dataclasses.replace(result.issuer, name="某市某局"))
    assert valid.render(moved, who) == orjson.dumps(
        {**orjson.loads(first), "issuer": {**orjson.loads(first)["issuer"], "name": "某市某局"}}
    )


def test_trust_data_holding_a_marker_is_answered_without_a_template(
    gw: Gateway, hz: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An issuer named exactly as a template's marker (were it ever guessed; within a longer
    text its quotes are escaped) is no way to bend an answer: no template is made, and the
    answer is built as a dictionary."""
    made = itertools.count()  # markers 0, 1, 2 … in hex: the first one known
    monkeypatch.setattr(valid_answers.secrets, "token_hex", lambda n: f"{next(made):0{2 * n}x}")
    result = _verified(gw, hz["valid QR"])
    assert result.issuer is not None
    tricky = result._replace(issuer=dataclasses.replace(result.issuer, name=f"\x00{0:016x}\x00"))
    valid = valid_answers.ValidAnswers()
    who = verify_extras.answered_by(gw)
    assert valid.render(tricky, who) is None
    assert valid.render(result, who) is not None  # the markers, unguessed, cut cleanly
    answer = on_own_loop(lambda: fast_verify.answer_bytes(gw, [tricky, result], valid))
    assert answer == [_dict_answer(gw, tricky), _dict_answer(gw, result)]


def test_the_fast_paths_429s_are_counted_and_logged_as_the_apps(
    gw: Gateway, hz: dict[str, str], tmp_path: Path
) -> None:
    """A request the budget refuses is counted and logged by the fast path as by the app."""
    log_file = tmp_path / "access.log"
    with both(
        gw, rate_limits=True, rate_limit_verify="1/minute", access_log="json",
        access_log_file=log_file,
    ) as (fast, slow):  # fmt: skip
        for client in (fast, slow):
            codes = [client.post(URL, json={"qr": hz["valid QR"]}).status_code for _ in range(3)]
            assert codes == [200, 429, 429]
        metric = 'ecert_http_requests_total{method="POST",route="unmatched",status="429"}'
        assert _counted(fast, metric) == _counted(slow, metric) == 2.0
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    refused = [(line["route"], line["status"]) for line in lines if line["status"] == 429]
    assert refused == [("unmatched", 429)] * 4  # 2 a client


_VALUES = st.dictionaries(
    st.text(max_size=12),
    st.one_of(
        st.text(max_size=40),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    max_size=8,
)


def test_any_signed_fields_are_templated_as_they_are_built(gw: Gateway, hz: dict[str, str]) -> None:
    """Field names and values of any kind (quotes, escapes, control characters, Chinese, big
    numbers, floats; names the type does not label), shown as the built answer shows them."""
    first = _verified(gw, hz["valid QR"])
    assert first.credential is not None
    valid = valid_answers.ValidAnswers()
    who = verify_extras.answered_by(gw)

    @settings(max_examples=150, deadline=None)
    @given(_VALUES)
    def check(values: dict[str, Any]) -> None:
        assert first.credential is not None
        result = first._replace(credential=first.credential._replace(values=values))
        assert valid.render(result, who) == _dict_answer(gw, result)

    check()
