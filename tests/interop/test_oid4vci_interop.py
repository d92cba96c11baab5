"""npm @openid4vc/openid4vci 0.4.6 (OpenID4VCI 1.0), a wallet nobody here wrote, receives a
resident e-ID from our offer: offer by reference, Credential Issuer and authorization server
metadata, token for pre-authorised code + tx_code, nonce, credential for its key proof. Our
holder-side check then accepts the SD-JWT VC as bound to the key the library proved."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.core import Gateway
from gateway.publicurl import set_public_url
from tests.cli.helpers import free_port
from tests.conftest import Agency, FakeClock
from tests.gateway.helpers import auth
from tests.interop.conftest import NodeRunner
from tests.interop.serving import serve_app
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.jws import KeyIndex
from trust.keys import PublicKey
from trust.sdjwt.holder import receive


@pytest.fixture
def served(gw: Gateway) -> Iterator[str]:
    """The gateway on loopback, its public URL (the Credential Issuer) set to where it
    listens: a wallet fetches everything from the issuer identifier."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    set_public_url(gw, url, actor="test")
    gw.reload()
    with serve_app(create_app(gw), port=port) as served:
        yield served


def test_openid4vc_openid4vci_receives_a_credential_from_our_offer(
    node: NodeRunner, served: str, psb: Agency, gw: Gateway, clock: FakeClock
) -> None:
    clock.now = int(time.time())  # the library's key proof says the real time in iat
    with httpx.Client(base_url=served, timeout=30) as client:
        issued = client.post(
            "/api/v1/credentials",
            json={
                "type": "resident-eid",
                "subject": SAMPLE_SUBJECTS["resident-eid"],
                "wallet_offer": True,
            },
            headers=auth(psb.api_key),
        )
        assert issued.status_code == 201, issued.text
        offer = issued.json()["wallet_offer"]
        answer: dict[str, Any] = node(
            "oid4vci_receive", {"offer": offer["offer_uri"], "tx_code": offer["tx_code"]}
        )
        meta = client.get(f"/.well-known/jwt-vc-issuer/agencies/{psb.id}").json()
    assert answer["version"] == "V1"  # the library read our metadata as OpenID4VCI 1.0
    assert answer["credential_issuer"] == served
    serialized = answer["credential_response"]["credentials"][0]["credential"]
    keys = KeyIndex([PublicKey.from_jwk(k) for k in meta["jwks"]["keys"]])
    _, verified = receive(serialized, issuer_keys=keys, now=gw.clock())
    assert verified.holder_key is not None
    assert verified.holder_key.kid == PublicKey.from_jwk(answer["holder_jwk"]).kid
    subject = SAMPLE_SUBJECTS["resident-eid"]
    masked = subject["id_number"][:6] + "*" * 8 + subject["id_number"][-4:]
    assert verified.claims == {**subject, "id_number_masked": masked}
