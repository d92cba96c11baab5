"""Our trust marks and trust mark status responses, checked by node ``jose`` (panva/jose 6.x)
with nothing but the anchor's published JWK Set (``createLocalJWKSet`` + ``compactVerify``): the
explicit types OpenID Federation 1.0 §7.1 and §8.4.2 name, the signature, and the claims we
read ourselves. A mark signed by another key is refused by jose too."""

from __future__ import annotations

from tests.gateway.trustmark_helpers import POLICE, YRD, Desk
from tests.interop.conftest import NodeRunner
from trust.federation import (
    TRUST_MARK_STATUS_TYP,
    TRUST_MARK_TYP,
    sign_trust_mark,
)
from trust.federation.statements import unverified_payload
from trust.keys import SigningKey


def test_jose_verifies_a_trust_mark_and_its_status_with_the_anchors_jwks(
    desk: Desk, node: NodeRunner
) -> None:
    anchor = desk.fed.client(YRD)
    jwks = unverified_payload(anchor.get("/.well-known/openid-federation").text)["jwks"]
    mark = desk.grant().token
    status = anchor.post("/federation/trust_mark_status", data={"trust_mark": mark}).text
    forged = sign_trust_mark(
        iss=YRD, sub=desk.entity_id, trust_mark_type=POLICE, iat=desk.fed.clock.now, exp=None,
        key=SigningKey.generate(),
    )  # fmt: skip
    got_mark, got_status, got_forged = node(
        "jose_verify", {"tokens": [mark, status, forged], "jwks": jwks}
    )
    assert got_mark["ok"], got_mark
    assert got_mark["header"]["typ"] == TRUST_MARK_TYP == "trust-mark+jwt"
    assert got_mark["payload"] == unverified_payload(mark)
    assert got_mark["payload"]["trust_mark_type"] == POLICE
    assert got_mark["payload"]["sub"] == desk.entity_id
    assert got_status["ok"], got_status
    assert got_status["header"]["typ"] == TRUST_MARK_STATUS_TYP
    assert got_status["payload"]["status"] == "active"
    assert got_status["payload"]["trust_mark"] == mark
    assert not got_forged["ok"]
    assert got_forged["code"] == "ERR_JWKS_NO_MATCHING_KEY"
