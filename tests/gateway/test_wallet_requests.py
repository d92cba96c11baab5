"""The web wallet's API (``/wallet/api``): its gateway resolves a counter's request through the
federation to its own trust anchor and says who asks, for what and why, or refuses (zh/en,
422): a counter outside the federation known here (nothing fetched), a request that cannot be
fetched, a request object not signed by the counter, fields beyond the counter's role. The QR
of a request read from a photo. The OpenID4VCI and OpenID4VP endpoints a browser wallet calls
from another origin carry CORS; the counter's own API does not."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway import federation
from gateway.core import Gateway
from gateway.models import PresentationRequestRow
from gateway.routes import pages
from tests.gateway.helpers import auth, client_for
from tests.gateway.holders import fresh_subject
from tests.gateway.test_presentation_answers import HZ, YRD, Desk
from tests.gateway.test_presentation_answers import desk as desk  # the fixture
from trust.jws import sign_compact
from trust.keys import SigningKey
from trust.oid4vp import REQUEST_TYP, request_link

RESOLVE = "/wallet/api/requests/resolve"
ORIGIN = {"Origin": "https://wallet.example"}


def _resolve(desk: Desk, uri: str) -> Any:
    return desk.client.post(RESOLVE, json={"uri": uri})


def _refused(desk: Desk, uri: str, found: str) -> dict[str, Any]:
    got = _resolve(desk, uri)
    assert got.status_code == 422, got.text
    detail: dict[str, Any] = got.json()["detail"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in detail["message"]), detail
    assert found in detail["message_en"], detail
    return detail


def _replace_request_object(desk: Desk, request_id: str, claims: dict[str, Any], key: Any) -> None:
    gw = desk.fed.gateways[HZ]
    with gw.transaction() as session:
        row = session.get(PresentationRequestRow, request_id)
        assert row is not None
        row.token = sign_compact(claims, key, typ=REQUEST_TYP)


def _counter_key(desk: Desk, request: dict[str, Any]) -> SigningKey:
    gw = desk.fed.gateways[HZ]
    verifier_id = request["client_id"].rsplit("/", 1)[-1]
    with gw.sessions() as session:
        key, _ = federation.signing_key(gw, session, verifier_id)
    return key


def test_a_counters_request_is_resolved_for_the_consent_screen(desk: Desk) -> None:
    request = desk.ask()
    got = _resolve(desk, request["uri"])
    assert got.status_code == 200, got.text
    assert got.headers["cache-control"] == "no-store"
    asked = got.json()
    claims = request["claims"]
    entity = claims["client_id"].removeprefix("openid_federation:")
    assert asked["verifier"] == {
        "entity_id": entity,
        "name": "西湖宾馆前台",
        "city": "杭州市",
        "city_entity_id": HZ,
        "role": {"code": "hotel-desk", "zh": "旅馆前台", "en": "Hotel front desk"},
    }
    assert asked["chain"] == [entity, HZ, YRD]
    assert asked["trust_anchor"] == YRD
    assert asked["credential_type"]["code"] == "resident-eid"
    assert asked["fields"] == [
        {"name": "name", "label": {"zh": "姓名", "en": "Name"}},
        {"name": "sex", "label": {"zh": "性别", "en": "Sex"}},
    ]
    assert asked["purpose"] == "旅馆住宿登记"
    for name in ("client_id", "nonce", "state", "response_uri"):
        assert asked[name] == claims[name], name
    assert asked["query_id"] == "credential"
    assert asked["expires_at"] == claims["exp"]
    # What the browser needs is enough to answer: a presentation made with it is accepted.
    answered = desk.post(request, desk.present(request))
    assert answered.status_code == 200, answered.text


def test_a_counter_outside_the_known_federation_is_refused_without_a_fetch(desk: Desk) -> None:
    stranger = "https://intranet.example/verifiers/vf-x"
    link = request_link(f"openid_federation:{stranger}", "https://intranet.example/admin")
    _refused(desk, link, "known to this gateway")


def test_a_request_uri_on_another_origin_is_refused(desk: Desk) -> None:
    request = desk.ask()
    link = request_link(request["client_id"], "http://127.0.0.1:9/steal")
    _refused(desk, link, "expected a request_uri on the origin of")


def test_a_request_that_cannot_be_fetched_is_refused(desk: Desk) -> None:
    request = desk.ask()
    gone = request_link(request["client_id"], f"{HZ}/oid4vp/requests/pr-gone")
    _refused(desk, gone, "cannot fetch the request object")


def test_a_request_object_not_signed_by_the_counter_is_refused(desk: Desk) -> None:
    request = desk.ask()
    _replace_request_object(desk, request["id"], request["claims"], SigningKey.generate())
    _refused(desk, request["uri"], "not signed by")


def test_a_request_for_fields_beyond_the_counters_role_is_refused(desk: Desk) -> None:
    request = desk.ask()
    claims = dict(request["claims"])
    query = claims["dcql_query"]["credentials"][0]
    query["claims"] = [*query["claims"], {"path": ["id_number"]}]
    _replace_request_object(desk, request["id"], claims, _counter_key(desk, request))
    _refused(desk, request["uri"], "may not ask for ['id_number']")


def test_a_gateway_in_no_federation_says_it_cannot_vouch_for_counters(gw: Gateway) -> None:
    base = gw.public_url.rstrip("/")
    link = request_link(f"openid_federation:{base}/verifiers/vf-x", f"{base}/oid4vp/requests/x")
    with client_for(gw) as client:
        got = client.post(RESOLVE, json={"uri": link})
    assert got.status_code == 422, got.text
    assert got.json()["detail"]["message"] == "本网关尚未加入联邦，无法核实核验点"
    assert "not in a federation" in got.json()["detail"]["message_en"]


@pytest.mark.parametrize(
    "uri",
    ["https://hz.example.cn/v#123", "openid4vp://?request_uri=x", "x" * 5000],
    ids=["not-openid4vp", "no-client-id", "too-long"],
)
def test_what_is_not_a_request_link_is_refused_in_both_languages(desk: Desk, uri: str) -> None:
    got = _resolve(desk, uri)
    assert got.status_code == 422, got.text
    detail = got.json()["detail"]
    assert detail["message"]
    assert detail["message_en"]


def test_the_qr_of_a_request_is_read_from_a_photo(desk: Desk) -> None:
    request = desk.ask()
    png = desk.client.get(request["qr_png"]).content
    got = desk.client.post("/wallet/api/qr/image", files={"file": ("qr.png", png, "image/png")})
    assert got.status_code == 200, got.text
    assert got.json() == {"text": request["uri"], "codes_found": 1}
    blank = desk.client.post(
        "/wallet/api/qr/image", files={"file": ("x.png", b"not an image", "image/png")}
    )
    assert blank.status_code == 400
    assert blank.json()["detail"]["message"]


def test_the_wallet_page_may_reach_other_gateways_and_loads_only_its_own_assets(
    desk: Desk,
) -> None:
    page = desk.client.get("/wallet")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self' https:" in policy
    assert "/static/wallet.js" in page.text
    modules = sorted(p.name for p in (pages.WEB / "static").glob("wallet*.js"))
    assert len(modules) >= 4, modules  # the page, storage, SD-JWT, protocols, texts
    for asset in ["/static/wallet.css", "/static/page.js", *(f"/static/{m}" for m in modules)]:
        assert desk.client.get(asset).status_code == 200, asset
    assert "http://" not in page.text.replace(HZ, "").split("<body", 1)[0]  # no CDN


# --- CORS on what a browser wallet calls from another origin -----------------------------------


@pytest.fixture
def offer(desk: Desk) -> dict[str, Any]:
    body = {
        "type": "resident-eid",
        "subject": fresh_subject("resident-eid"),  # the desk's city issued the sample already
        "wallet_offer": True,
    }
    issued = desk.client.post("/api/v1/credentials", json=body, headers=auth(desk.agency.api_key))
    assert issued.status_code == 201, issued.text
    return dict(issued.json()["wallet_offer"])


def _cors(answer: Any) -> None:
    assert answer.headers.get("access-control-allow-origin") == "*", (answer.url, answer.text)
    assert "access-control-allow-credentials" not in answer.headers


def test_the_issuance_endpoints_answer_any_origin(desk: Desk, offer: dict[str, Any]) -> None:
    client: TestClient = desk.client
    code = offer["offer_uri"].rsplit("%2F", 1)[-1]
    for path in (
        "/.well-known/openid-credential-issuer",
        "/.well-known/oauth-authorization-server",
        f"/.well-known/jwt-vc-issuer/agencies/{desk.agency.id}",
        "/vct/resident-eid",
        f"/oid4vci/offers/{code}",
    ):
        got = client.get(path, headers=ORIGIN)
        assert got.status_code == 200, (path, got.text)
        _cors(got)
    _cors(client.post("/oid4vci/nonce", headers=ORIGIN))
    wrong_pin = client.post(
        "/oid4vci/token",
        data={"grant_type": "x", "pre-authorized_code": "y", "tx_code": "000000"},
        headers=ORIGIN,
    )
    assert wrong_pin.status_code == 400
    _cors(wrong_pin)
    no_token = client.post("/oid4vci/credential", json={}, headers={**ORIGIN, **auth("nope")})
    assert no_token.status_code == 401
    _cors(no_token)
    unknown_agency = client.get("/.well-known/jwt-vc-issuer/agencies/ag-none", headers=ORIGIN)
    assert unknown_agency.status_code == 404
    _cors(unknown_agency)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/oid4vci/token", "content-type"),
        ("/oid4vci/credential", "authorization, content-type"),
        ("/oid4vci/nonce", "accept"),
    ],
)
def test_the_issuance_posts_are_preflighted(desk: Desk, path: str, headers: str) -> None:
    asked = desk.client.options(
        path,
        headers={
            **ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )
    assert asked.status_code == 204
    _cors(asked)
    assert "POST" in asked.headers["access-control-allow-methods"]
    allowed = asked.headers["access-control-allow-headers"].lower()
    assert all(h.strip() in allowed for h in headers.split(","))


def test_the_request_object_and_response_endpoint_answer_any_origin(desk: Desk) -> None:
    request = desk.ask()
    _cors(desk.client.get(f"/oid4vp/requests/{request['id']}", headers=ORIGIN))
    preflight = desk.client.options(
        f"/oid4vp/responses/{request['id']}",
        headers={**ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]
    wrong_state = desk.client.post(
        f"/oid4vp/responses/{request['id']}",
        data={"vp_token": "{}", "state": "not-the-state"},
        headers=ORIGIN,
    )
    assert wrong_state.status_code == 400
    _cors(wrong_state)
    assert wrong_state.json()["message"]
    answered = desk.post(request, desk.present(request))
    assert answered.status_code == 200
    _cors(answered)
    gone = desk.client.get(f"/oid4vp/requests/{request['id']}", headers=ORIGIN)
    assert gone.status_code == 404
    _cors(gone)


def test_the_counters_own_api_carries_no_cors(desk: Desk) -> None:
    request = desk.ask()
    read = desk.client.get(
        f"/api/v1/presentation-requests/{request['id']}",
        headers={**ORIGIN, **auth(desk.counter_key)},
    )
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers
