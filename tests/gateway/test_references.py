"""Reference codes (亮证码) within one city (issue 10): a holder's wallet asks its issuing
gateway for a code with a holder proof; a counter resolves it once, with a reason, and sees
only what its role may see. One test per rule, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import io
from contextlib import closing
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from gateway import federation, references, trustmarks, verifiers
from gateway.models import ReferenceFailureRow, ReferenceUseRow
from issuers.verifier_roles import VerifierRole
from tests.gateway import test_presentation_answers as answers
from tests.gateway.helpers import WALLET_ORIGIN, assert_json_post_preflighted, auth, race_past
from tests.gateway.test_presentation_answers import HZ, YRD, Desk
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.holder_proof import make_holder_proof
from trust.jws import KeyIndex, verify_compact
from trust.keys import SigningKey
from trust.reference_code import grouped
from trust.statuslist import StatusReference

REASON = "旅馆住宿登记"
FULL = SAMPLE_SUBJECTS["resident-eid"]["id_number"]
desk = answers.desk  # 杭州 (SQLite, and PostgreSQL when the suite has one), a desk, a holder


def _ask(desk: Desk, holder: SigningKey | None = None, path: str = "/api/v1/references") -> Any:
    ref = StatusReference.from_claims(desk.sd_jwt.unverified_payload())
    assert ref is not None
    proof = make_holder_proof(
        holder or desk.holder,
        audience=str(desk.client.base_url).rstrip("/"),
        credential=ref,
        now=desk.fed.clock(),
    )
    return desk.client.post(path, json={"proof": proof})


def _code(desk: Desk) -> str:
    made = _ask(desk)
    assert made.status_code == 201, made.text
    return str(made.json()["code"])


def _resolve(desk: Desk, code: str, key: str | None = None, reason: str = REASON) -> Any:
    return desk.client.post(
        "/api/v1/references/resolve",
        json={"code": code, "reason": reason},
        headers=auth(key or desk.counter_key),
    )


def _fields(answer: Any) -> dict[str, Any]:
    return {f["name"]: f["value"] for f in answer.json()["fields"]}


def test_a_code_resolves_once_with_the_masked_number_for_a_hotel_desk(desk: Desk) -> None:
    made = _ask(desk)
    assert made.status_code == 201, made.text
    body = made.json()
    code = body["code"]
    assert len(code) == 16
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert body["city_code"] == "330100"
    assert body["display"] == body["qr_text"] == f"330100-{grouped(code)}"
    assert body["expires_in"] == 300
    png = base64.b64decode(body["qr_png"].split(",", 1)[1])
    with Image.open(io.BytesIO(png)) as image:  # the QR carries the routable form
        assert [b.text for b in zxingcpp.read_barcodes(image.convert("L"))] == [body["qr_text"]]
    typed = f" {body['display'].lower()} "  # a scanner gun with caps lock, and spaces
    answer = _resolve(desk, typed)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["reason"] == "VALID"
    assert result["valid"] is True
    assert _fields(answer) == {
        "name": SAMPLE_SUBJECTS["resident-eid"]["name"],
        "sex": SAMPLE_SUBJECTS["resident-eid"]["sex"],
        "id_number_masked": f"{FULL[:6]}********{FULL[-4:]}",
    }
    assert FULL not in answer.text
    assert [c["role"] for c in result["issuer"]["chain"]] == ["agency", "city"]
    assert result["freshness"]["trust"]
    assert result["freshness"]["status"]
    again = _resolve(desk, code)
    assert again.json()["reason"] == "REFERENCE_USED"
    assert again.json()["message"]["zh"] == "亮证码已被使用过（每个码只能核验一次）"
    with desk.fed.gateways[HZ].sessions() as session:
        (use,) = session.scalars(select(ReferenceUseRow)).all()
    assert (use.credential_id, use.verifier_name, use.city_name, use.purpose) == (
        desk.credential_id, "西湖宾馆前台", "杭州市", REASON,
    )  # fmt: skip
    assert use.verifier_entity.endswith(f"/verifiers/{use.verifier_id}")
    assert sorted(use.fields) == ["id_number_masked", "name", "sex"]
    assert use.reason_code == "VALID"


def test_a_police_counter_sees_the_full_number(desk: Desk) -> None:
    hz = desk.fed.gateways[HZ]
    _row, police = verifiers.add_verifier(hz, name="西湖派出所", role="police-counter", actor="t")
    answer = _resolve(desk, _code(desk), police, reason="户籍核查")
    assert answer.json()["reason"] == "VALID", answer.text
    assert _fields(answer)["id_number"] == FULL


def test_a_role_that_may_see_nothing_of_the_type_is_refused_and_the_code_stays_unused(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every shipped role may see something of a resident e-ID, so a licence desk's role is
    made here: it may see business licences only."""
    licence_desk = VerifierRole(
        code="licence-desk", name_zh="执照窗口", name_en="Licence desk",
        may_request={"business-licence": frozenset({"name"})},
    )  # fmt: skip
    code = _code(desk)
    with monkeypatch.context() as patched:
        patched.setattr(verifiers, "role_of", lambda _gw, _row: licence_desk)
        refused = _resolve(desk, code)
    assert refused.status_code == 403, refused.text
    assert "resident-eid" in refused.json()["detail"]["message_en"]
    with desk.fed.gateways[HZ].sessions() as session:
        assert session.scalars(select(ReferenceUseRow)).all() == []
    answer = _resolve(desk, code)  # the hotel desk's own role: the code was not spent
    assert answer.json()["reason"] == "VALID", answer.text


def test_a_code_after_300_seconds_is_expired(desk: Desk) -> None:
    code = _code(desk)
    desk.fed.clock.now += 300
    answer = _resolve(desk, code)
    assert answer.status_code == 200
    assert answer.json()["reason"] == "REFERENCE_EXPIRED"
    assert answer.json()["fields"] == []


def test_an_unknown_code_and_a_malformed_one_are_unknown(desk: Desk) -> None:
    for typed in ("AAAAAAAAAAAAAAAA", "not a code", "1" * 16):
        assert _resolve(desk, typed).json()["reason"] == "REFERENCE_UNKNOWN"


def test_wrong_codes_are_throttled_per_counter_for_a_minute(desk: Desk) -> None:
    code = _code(desk)
    for _ in range(references.MAX_FAILURES):
        assert _resolve(desk, "AAAAAAAAAAAAAAAA").json()["reason"] == "REFERENCE_UNKNOWN"
    desk.fed.clock.now += 10
    refused = _resolve(desk, code)
    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"] == "50"
    assert refused.json()["detail"]["message"].startswith("错误的亮证码过多")
    hz = desk.fed.gateways[HZ]
    _row, police = verifiers.add_verifier(hz, name="西湖派出所", role="police-counter", actor="t")
    assert _resolve(desk, "AAAAAAAAAAAAAAAA", police).status_code == 200  # another counter
    desk.fed.clock.now += 50
    assert _resolve(desk, code).json()["reason"] == "VALID"  # the code was not spent by a 429


def test_a_revoked_credential_answers_revoked_and_shows_nothing(desk: Desk) -> None:
    code = _code(desk)
    revoked = desk.client.post(
        f"/api/v1/credentials/{desk.credential_id}/revoke",
        json={"reason": "测试"},
        headers=auth(desk.agency.api_key),
    )
    assert revoked.status_code == 200, revoked.text
    answer = _resolve(desk, code)
    assert answer.json()["reason"] == "REVOKED"
    assert answer.json()["fields"] == []


def test_a_code_for_a_credential_not_delivered_to_that_key_is_refused(desk: Desk) -> None:
    refused = _ask(desk, SigningKey.generate())
    assert refused.status_code == 401, refused.text
    assert refused.json()["detail"]["message"].startswith("此证照未发放给该钱包密钥")


def test_a_replayed_holder_proof_is_refused(desk: Desk) -> None:
    ref = StatusReference.from_claims(desk.sd_jwt.unverified_payload())
    assert ref is not None
    proof = make_holder_proof(
        desk.holder, audience=str(desk.client.base_url).rstrip("/"), credential=ref,
        now=desk.fed.clock(),
    )  # fmt: skip
    assert desk.client.post("/api/v1/references", json={"proof": proof}).status_code == 201
    again = desk.client.post("/api/v1/references", json={"proof": proof})
    assert again.status_code == 401
    assert "重放" in again.json()["detail"]["message"]


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_a_missing_or_long_reason_is_refused(desk: Desk, reason: str) -> None:
    code = _code(desk)
    refused = _resolve(desk, code, reason=reason)
    assert refused.status_code == 422, refused.text
    assert _resolve(desk, code).json()["reason"] == "VALID"  # still unused


def test_two_resolutions_racing_past_the_read_resolve_one(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both pass the unused check before either stores: the conditional UPDATE lets one
    through and answers the other REFERENCE_USED."""
    code = _code(desk)
    hz = desk.fed.gateways[HZ]
    with hz.sessions() as session:
        counter = verifiers.authenticate(session, desk.counter_key)
    outcomes: list[str] = []

    def resolve() -> None:
        outcomes.append(references.resolve(hz, counter, code, REASON)["reason"])

    race_past(monkeypatch, references, "verify_scanned", resolve)
    assert sorted(outcomes) == ["REFERENCE_USED", "VALID"]
    with hz.sessions() as session:
        assert len(session.scalars(select(ReferenceUseRow)).all()) == 1
        # The loser named a real code: that is no wrong code, and not counted for throttling.
        assert session.scalars(select(ReferenceFailureRow)).all() == []


def test_a_role_granted_by_a_trust_mark_widens_what_a_resolution_shows(desk: Desk) -> None:
    """The effective role is the registered one plus those of valid, active trust marks:
    a hotel desk granted the police role sees the full number, until the mark is revoked."""
    hz, yrd = desk.fed.gateways[HZ], desk.fed.gateways[YRD]
    counter_id = desk.counter_key.split("_")[1]
    mark = trustmarks.grant(
        yrd, subject=f"{HZ}/verifiers/{counter_id}", role="police-counter", days=30, actor="t"
    )
    with closing(desk.fed.fetcher()) as http:
        trustmarks.attach(hz, http, verifier_id=counter_id, token=mark.token, actor="t")
    answer = _resolve(desk, _code(desk))
    assert answer.json()["reason"] == "VALID", answer.text
    assert _fields(answer)["id_number"] == FULL
    trustmarks.revoke(yrd, mark_id=mark.id, actor="t")
    answer = _resolve(desk, _code(desk))
    assert answer.json()["reason"] == "VALID", answer.text
    assert "id_number" not in _fields(answer)
    assert _fields(answer)["id_number_masked"] == f"{FULL[:6]}********{FULL[-4:]}"


def test_the_holder_reads_its_use_records_newest_first_signed_by_the_gateway(desk: Desk) -> None:
    hz = desk.fed.gateways[HZ]
    row, police = verifiers.add_verifier(hz, name="西湖派出所", role="police-counter", actor="t")
    assert _resolve(desk, _code(desk)).json()["reason"] == "VALID"
    desk.fed.clock.now += 60
    assert _resolve(desk, _code(desk), police, reason="户籍核查").json()["reason"] == "VALID"
    answer = _ask(desk, path="/api/v1/references/uses")
    assert answer.status_code == 200, answer.text
    with hz.sessions() as session:
        _, keys = federation.signing_key(hz, session, federation.SELF)
        entity = federation.config(session).entity_id
    signed = verify_compact(answer.json()["records"], KeyIndex(keys), typ=references.USES_TYP)
    assert signed.payload["iss"] == entity
    assert signed.payload["sub"] == desk.holder.kid
    assert signed.payload["credential_id"] == desk.credential_id
    uses = signed.payload["uses"]
    assert [(u["counter"], u["reason"], u["city"]) for u in uses] == [
        ("西湖派出所", "户籍核查", "杭州市"), ("西湖宾馆前台", REASON, "杭州市"),
    ]  # fmt: skip
    assert uses[0]["at"] > uses[1]["at"]
    assert uses[0]["counter_entity"].endswith(f"/verifiers/{row.id}")
    assert sorted(uses[1]["fields"]) == ["id_number_masked", "name", "sex"]
    assert {u["reason_code"] for u in uses} == {"VALID"}
    refused = _ask(desk, SigningKey.generate(), path="/api/v1/references/uses")
    assert refused.status_code == 401, refused.text
    assert refused.json()["detail"]["message"].startswith("此证照未发放给该钱包密钥")


def test_the_holder_endpoints_answer_any_origin_and_resolving_stays_same_origin(
    desk: Desk,
) -> None:
    """A web wallet served by another gateway asks for codes and reads the records: answers,
    errors and the preflight of its JSON POST carry CORS; a counter's resolve does not."""
    origin = WALLET_ORIGIN
    for path in ("/api/v1/references", "/api/v1/references/uses"):
        assert_json_post_preflighted(desk.client, path)
        answered = _ask(desk, path=path)
        assert answered.status_code in (200, 201), (path, answered.text)
        assert answered.headers["access-control-allow-origin"] == "*", path
        assert answered.headers["cache-control"] == "no-store", path
        assert "access-control-allow-credentials" not in answered.headers
        refused = _ask(desk, SigningKey.generate(), path=path)
        assert refused.status_code == 401, refused.text
        assert refused.headers["access-control-allow-origin"] == "*", path
        malformed = desk.client.post(path, json={"proof": 7}, headers=origin)
        assert malformed.status_code in (401, 422), malformed.text
        assert malformed.headers["access-control-allow-origin"] == "*", path
        assert malformed.json()["detail"]["message"]  # readable cross-origin, in Chinese
    resolved = _resolve(desk, _code(desk))
    assert resolved.status_code == 200, resolved.text
    assert "access-control-allow-origin" not in resolved.headers
    preflight = desk.client.options(
        "/api/v1/references/resolve",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


QR_READER = "/wallet/api/qr/image"  # what /counter posts an uploaded photo to


def _png_of(made: dict[str, Any]) -> bytes:
    return base64.b64decode(made["qr_png"].split(",", 1)[1])


def test_the_counter_pages_qr_reader_reads_a_codes_qr_without_using_it(desk: Desk) -> None:
    """``/counter`` reads an uploaded photo with the gateway's QR reader: no key, nothing kept,
    the code not used up; the page's policy lets it reach the reader and the camera."""
    made = _ask(desk).json()
    read = desk.client.post(QR_READER, files={"file": ("code.png", _png_of(made), "image/png")})
    assert read.status_code == 200, read.text
    assert read.json() == {"text": made["qr_text"], "codes_found": 1}
    assert _resolve(desk, read.json()["text"]).json()["reason"] == "VALID"
    page = desk.client.get("/counter")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "connect-src" not in page.headers["content-security-policy"]  # 'self' it is
    assert page.headers["permissions-policy"] == "camera=(self)"
    assert 'id="upload-button"' in page.text
    assert 'id="camera-button"' in page.text
    assert f'"{QR_READER}"' in desk.client.get("/static/counter.js").text


def _blank_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), "white").save(out, format="PNG")
    return out.getvalue()


def test_what_the_counter_pages_qr_reader_cannot_read_is_told_in_both_languages(
    desk: Desk,
) -> None:
    over = 10 * 1024 * 1024 + 1
    cases = {  # what was sent: (status, a phrase of message_en)
        "not an image": (b"%PDF-1.7 not an image", 400, "found data Pillow cannot identify"),
        "empty": (b"", 400, "found an empty upload"),
        "no QR": (_blank_png(), 422, "no QR code found in the image"),
        "over 10 MB": (b"\x89PNG" + b"\0" * over, 413, "request body over"),
    }
    for name, (data, status, phrase) in cases.items():
        got = desk.client.post(QR_READER, files={"file": ("photo.png", data, "image/png")})
        assert got.status_code == status, (name, got.text)
        detail = got.json()["detail"]
        assert phrase in detail["message_en"], (name, detail)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in detail["message"]), (name, detail)
