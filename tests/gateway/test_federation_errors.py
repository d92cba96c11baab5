"""Federation endpoints answer errors in the OpenID Federation 1.0 §8.9 form: a JSON object
``{"error", "error_description"}`` as ``application/json``, with the status §8.9 gives the code,
and the description in zh-CN, then English."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.exceptions import HTTPException
from stdnum.cn import uscc

from gateway import agencies, federation
from gateway.errors import Forbidden, Unauthorised, Unprocessable
from gateway.routes.federation_errors import federation_error
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from trust.errors import FetchError
from trust.federation import PolicyError

YRD, HZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101"
ELSEWHERE = "http://127.0.0.1:9199"
LICENCE = "business-licence"


def _region(fed: Federation) -> None:
    fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
    hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=[LICENCE])
    first17 = "11330100MB1958123"
    agencies.add_agency(
        hz, name="杭州市市场监督管理局", uscc=first17 + uscc.calc_check_digit(first17),
        types=[LICENCE], actor="t",
    )  # fmt: skip


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    """One region for the tests that only read."""
    with federation_of(tmp_path_factory.mktemp("errors"), FakeClock()) as running:
        _region(running)
        yield running


@pytest.fixture
def fed(tmp_path: Path, clock: FakeClock) -> Iterator[Federation]:
    """A region of its own, for a test that breaks something."""
    with federation_of(tmp_path, clock) as running:
        _region(running)
        yield running


def _error(answer: httpx.Response, status: int, code: str) -> str:
    """Check the §8.9 form; the description."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json", answer.headers
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == code, body
    description: str = body["error_description"]
    zh, _, en = description.partition("：")
    assert zh, f"expected zh-CN then English, found {description!r}"
    assert en, f"expected zh-CN then English, found {description!r}"
    assert any("\u4e00" <= c <= "\u9fff" for c in zh), description
    assert en.isascii() or en.startswith(("http", "'")), description
    return description


# (what, gateway, method, path, query or body, status, code, fragment of the description)
CASES: list[tuple[str, str, str, str, dict[str, str], int, str, str]] = [
    ("fetch without sub", YRD, "GET", "/federation/fetch", {}, 400, "invalid_request",
     "缺少请求参数 sub：Required request parameter [sub] was missing"),
    ("fetch with an over-long sub", YRD, "GET", "/federation/fetch", {"sub": "h" * 300}, 400,
     "invalid_request", "Request parameter [sub] is invalid"),
    ("fetch about a stranger", YRD, "GET", "/federation/fetch", {"sub": ELSEWHERE}, 404,
     "not_found", f"vouches for no entity '{ELSEWHERE}'"),
    ("fetch about the issuer itself", YRD, "GET", "/federation/fetch", {"sub": YRD}, 400,
     "invalid_request", f"{YRD} is this gateway itself"),
    ("fetch about an unknown agency", HZ, "GET", "/federation/fetch",
     {"sub": f"{HZ}/agencies/nobody"}, 404, "not_found", "no agency 'nobody'"),
    ("resolve without sub", HZ, "GET", "/federation/resolve", {"trust_anchor": YRD}, 400,
     "invalid_request", "Required request parameter [sub] was missing"),
    ("resolve without anything", HZ, "GET", "/federation/resolve", {}, 400, "invalid_request",
     "缺少请求参数 sub；缺少请求参数 trust_anchor：Required request parameter [sub] was "
     "missing; Required request parameter [trust_anchor] was missing"),
    ("resolve with a malformed sub", HZ, "GET", "/federation/resolve",
     {"sub": "not a url", "trust_anchor": YRD}, 400, "invalid_request",
     "entity identifier must be an https URL"),
    ("resolve under a stranger anchor", HZ, "GET", "/federation/resolve",
     {"sub": HZ, "trust_anchor": ELSEWHERE}, 404, "invalid_trust_anchor",
     f"this resolver trusts ['{YRD}'], not '{ELSEWHERE}'"),
    ("resolve a subject nobody knows", HZ, "GET", "/federation/resolve",
     {"sub": ELSEWHERE, "trust_anchor": YRD}, 404, "invalid_subject",
     f"{ELSEWHERE} is not a member of the federation known to this gateway"),
    ("resolve a chain that does not hold", HZ, "GET", "/federation/resolve",
     {"sub": YRD, "trust_anchor": YRD}, 400, "invalid_trust_chain",
     f"no valid trust chain from {YRD}"),
    ("list filtered by entity type", YRD, "GET", "/federation/list",
     {"entity_type": "ecert_issuer"}, 400, "unsupported_parameter", "['entity_type']"),
    ("list of trust-marked subordinates", YRD, "GET", "/federation/list",
     {"trust_marked": "true"}, 400, "unsupported_parameter", "['trust_marked']"),
    ("list of intermediates", YRD, "GET", "/federation/list", {"intermediate": "true"}, 400,
     "unsupported_parameter", "['intermediate']"),
    ("confirm without token_hash", HZ, "GET", "/federation/confirm", {}, 400,
     "invalid_request", "Required request parameter [token_hash] was missing"),
    ("confirm with a malformed hash", HZ, "GET", "/federation/confirm", {"token_hash": "zz"},
     400, "invalid_request", "Request parameter [token_hash] is invalid"),
    ("confirm a token never issued", HZ, "GET", "/federation/confirm",
     {"token_hash": "0" * 64}, 404, "not_found", "no record of that token"),
    ("an unknown agency's configuration", HZ, "GET",
     "/agencies/nobody/.well-known/openid-federation", {}, 404, "not_found",
     "no agency 'nobody'"),
    # "no trust list compiled yet", or once the city's first sync ran, "version 99 is not kept"
    ("a delta from a version not kept", HZ, "GET", "/trust/list", {"since": "99"}, 404,
     "not_found", "未找到："),
    ("a delta from version 0", HZ, "GET", "/trust/list", {"since": "0"}, 400,
     "invalid_request", "Request parameter [since] is invalid"),
    ("join with an empty body", YRD, "POST", "/federation/join", {}, 400, "invalid_request",
     "Required request parameter [body] was missing"),
    ("join with garbage", YRD, "POST", "/federation/join", {"body": "not a jws"}, 400,
     "invalid_request", "请求无效："),
    ("a method the endpoint does not take", YRD, "POST", "/federation/fetch", {}, 405,
     "invalid_request", "Method Not Allowed"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_federation_error_answers_have_the_spec_form(
    shared: Federation, case: tuple[str, str, str, str, dict[str, str], int, str, str]
) -> None:
    _, url, method, path, params, status, code, fragment = case
    client = shared.client(url)
    if method == "POST":
        answer = client.post(
            path,
            content=params.get("body", ""),
            headers={"Content-Type": "application/entity-statement+jwt"},
        )
    else:
        answer = client.get(path, params=params)
    description = _error(answer, status, code)
    assert fragment in description
    if status == 405:
        assert answer.headers["allow"] == "GET"


def test_a_region_not_yet_in_a_federation_answers_not_found(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.gateway(YRD, code="310000", name="上海市")
        for path in ("/.well-known/openid-federation", "/federation/list"):
            description = _error(fed.client(YRD).get(path), 404, "not_found")
            assert description.startswith("未找到：this gateway is not in a federation")


def test_a_peer_that_cannot_be_reached_leaves_no_valid_chain(fed: Federation) -> None:
    fed.transport.down.add(YRD)
    answer = fed.client(HZ).get("/federation/resolve", params={"sub": HZ, "trust_anchor": YRD})
    description = _error(answer, 400, "invalid_trust_chain")  # §8.9: cannot be validated
    assert "FetchError" in description


def test_what_nobody_anticipated_is_a_logged_server_error_in_the_same_form(
    fed: Federation, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> list[str]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(federation, "subordinates", broken)
    description = _error(fed.client(YRD).get("/federation/list"), 500, "server_error")
    assert description == "服务器内部错误：internal error"  # no internals leak
    assert "unclassified error at a federation endpoint" in caplog.text


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (PolicyError("x"), 400, "invalid_metadata"),
        (Unauthorised("x"), 401, "invalid_client"),
        (Forbidden("x"), 403, "invalid_client"),
        (FetchError("x"), 503, "temporarily_unavailable"),
        (Unprocessable("无法处理", "cannot"), 400, "invalid_request"),
        (HTTPException(413, "too large"), 413, "invalid_request"),
        (HTTPException(406, "not acceptable"), 406, "invalid_request"),
        (HTTPException(502, "bad gateway"), 502, "server_error"),
    ],
)
def test_codes_no_endpoint_reaches_today(raised: Exception, status: int, code: str) -> None:
    answer = federation_error(raised)
    assert answer.status_code == status
    assert answer.media_type == "application/json"
    body = json.loads(bytes(answer.body))
    assert body["error"] == code
    assert "：" in body["error_description"]


def test_list_filters_are_refused_and_the_plain_list_is_served(shared: Federation) -> None:
    refused = shared.client(YRD).get("/federation/list", params={"trust_mark_type": "x"})
    _error(refused, 400, "unsupported_parameter")
    listed = shared.client(YRD).get("/federation/list")
    assert listed.status_code == 200
    assert listed.json() == [HZ]


def test_only_the_federation_endpoints_answer_in_the_federation_form(shared: Federation) -> None:
    _error(shared.client(YRD).get("/federation/fetch"), 400, "invalid_request")
    fetched = shared.client(YRD).get("/federation/fetch", params={"sub": HZ})
    assert fetched.status_code == 200  # a successful answer is untouched
    assert fetched.headers["content-type"] == "application/entity-statement+jwt"
    answer = shared.client(HZ).post("/api/v1/verify", json={})
    assert answer.status_code == 422  # the gateway's own API keeps its error shape
    assert answer.json()["detail"]["code"] == "invalid_input"
