"""OpenID4VCI pre-authorised code flow to a wallet: one named test per rule, on SQLite and
PostgreSQL (the single-use rules are the database's)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from gateway import wallet
from gateway.core import Gateway
from tests.conftest import Agency, FakeClock
from tests.gateway.helpers import auth, client_for
from tests.gateway.holders import fresh_subject
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.jws import KeyIndex, sign_compact
from trust.keys import PublicKey, SigningKey
from trust.oid4vci import PRE_AUTHORIZED_GRANT, PROOF_TYP, make_proof
from trust.sdjwt.core import split
from trust.sdjwt.disclosure import Disclosure
from trust.sdjwt.holder import receive
from trust.sdjwt.issue import SdJwt

ISSUER = "https://ecert.hangzhou.gov.cn"


@pytest.fixture
def client(gw: Gateway) -> Any:
    with client_for(gw) as c:
        yield c


def _offer(
    client: TestClient, psb: Agency, subject: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {
        "type": "resident-eid",
        "subject": subject or SAMPLE_SUBJECTS["resident-eid"],
        "wallet_offer": True,
    }
    answer = client.post("/api/v1/credentials", json=body, headers=auth(psb.api_key))
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    assert issued["wallet_offer"]["offer_uri"].startswith("openid-credential-offer://?")
    return issued


def _code(client: TestClient, offer: dict[str, Any]) -> str:
    uri = parse_qs(urlsplit(offer["offer_uri"]).query)["credential_offer_uri"][0]
    document = client.get(urlsplit(uri).path).json()
    grant = document["grants"][PRE_AUTHORIZED_GRANT]
    assert grant["tx_code"]["length"] == 6
    return str(grant["pre-authorized_code"])


def _token(client: TestClient, code: str, pin: str) -> Any:
    return client.post(
        "/oid4vci/token",
        data={"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": code, "tx_code": pin},
    )


def _nonce(client: TestClient) -> str:
    answer = client.post("/oid4vci/nonce")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    return str(answer.json()["c_nonce"])


def _credential(client: TestClient, access: str, proof: str) -> Any:
    return client.post(
        "/oid4vci/credential",
        json={"credential_configuration_id": "resident-eid", "proofs": {"jwt": [proof]}},
        headers=auth(access),
    )


def _ready(
    client: TestClient, psb: Agency, subject: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str]:
    issued = _offer(client, psb, subject)
    code = _code(client, issued["wallet_offer"])
    answer = _token(client, code, issued["wallet_offer"]["tx_code"])
    assert answer.status_code == 200, answer.text
    return issued, str(answer.json()["access_token"])


def _error(answer: Any, status: int, error: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == error, body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), body
    assert body["message_en"] == body["error_description"]


def test_a_holder_receives_an_sd_jwt_vc_bound_to_its_key_on_the_qr_tokens_status_entry(
    client: TestClient, psb: Agency, clock: FakeClock
) -> None:
    issued, access = _ready(client, psb)
    holder = SigningKey.generate()
    proof = make_proof(holder, audience=ISSUER, nonce=_nonce(client), now=clock())
    answer = _credential(client, access, proof)
    assert answer.status_code == 200, answer.text
    serialized = answer.json()["credentials"][0]["credential"]
    meta = client.get(f"/.well-known/jwt-vc-issuer/agencies/{psb.id}").json()
    assert meta["issuer"] == f"{ISSUER}/agencies/{psb.id}"
    keys = KeyIndex([PublicKey.from_jwk(k) for k in meta["jwks"]["keys"]])
    _, verified = receive(serialized, issuer_keys=keys, now=clock())
    assert verified.issuer == meta["issuer"]
    assert verified.holder_key is not None
    assert verified.holder_key.kid == holder.kid
    subject = SAMPLE_SUBJECTS["resident-eid"]
    # The issuer derives the masked number and makes it a Disclosure of its own.
    masked = subject["id_number"][:6] + "*" * 8 + subject["id_number"][-4:]
    assert verified.claims == {**subject, "id_number_masked": masked}
    assert verified.disclosed == {*subject, "id_number_masked"}
    disclosures = [Disclosure.parse(d) for d in split(serialized).disclosures]
    assert [(d.name, d.value) for d in disclosures if d.name == "id_number_masked"] == [
        ("id_number_masked", masked)
    ]
    assert verified.vct == f"{ISSUER}/vct/resident-eid"
    qr_status = client.get(f"/api/v1/credentials/{issued['id']}", headers=auth(psb.api_key))
    token_claims = SdJwt(issued["token"], ()).unverified_payload()  # the QR token's payload
    assert verified.status is not None
    assert verified.status.to_claim() == {"status": token_claims["status"]}
    assert qr_status.json()["status_list"] == verified.status.uri
    vct = client.get("/vct/resident-eid").json()
    assert vct["vct"] == verified.vct
    assert [d["locale"] for d in vct["display"]] == ["zh-CN", "en-US"]
    claims = {c["path"][0]: c for c in vct["claims"]}
    assert claims["id_number"]["sd"] == "always"
    assert claims["id_number_masked"]["sd"] == "always"
    assert claims["id_number_masked"]["mandatory"] is True
    zh, en = claims["id_number_masked"]["display"]
    assert zh["label"] == "公民身份号码（部分隐藏）"
    assert en["label"] == "Citizen ID number (masked)"
    assert "前 6 位和后 4 位" in zh["description"]
    assert "from id_number" in en["description"]
    assert "id_number_masked" not in json.dumps(token_claims)  # QR tokens are unchanged


def test_metadata_names_the_endpoints(client: TestClient) -> None:
    meta = client.get("/.well-known/openid-credential-issuer").json()
    assert meta["credential_issuer"] == ISSUER
    assert meta["nonce_endpoint"] == f"{ISSUER}/oid4vci/nonce"
    config = meta["credential_configurations_supported"]["resident-eid"]
    assert config["format"] == "dc+sd-jwt"
    assert config["vct"] == f"{ISSUER}/vct/resident-eid"
    server = client.get("/.well-known/oauth-authorization-server").json()
    assert server["token_endpoint"] == f"{ISSUER}/oid4vci/token"
    assert server["pre-authorized_grant_anonymous_access_supported"] is True


def test_an_offer_redeems_once(client: TestClient, psb: Agency) -> None:
    issued = _offer(client, psb)
    code = _code(client, issued["wallet_offer"])
    assert _token(client, code, issued["wallet_offer"]["tx_code"]).status_code == 200
    _error(_token(client, code, issued["wallet_offer"]["tx_code"]), 400, "invalid_grant")
    assert client.get(f"{wallet.OFFER_PATH}{code}").status_code == 404


def test_an_expired_offer_is_refused(client: TestClient, psb: Agency, clock: FakeClock) -> None:
    issued = _offer(client, psb)
    code = _code(client, issued["wallet_offer"])
    clock.advance(wallet.OFFER_TTL)
    _error(_token(client, code, issued["wallet_offer"]["tx_code"]), 400, "invalid_grant")
    assert client.get(f"{wallet.OFFER_PATH}{code}").status_code == 404


def test_wrong_pins_are_refused_and_bounded(client: TestClient, psb: Agency) -> None:
    issued = _offer(client, psb)
    code = _code(client, issued["wallet_offer"])
    pin = issued["wallet_offer"]["tx_code"]
    wrong = f"{(int(pin) + 1) % 1_000_000:06d}"
    for _ in range(wallet.MAX_PIN_FAILURES):
        _error(_token(client, code, wrong), 400, "invalid_grant")
    answer = _token(client, code, pin)  # the right PIN, too late
    _error(answer, 400, "invalid_grant")
    assert "the offer is locked" in answer.json()["message_en"]


def test_a_proof_with_a_nonce_the_issuer_did_not_give_is_refused(
    client: TestClient, psb: Agency, clock: FakeClock
) -> None:
    _, access = _ready(client, psb)
    holder = SigningKey.generate()
    proof = make_proof(holder, audience=ISSUER, nonce="made-up-nonce", now=clock())
    _error(_credential(client, access, proof), 400, "invalid_nonce")


def test_a_nonce_serves_one_proof(client: TestClient, psb: Agency, clock: FakeClock) -> None:
    _, first = _ready(client, psb)
    _, second = _ready(client, psb, fresh_subject("resident-eid"))  # one live e-ID a person
    nonce = _nonce(client)
    holder = SigningKey.generate()
    proof = make_proof(holder, audience=ISSUER, nonce=nonce, now=clock())
    assert _credential(client, first, proof).status_code == 200
    _error(_credential(client, second, proof), 400, "invalid_nonce")


def test_a_proof_signed_by_another_key_than_its_jwk_is_refused(
    client: TestClient, psb: Agency, clock: FakeClock
) -> None:
    _, access = _ready(client, psb)
    shown, signer = SigningKey.generate(), SigningKey.generate()
    jwk = {k: shown.public.jwk[k] for k in ("kty", "crv", "x", "y")}
    import jwt as pyjwt

    from trust.jws import dumps_compact

    forged = pyjwt.api_jws.encode(
        dumps_compact({"aud": ISSUER, "iat": clock(), "nonce": _nonce(client)}),
        signer.private,
        algorithm=signer.alg,
        headers={"typ": PROOF_TYP, "jwk": jwk},
    )
    _error(_credential(client, access, forged), 400, "invalid_proof")


def test_a_proof_for_another_issuer_is_refused(
    client: TestClient, psb: Agency, clock: FakeClock
) -> None:
    _, access = _ready(client, psb)
    holder = SigningKey.generate()
    proof = make_proof(
        holder, audience="https://ecert.suzhou.gov.cn", nonce=_nonce(client), now=clock()
    )
    _error(_credential(client, access, proof), 400, "invalid_proof")


def test_a_proof_naming_a_kid_beside_its_jwk_is_refused(
    client: TestClient, psb: Agency, clock: FakeClock
) -> None:
    _, access = _ready(client, psb)
    holder = SigningKey.generate()
    jwk = {k: holder.public.jwk[k] for k in ("kty", "crv", "x", "y")}
    proof = sign_compact(
        {"aud": ISSUER, "iat": clock(), "nonce": _nonce(client)},
        holder,
        typ=PROOF_TYP,
        extra_headers={"jwk": jwk},
    )
    _error(_credential(client, access, proof), 400, "invalid_proof")


def test_an_access_token_delivers_once(client: TestClient, psb: Agency, clock: FakeClock) -> None:
    _, access = _ready(client, psb)
    holder = SigningKey.generate()
    first = make_proof(holder, audience=ISSUER, nonce=_nonce(client), now=clock())
    assert _credential(client, access, first).status_code == 200
    again = make_proof(holder, audience=ISSUER, nonce=_nonce(client), now=clock())
    answer = _credential(client, access, again)
    _error(answer, 401, "invalid_token")
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_an_expired_access_token_is_refused(
    client: TestClient, psb: Agency, clock: FakeClock
) -> None:
    _, access = _ready(client, psb)
    nonce = _nonce(client)
    clock.advance(wallet.TOKEN_TTL)
    holder = SigningKey.generate()
    proof = make_proof(holder, audience=ISSUER, nonce=nonce, now=clock())
    _error(_credential(client, access, proof), 401, "invalid_token")


def test_a_revoked_credential_is_not_delivered(
    client: TestClient, psb: Agency, clock: FakeClock
) -> None:
    issued, access = _ready(client, psb)
    revoked = client.post(
        f"/api/v1/credentials/{issued['id']}/revoke",
        json={"reason": "测试"},
        headers=auth(psb.api_key),
    )
    assert revoked.status_code == 200, revoked.text
    holder = SigningKey.generate()
    proof = make_proof(holder, audience=ISSUER, nonce=_nonce(client), now=clock())
    _error(_credential(client, access, proof), 400, "credential_request_denied")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": PRE_AUTHORIZED_GRANT}, "invalid_request"),
        ({"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": "x" * 500}, "invalid_request"),
        (
            {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": "nope", "tx_code": "1"},
            "invalid_grant",
        ),
    ],
    ids=["other-grant", "no-code", "oversized-code", "unknown-code"],
)
def test_bad_token_requests_get_oauth_errors(
    client: TestClient, data: dict[str, str], error: str
) -> None:
    _error(client.post("/oid4vci/token", data=data), 400, error)


def test_an_oversized_or_malformed_credential_request_is_a_4xx(
    client: TestClient, psb: Agency
) -> None:
    _, access = _ready(client, psb)
    huge = client.post(
        "/oid4vci/credential", content=b"{" + b" " * 20_000 + b"}", headers=auth(access)
    )
    _error(huge, 400, "invalid_request")
    _error(
        client.post("/oid4vci/credential", content=b"not json", headers=auth(access)),
        400,
        "invalid_credential_request",
    )
    _error(
        client.post(
            "/oid4vci/credential",
            json={"credential_configuration_id": "resident-eid", "proofs": {"jwt": ["a.b.c"]}},
            headers=auth(access),
        ),
        400,
        "invalid_proof",
    )


ODD_CREDENTIAL_REQUESTS: list[Any] = [
    [],
    "resident-eid",
    {},
    {"credential_identifier": "x", "credential_configuration_id": "resident-eid"},
    {"credential_configuration_id": 5},
    {"credential_configuration_id": "business-licence", "proofs": {"jwt": ["a"]}},
    {"credential_configuration_id": "resident-eid"},
    {"credential_configuration_id": "resident-eid", "proofs": []},
    {"credential_configuration_id": "resident-eid", "proofs": {"jwt": [1]}},
    {"credential_configuration_id": "resident-eid", "proofs": {"jwt": ["a", "b"]}},
    {"credential_configuration_id": "resident-eid", "proofs": {"ldp_vp": ["a"]}},
    {"credential_configuration_id": "resident-eid", "proofs": {"jwt": ["\u4e00.\u4e01.x"]}},
]


def test_odd_credential_requests_get_oauth_errors_never_5xx(
    client: TestClient, psb: Agency
) -> None:
    _, access = _ready(client, psb)
    for body in ODD_CREDENTIAL_REQUESTS:
        answer = client.post("/oid4vci/credential", json=body, headers=auth(access))
        assert 400 <= answer.status_code < 500, (body, answer.text)
        assert answer.json()["error"] in (
            "invalid_credential_request",
            "unknown_credential_configuration",
            "invalid_proof",
        ), (body, answer.text)
    no_token = client.post("/oid4vci/credential", json=ODD_CREDENTIAL_REQUESTS[-1])
    _error(no_token, 401, "invalid_token")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"grant_type=a&grant_type=b", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"grant_type", "application/x-www-form-urlencoded"),
        (b'{"grant_type": "x"}', "application/json"),
        (b"a=" + b"b" * 5000, "application/x-www-form-urlencoded"),
    ],
    ids=["repeated", "not-utf8", "no-value", "json", "oversized"],
)
def test_odd_token_requests_get_invalid_request(
    client: TestClient, content: bytes, content_type: str
) -> None:
    answer = client.post("/oid4vci/token", content=content, headers={"Content-Type": content_type})
    _error(answer, 400, "invalid_request")


def test_an_agency_makes_a_fresh_offer_whose_qr_image_holds_the_offer_uri(
    client: TestClient, psb: Agency, amr: Agency
) -> None:
    from verify.scan import decode_image

    issued = _offer(client, psb)
    fresh = client.post(
        f"/api/v1/credentials/{issued['id']}/wallet-offer", headers=auth(psb.api_key)
    )
    assert fresh.status_code == 201, fresh.text
    offer = fresh.json()
    assert offer["tx_code"].isdigit()
    assert offer["offer_uri"] != issued["wallet_offer"]["offer_uri"]
    png = client.get(offer["qr_png"])
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert decode_image(png.content) == [offer["offer_uri"]]
    # Another agency cannot make offers for this credential.
    foreign = client.post(
        f"/api/v1/credentials/{issued['id']}/wallet-offer", headers=auth(amr.api_key)
    )
    assert foreign.status_code == 403, foreign.text
    # Both offers stay redeemable, each once, each with its own PIN.
    for made in (issued["wallet_offer"], offer):
        assert _token(client, _code(client, made), made["tx_code"]).status_code == 200
