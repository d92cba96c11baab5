"""Public documents (JWKS, status lists), QR images, photo verification, pages, bounds."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gateway.app import create_app
from gateway.core import Gateway
from tests.conftest import Agency, FakeClock
from tests.gateway.helpers import auth, client_for
from tests.gateway.holders import fresh_body
from trust import statuslist
from trust.jws import KeyIndex
from trust.keys import PublicKey
from verify.scan import decode_image


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as c:
        yield c


def _issue(client: TestClient, agency: Agency) -> dict[str, str]:
    body = fresh_body()  # a holder each: one live licence a holder
    response = client.post("/api/v1/credentials", json=body, headers=auth(agency.api_key))
    assert response.status_code == 201, response.text
    issued: dict[str, str] = response.json()
    return issued


def _jwks_index(client: TestClient) -> KeyIndex:
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    return KeyIndex(
        PublicKey.from_jwk({k: v for k, v in j.items() if k in ("kty", "crv", "x", "y", "kid")})
        for j in keys
    )


def test_status_list_token_is_signed_by_the_agency_and_tracks_revocation(
    client: TestClient, amr: Agency, clock: FakeClock
) -> None:
    issued = _issue(client, amr)
    detail = client.get(f"/api/v1/credentials/{issued['id']}", headers=auth(amr.api_key)).json()
    uri = detail["status_list"]
    path = uri.removeprefix("https://ecert.hangzhou.gov.cn")
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/statuslist+jwt"
    assert "max-age=300" in response.headers["cache-control"]
    snap = statuslist.verify_status_list_token(
        response.text, _jwks_index(client), expected_uri=uri, now=clock.now
    )
    assert snap.ttl == 300
    assert snap.exp > clock.now
    claims = json.loads(jwt.api_jws.decode(issued["token"], options={"verify_signature": False}))
    ref = statuslist.StatusReference.from_claims(claims)
    assert ref is not None
    assert snap.status(ref.idx) == statuslist.VALID

    client.post(
        f"/api/v1/credentials/{issued['id']}/revoke",
        json={"reason": "x"},
        headers=auth(amr.api_key),
    )
    after = statuslist.verify_status_list_token(
        client.get(path).text, _jwks_index(client), expected_uri=uri, now=clock.now
    )
    assert after.status(ref.idx) == statuslist.INVALID


def test_status_indexes_are_random_and_unique(gw: Gateway, client: TestClient, amr: Agency) -> None:
    from sqlalchemy import select

    from gateway.models import CredentialRow

    for _ in range(20):
        _issue(client, amr)
    with gw.sessions() as session:
        idx = list(session.scalars(select(CredentialRow.status_idx).order_by(CredentialRow.serial)))
    assert len(set(idx)) == 20
    assert idx != sorted(idx)  # not sequential: herd privacy


def test_unknown_status_list_is_404(client: TestClient) -> None:
    response = client.get("/statuslists/999")
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "not_found"


def test_qr_png_decodes_to_the_qr_text_and_verifies_by_photo(
    client: TestClient, amr: Agency
) -> None:
    issued = _issue(client, amr)
    png = client.get(f"/api/v1/credentials/{issued['id']}/qr.png", headers=auth(amr.api_key))
    assert png.headers["content-type"] == "image/png"
    assert decode_image(png.content) == [issued["qr_text"]]
    # a 'photo': the code on a larger grey background, as JPEG
    code = Image.open(io.BytesIO(png.content)).convert("L")
    photo = Image.new("L", (code.width * 2, code.height * 2), 200)
    photo.paste(code, (code.width // 2, code.height // 3))
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=85)
    result = client.post(
        "/api/v1/verify/image", files={"file": ("photo.jpg", buf.getvalue(), "image/jpeg")}
    ).json()
    assert result["reason"] == "VALID"
    assert result["codes_found"] == 1


def test_qr_svg(client: TestClient, amr: Agency) -> None:
    issued = _issue(client, amr)
    svg = client.get(f"/api/v1/credentials/{issued['id']}/qr.svg", headers=auth(amr.api_key))
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(b"not an image", "cannot identify"), (b"", "empty upload")],
    ids=["garbage", "empty"],
)
def test_photo_upload_errors_are_clear(client: TestClient, payload: bytes, expected: str) -> None:
    response = client.post("/api/v1/verify/image", files={"file": ("x.jpg", payload, "image/jpeg")})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["code"] == "bad_request"
    assert expected in detail["message_en"]
    assert detail["message"].startswith("请求数据无效")


def test_photo_without_a_qr_code_says_so(client: TestClient) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), "white").save(buf, format="PNG")
    response = client.post(
        "/api/v1/verify/image", files={"file": ("blank.png", buf.getvalue(), "image/png")}
    )
    assert response.status_code == 422
    assert "未找到二维码" in response.json()["detail"]["message"]


def test_oversized_bodies_are_413(client: TestClient) -> None:
    response = client.post(
        "/api/v1/verify",
        content=b'{"qr":"' + b"1" * 300_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["detail"]["code"] == "too_large"


def test_verify_rejects_garbage_with_malformed_not_an_error(client: TestClient) -> None:
    result = client.post("/api/v1/verify", json={"qr": "https://example.com/hello"}).json()
    assert result["valid"] is False
    assert result["reason"] == "MALFORMED"
    assert result["message"]["zh"]


def test_verify_page_and_home_page_are_chinese_first_with_security_headers(
    client: TestClient,
) -> None:
    page = client.get("/v")
    assert page.status_code == 200
    assert "电子证照核验" in page.text
    assert "English" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    home = client.get("/")
    assert "杭州市" in home.text
    assert client.get("/static/verify.js").status_code == 200


def test_the_counter_page_loads_only_the_gateways_own_script_and_style(client: TestClient) -> None:
    page = client.get("/counter")
    assert page.status_code == 200
    assert "核验点出示请求" in page.text
    assert "English" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/static/counter.js">' in page.text
    assert "://" not in page.text  # nothing from outside the gateway
    for script in ("counter.js", "page.js"):
        served = client.get(f"/static/{script}")
        assert served.status_code == 200
        assert "javascript" in served.headers["content-type"]
    assert 'from "./page.js"' in client.get("/static/counter.js").text


def test_health(client: TestClient, amr: Agency) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["issuers"] == 1


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/credentials",
        "/api/v1/credentials/{credential_id}",
        "/api/v1/credentials/{credential_id}/qr.png",
        "/api/v1/credentials/{credential_id}/revoke",
        "/api/v1/verify",
        "/api/v1/verify/image",
        "/statuslists/{list_id}",
        "/.well-known/jwks.json",
    ):
        assert path in spec["paths"], path


def test_image_decodes_run_at_most_one_a_core_at_once(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from gateway.routes import verify as verify_route

    running, most = 0, 0
    lock = threading.Lock()

    def slow_decode(data: bytes) -> list[str]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return []

    monkeypatch.setattr(verify_route, "decode_image", slow_decode)
    monkeypatch.setattr(verify_route, "IMAGE_DECODES", threading.BoundedSemaphore(2))
    with client_for(gw) as client:

        def upload(_: int) -> int:
            files = {"file": ("qr.png", b"\x89PNG not really", "image/png")}
            return client.post("/api/v1/verify/image", files=files).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            codes = list(pool.map(upload, range(6)))
    assert codes == [422] * 6  # no QR code found, each answered
    assert most == 2


def test_jwks_lists_each_key_under_the_kid_its_tokens_carry(
    client: TestClient, amr: Agency
) -> None:
    # Issue 7: a QR token's header named an 11-character kid no published key carried, so
    # jose, joserfc and jwcrypto found no key. Each key is now listed under its full RFC 7638
    # thumbprint and under the 12-character short kid tokens carry, which is its prefix.
    issued = _issue(client, amr)
    response = client.get("/.well-known/jwks.json")
    assert response.headers["content-type"] == "application/jwk-set+json"
    keys = response.json()["keys"]
    header_kid = jwt.get_unverified_header(issued["token"])["kid"]
    named = [k for k in keys if k["kid"] == header_kid]
    assert len(named) == 1
    full = [k for k in keys if k["kid"] != header_kid and k["kid"].startswith(header_kid)]
    assert len(full) == 1
    assert named[0] == {**full[0], "kid": header_kid}
    assert (
        PublicKey.from_jwk({m: full[0][m] for m in ("kty", "crv", "x", "y")}).kid == full[0]["kid"]
    )
    assert len(header_kid) == 12


def test_every_route_is_built_before_the_app_serves(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Apps in one process share the module-level routers; FastAPI built each app's routes on
    # its first request, so two gateways served in one process (the federation tests) built
    # the same endpoints from two threads at once and a request failed with a pydantic
    # warning. Built once, when the app is made, a request builds nothing.
    from fastapi import routing

    built: list[str] = []
    original = routing._EffectiveRouteContext.from_api_route

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs["original_route"].path)
        return original(*args, **kwargs)

    monkeypatch.setattr(routing._EffectiveRouteContext, "from_api_route", counting)
    app = create_app(gw)
    made = len(built)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/.well-known/jwks.json").status_code == 200
    assert made > 20
    assert len(built) == made, built[made:]
