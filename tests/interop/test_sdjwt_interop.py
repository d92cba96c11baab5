"""SD-JWT VCs, checked by implementations nobody here wrote (issue 9).

- node ``@sd-jwt/sd-jwt-vc`` 0.19.0 verifies our issued credentials (ES256 and EdDSA issuers),
  looks their status up in our status list token, and verifies our presentations with their
  KB-JWT; it refuses a presentation whose Disclosure we tampered with.
- Presentations that ``@sd-jwt/sd-jwt-vc`` builds from our credentials are accepted by our
  verifier, with exactly the claims it chose to disclose.
- PyPI ``sd-jwt`` 0.10.4 (the IETF reference implementation) does the same both ways.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier

from tests.interop.conftest import NodeRunner, private_jwk, public_jwk
from tests.trust.sdjwt_helpers import (
    AUDIENCE,
    CLAIMS,
    HOLDER_KEY,
    ISSUER,
    ISSUER_ED_KEY,
    ISSUER_KEY,
    ISSUER_KEYS,
    NONCE,
    NOW,
    STATUS,
    VCT,
    issue,
)
from trust.keys import SigningKey
from trust.sdjwt.core import KeyBindingCheck, split
from trust.sdjwt.errors import KeyBindingSdHash
from trust.sdjwt.holder import present, select
from trust.sdjwt.issue import SdJwt
from trust.sdjwt.vc import verify_credential
from trust.statuslist import StatusList, sign_status_list_token

EXPECTED = KeyBindingCheck(audience=AUDIENCE, nonce=NONCE)
ISSUERS = [ISSUER_KEY, ISSUER_ED_KEY]


def _status_list_token() -> str:
    status_list = StatusList(bits=2, size=8192)
    status_list.set(STATUS.idx, 0)
    return sign_status_list_token(
        uri=STATUS.uri, status_list=status_list, key=ISSUER_KEY, iat=NOW, exp=NOW + 86_400, ttl=300
    )


def _node_verify(node: NodeRunner, items: list[dict[str, Any]], now: int = NOW) -> list[Any]:
    answer: list[Any] = node(
        "sdjwt_vc_verify",
        {
            "issuer_jwks": [public_jwk(k) for k in ISSUERS],
            "status_list_token": _status_list_token(),
            "status_jwks": [public_jwk(ISSUER_KEY)],
            "now": now,
            "items": items,
        },
    )
    return answer


def _presentation(sd_jwt: SdJwt, names: list[str]) -> str:
    chosen = select(sd_jwt, names)
    return present(sd_jwt, chosen, holder=HOLDER_KEY, audience=AUDIENCE, nonce=NONCE, now=NOW)


@pytest.mark.parametrize("signer", ISSUERS, ids=["ES256", "EdDSA"])
def test_node_sd_jwt_vc_verifies_our_credential_and_its_status(
    node: NodeRunner, signer: SigningKey
) -> None:
    [answer] = _node_verify(node, [{"token": issue(signer=signer).serialize(), "nonce": None}])
    assert answer["ok"], answer
    assert answer["header"]["typ"] == "dc+sd-jwt"
    payload = answer["payload"]
    assert payload["iss"] == ISSUER
    assert payload["vct"] == VCT
    assert payload["cnf"]["jwk"] == public_jwk(HOLDER_KEY)
    for name, value in CLAIMS.items():
        assert payload[name] == value


@pytest.mark.parametrize("signer", ISSUERS, ids=["ES256", "EdDSA"])
def test_node_sd_jwt_vc_verifies_our_presentation_with_kb_jwt(
    node: NodeRunner, signer: SigningKey
) -> None:
    presentation = _presentation(issue(signer=signer), ["name", "id_number_masked"])
    [answer] = _node_verify(node, [{"token": presentation, "nonce": NONCE}])
    assert answer["ok"], answer
    assert answer["payload"]["name"] == "张三"
    assert answer["payload"]["id_number_masked"] == CLAIMS["id_number_masked"]
    assert "id_number" not in answer["payload"]
    assert "birth_date" not in answer["payload"]
    assert answer["kb"]["aud"] == AUDIENCE
    assert answer["kb"]["nonce"] == NONCE
    assert answer["kb"]["iat"] == NOW


def test_node_sd_jwt_vc_refuses_what_we_refuse(node: NodeRunner) -> None:
    """The same attacks, judged by node: another nonce, a Disclosure added after signing."""
    sd_jwt = issue()
    presentation = _presentation(sd_jwt, ["name"])
    kb_jwt = str(split(presentation).kb_jwt)
    more = sd_jwt.serialize(select(sd_jwt, ["name", "id_number"])) + kb_jwt
    with pytest.raises(KeyBindingSdHash):
        verify_credential(more, issuer_keys=ISSUER_KEYS, now=NOW, key_binding=EXPECTED)
    wrong_nonce, added = _node_verify(
        node, [{"token": presentation, "nonce": "another"}, {"token": more, "nonce": NONCE}]
    )
    assert not wrong_nonce["ok"]
    assert not added["ok"]


def test_presentation_built_by_node_is_accepted_by_our_verifier(node: NodeRunner) -> None:
    items = [
        {"credential": issue(signer=s).serialize(), "aud": AUDIENCE, "nonce": NONCE, "iat": NOW}
        for s in ISSUERS
    ]
    for item in items:
        item["frame"] = {"name": True, "birth_date": True}
    presentations = node(
        "sdjwt_vc_present", {"holder_jwk": private_jwk(HOLDER_KEY), "items": items}
    )
    assert len(presentations) == 2
    for presentation, signer in zip(presentations, ISSUERS, strict=True):
        result = verify_credential(
            presentation, issuer_keys=ISSUER_KEYS, now=NOW, key_binding=EXPECTED
        )
        assert result.key_bound
        assert result.issuer_key == signer.public
        assert result.disclosed == {"name", "birth_date"}
        assert result.claims["name"] == "张三"
        assert result.claims["birth_date"] == "1949-12-31"
        assert "id_number" not in result.claims


# --- PyPI sd-jwt 0.10.4, the IETF reference implementation -----------------------------


def _jwcrypto_key(key: SigningKey) -> JWK:
    return JWK(**key.public.jwk)


def test_reference_implementation_verifies_our_presentation() -> None:
    now = int(time.time())  # it checks no dates; ours does, against the clock
    sd_jwt = issue(now=now, expires=now + 3600)
    presentation = present(
        sd_jwt,
        select(sd_jwt, ["name", "address"]),
        holder=HOLDER_KEY,
        audience=AUDIENCE,
        nonce=NONCE,
        now=now,
    )
    verifier = SDJWTVerifier(
        presentation,
        lambda _iss, _header: _jwcrypto_key(ISSUER_KEY),
        expected_aud=AUDIENCE,
        expected_nonce=NONCE,
    )
    payload = verifier.get_verified_payload()
    assert payload["name"] == "张三"
    assert payload["address"] == CLAIMS["address"]
    assert "id_number" not in payload
    assert payload["vct"] == VCT


def test_reference_implementation_presentation_is_accepted_by_our_verifier() -> None:
    now = int(time.time())  # its KB-JWT iat is the clock's
    sd_jwt = issue(now=now, expires=now + 3600)
    holder = SDJWTHolder(sd_jwt.serialize())
    holder.create_presentation(
        {"name": True, "id_number_masked": True},
        nonce=NONCE,
        aud=AUDIENCE,
        holder_key=JWK(**private_jwk(HOLDER_KEY)),
        sign_alg="ES256",
    )
    result = verify_credential(
        holder.sd_jwt_presentation, issuer_keys=ISSUER_KEYS, now=now, key_binding=EXPECTED
    )
    assert result.key_bound
    assert result.disclosed == {"name", "id_number_masked"}
