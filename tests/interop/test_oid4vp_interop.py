"""Presentations to our counter (OpenID4VP 1.0), made by code nobody here wrote (issue 9).

Two gateways on real loopback sockets: 长三角's trust anchor and 杭州 (joined, approved for
resident e-IDs; its data on PostgreSQL too when the suite has one), 杭州市公安局 issuing a
resident e-ID through our OpenID4VCI flow to a holder key the node side holds, and a hotel
desk (西湖宾馆前台) asking for name and sex.

- A wallet written with npm ``@openid4vc/openid4vp`` 0.4.6 (``tests/interop/node/
  oid4vp_wallet.mjs``) takes the counter's ``openid4vp://`` link: the library parses it,
  fetches the request object by ``request_uri``, has it verified, validates the request and
  its ``openid_federation:`` client identifier, and submits the ``direct_post`` response. The
  library does no DCQL: npm ``dcql`` 3.0.0 parses our query and matches it against the
  credential, and ``@sd-jwt/core`` 0.19.0 presents the matched claims with a KB-JWT by the
  holder key. For an ``openid_federation:`` client the library leaves the trust decision to
  the wallet (its ``verifyJwt`` callback receives the signer as ``{method: "federation",
  kid}``); the script resolves the counter's trust chain itself with fetch + ``jose`` up to the
  anchor key the test pins by its RFC 7638 thumbprint, and verifies the request with the
  counter's key from the chain. The counter then reads VALID, holder binding confirmed,
  exactly name and sex.
- A presentation ``@sd-jwt/core`` builds (``present`` with a disclosure frame and a KB-JWT),
  posted to the response endpoint, is accepted.
- Refused, each by a presentation the independent libraries built: one disclosing a field
  the request did not ask for (DISCLOSURE_NOT_REQUESTED, the KB-JWT covering it), one whose
  KB-JWT names another nonce; and the library's wallet refuses a counter that does not chain
  to the anchor it pins.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import verifiers
from gateway.federation import own_signing_key
from tests.cli.wallet_helpers import post_answer, request_claims
from tests.conftest import FakeClock, make_agency
from tests.gateway.federation_helpers import federation_of
from tests.gateway.helpers import auth
from tests.gateway.test_presentation_answers import _receive
from tests.interop.conftest import NodeRunner, private_jwk
from tests.interop.serving import serve_app, two_ports
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.keys import SigningKey
from trust.sdjwt.issue import SdJwt

ASK = {"type": "resident-eid", "fields": ["name", "sex"], "reason": "旅馆住宿登记"}


@dataclass
class Desk:
    anchor: str  # the anchor's entity id (its URL)
    anchor_kid: str
    city: str
    counter_key: str
    credential: SdJwt
    holder: SigningKey

    def ask(self, body: dict[str, Any] = ASK) -> dict[str, Any]:
        made = httpx.post(
            f"{self.city}/api/v1/presentation-requests",
            json=body,
            headers=auth(self.counter_key),
            timeout=30,
        )
        assert made.status_code == 201, made.text
        return dict(made.json())

    def result(self, request_id: str) -> dict[str, Any]:
        shown = httpx.get(
            f"{self.city}/api/v1/presentation-requests/{request_id}",
            headers=auth(self.counter_key),
            timeout=30,
        )
        assert shown.status_code == 200, shown.text
        return dict(shown.json())


@pytest.fixture
def desk(tmp_path: Path, clock: FakeClock, db_url: str) -> Iterator[Desk]:
    """杭州 (on SQLite, and on PostgreSQL when the suite has one) and 长三角 on loopback."""
    clock.now = int(time.time())  # the libraries check exp, iat and KB-JWTs by the real clock
    yrd_port, hz_port = two_ports()
    yrd, hz = f"http://127.0.0.1:{yrd_port}", f"http://127.0.0.1:{hz_port}"
    with federation_of(tmp_path, clock) as fed, ExitStack() as sockets:
        anchor = fed.anchor(
            yrd, region_id="yrd", region_name="长三角", code="310000", name="上海市"
        )
        city = fed.city(
            hz, anchor=yrd, code="330100", name="杭州市", types=["resident-eid"],
            database_url=db_url,
        )  # fmt: skip
        psb = make_agency(
            city, name="杭州市公安局", uscc="11330100002490365L", types=["resident-eid"]
        )
        _row, counter_key = verifiers.add_verifier(
            city, name="西湖宾馆前台", role="hotel-desk", actor="test"
        )
        holder = SigningKey.generate()
        _id, credential = _receive(fed.client(hz), clock, psb, holder)
        for url, port in ((yrd, yrd_port), (hz, hz_port)):
            sockets.enter_context(serve_app(fed.client(url).app, port=port, lifespan="off"))
        yield Desk(yrd, own_signing_key(anchor).kid, hz, counter_key, credential, holder)


def _wallet(node: NodeRunner, desk: Desk, link: str, **misbehave: Any) -> dict[str, Any]:
    answer: dict[str, Any] = node(
        "oid4vp_wallet",
        {
            "link": link,
            "anchor": {"entity_id": desk.anchor, "kid": desk.anchor_kid},
            "holder_jwk": private_jwk(desk.holder),
            "credential": desk.credential.serialize(),
            **misbehave,
        },
    )
    return answer


def test_an_openid4vp_wallet_presents_to_our_counter(node: NodeRunner, desk: Desk) -> None:
    asked = desk.ask()
    answer = _wallet(node, desk, asked["uri"])
    assert answer["status"] == 200, answer
    assert answer["body"] == {}
    assert answer["client"]["prefix"] == "openid_federation"
    assert answer["client"]["effective"] == asked["client_id"]
    assert answer["version"] == 100  # the library read our request as OpenID4VP 1.0
    leaf = asked["client_id"].removeprefix("openid_federation:")
    assert answer["chain"] == [leaf, desk.city, desk.anchor]
    (query,) = answer["query"]["credentials"]  # as dcql parsed it, its defaults applied
    assert query["format"] == "dc+sd-jwt"
    assert query["require_cryptographic_holder_binding"] is True
    assert answer["frame"] == {"name": True, "sex": True}  # what dcql matched
    shown = desk.result(asked["id"])
    assert shown["state"] == "answered"
    result = shown["result"]
    assert result["reason"] == "VALID", result
    assert result["holder_binding"] is True
    subject = SAMPLE_SUBJECTS["resident-eid"]
    assert {f["name"]: f["value"] for f in result["fields"]} == {
        "name": subject["name"],
        "sex": subject["sex"],
    }


def test_the_wallet_presents_the_masked_id_number_a_hotel_desk_may_see(
    node: NodeRunner, desk: Desk
) -> None:
    """The issuer's derived Disclosure is a claim like any other to dcql and the library."""
    asked = desk.ask({**ASK, "fields": ["name", "id_number_masked"]})
    answer = _wallet(node, desk, asked["uri"])
    assert answer["status"] == 200, answer
    assert answer["frame"] == {"name": True, "id_number_masked": True}
    result = desk.result(asked["id"])["result"]
    assert result["reason"] == "VALID", result
    number = SAMPLE_SUBJECTS["resident-eid"]["id_number"]
    assert [(f["name"], f["value"]) for f in result["fields"]] == [
        ("name", SAMPLE_SUBJECTS["resident-eid"]["name"]),
        ("id_number_masked", f"{number[:6]}********{number[-4:]}"),
    ]
    assert number not in json.dumps(answer)


def test_a_presentation_built_by_sd_jwt_core_is_accepted_at_our_response_endpoint(
    node: NodeRunner, desk: Desk
) -> None:
    asked = desk.ask()
    claims = request_claims(asked["request_uri"])
    [presentation] = node(
        "sdjwt_vc_present",
        {
            "library": "core",
            "holder_jwk": private_jwk(desk.holder),
            "items": [
                {
                    "credential": desk.credential.serialize(),
                    "frame": {"name": True, "sex": True},
                    "aud": claims["client_id"],
                    "nonce": claims["nonce"],
                    "iat": int(time.time()),
                }
            ],
        },
    )
    answered = post_answer(claims["response_uri"], presentation, claims["state"])
    assert answered.status_code == 200, answered.text
    result = desk.result(asked["id"])["result"]
    assert result["reason"] == "VALID", result
    assert result["holder_binding"] is True
    assert [f["name"] for f in result["fields"]] == ["name", "sex"]


def test_a_presentation_disclosing_more_than_asked_is_refused(node: NodeRunner, desk: Desk) -> None:
    """The library's wallet discloses birth_date too; its KB-JWT covers it (sd_hash), so only
    our rule refuses it: exactly the requested Disclosures."""
    asked = desk.ask()
    answer = _wallet(node, desk, asked["uri"], also_disclose=["birth_date"])
    assert answer["frame"] == {"name": True, "sex": True, "birth_date": True}
    assert answer["status"] == 400, answer
    assert answer["body"]["error"] == "access_denied"
    assert "DISCLOSURE_NOT_REQUESTED" in answer["body"]["message_en"]
    assert "birth_date" in answer["body"]["message_en"]
    assert answer["body"]["message"]
    result = desk.result(asked["id"])["result"]
    assert result["reason"] == "DISCLOSURE_NOT_REQUESTED"
    assert result["fields"] == []


def test_a_kb_jwt_with_another_nonce_is_refused(node: NodeRunner, desk: Desk) -> None:
    asked, other = desk.ask(), desk.ask()
    other_nonce = request_claims(other["request_uri"])["nonce"]
    answer = _wallet(node, desk, asked["uri"], kb_nonce=other_nonce)
    assert answer["status"] == 400, answer
    assert answer["body"]["error"] == "invalid_request"
    assert "nonce" in answer["body"]["message_en"]
    assert answer["body"]["message"]
    assert desk.result(asked["id"])["state"] == "pending"  # still open for its own wallet


def test_the_library_wallet_refuses_a_counter_outside_the_anchor_it_pins(
    node: NodeRunner, desk: Desk
) -> None:
    asked = desk.ask()
    strange = dataclasses.replace(desk, anchor_kid=SigningKey.generate().kid)
    answer = _wallet(node, strange, asked["uri"])
    assert "refused" in answer, answer
    assert "does not hold the pinned key" in answer["refused"]
    assert desk.result(asked["id"])["state"] == "pending"
