"""SD-JWT VC round trips: issue, receive, select, present, verify; the issuer's rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.trust.sdjwt_helpers import (
    AUDIENCE,
    CLAIMS,
    EXPECTED,
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
from trust.encoding import b64url_decode
from trust.jws import _unverified_header
from trust.keys import SigningKey
from trust.sdjwt.core import split
from trust.sdjwt.disclosure import SALT_BYTES, Disclosure
from trust.sdjwt.errors import (
    ClaimNotAvailable,
    ClaimNotDisclosable,
    ForbiddenClaimName,
    HolderKeyMismatch,
    InvalidVcClaims,
    SdJwtTooLarge,
)
from trust.sdjwt.holder import present, receive, select
from trust.sdjwt.issue import MAX_DECOYS, issue_credential
from trust.sdjwt.vc import verify_credential


def _present(requested: list[Any], **issue_args: Any) -> str:
    sd_jwt, _ = receive(issue(**issue_args).serialize(), issuer_keys=ISSUER_KEYS, now=NOW)
    chosen = select(sd_jwt, requested)
    return present(sd_jwt, chosen, holder=HOLDER_KEY, audience=AUDIENCE, nonce=NONCE, now=NOW)


@pytest.mark.parametrize("signer", [ISSUER_KEY, ISSUER_ED_KEY], ids=["ES256", "EdDSA"])
def test_round_trip_discloses_only_what_was_asked(signer: SigningKey) -> None:
    presentation = _present(["name", "id_number_masked"], signer=signer)
    result = verify_credential(presentation, issuer_keys=ISSUER_KEYS, now=NOW, key_binding=EXPECTED)
    assert result.issuer == ISSUER
    assert result.vct == VCT
    assert result.status == STATUS
    assert result.holder_key == HOLDER_KEY.public
    assert result.key_bound is True
    assert result.issuer_key == signer.public
    assert result.issued_at == NOW
    assert result.expires == NOW + 86_400
    assert result.disclosed == {"name", "id_number_masked"}
    # the plain claims are there, the other personal ones are not
    assert result.claims == {
        "name": "张三",
        "id_number_masked": "110105********002X",
        "nationalities": ["CN", "HK"],
        "issuing_authority": "杭州市公安局",
    }


def test_issued_header_and_payload_follow_sd_jwt_vc() -> None:
    sd_jwt = issue(decoys=3)
    header = _unverified_header(sd_jwt.issuer_jwt.split(".")[0])
    assert dict(header) == {"typ": "dc+sd-jwt", "kid": ISSUER_KEY.kid, "alg": "ES256"}
    payload = sd_jwt.unverified_payload()
    assert payload["iss"] == ISSUER
    assert payload["vct"] == VCT
    assert payload["iat"] == NOW
    assert payload["exp"] == NOW + 86_400
    assert "nbf" not in payload
    assert payload["_sd_alg"] == "sha-256"
    assert payload["status"] == {"status_list": {"idx": 4711, "uri": STATUS.uri}}
    assert payload["cnf"] == {
        "jwk": {k: HOLDER_KEY.public.jwk[k] for k in ("kty", "crv", "x", "y")}
    }
    for name in ("name", "id_number", "id_number_masked", "birth_date", "address"):
        assert name not in payload
    assert len(payload["_sd"]) == 5 + 3  # five Disclosures and three decoys
    assert payload["_sd"] == sorted(payload["_sd"])  # order of claims hidden
    assert {d.digest for d in sd_jwt.disclosures} < set(payload["_sd"])


def test_salts_are_128_bit_base64url_without_padding_and_unique() -> None:
    disclosures = issue().disclosures
    salts = [d.salt for d in disclosures]
    assert len(set(salts)) == len(salts)
    for d in disclosures:
        assert len(b64url_decode(d.salt)) == SALT_BYTES == 16
        assert "=" not in d.encoded
        assert "=" not in d.salt
        assert Disclosure.parse(d.encoded) == d


def test_two_issuances_of_the_same_claims_share_no_digest() -> None:
    first = {d.digest for d in issue().disclosures}
    second = {d.digest for d in issue().disclosures}
    assert not first & second


def test_nested_and_recursive_disclosures() -> None:
    # address is disclosable, and so is its street inside it: disclosing the street needs the
    # address Disclosure too; disclosing only the address shows the region but not the street
    disclosable = ("address", ("address", "street"), ("nationalities", 1))
    whole = _present([("address", "street")], disclosable=disclosable)
    result = verify_credential(whole, issuer_keys=ISSUER_KEYS, now=NOW, key_binding=EXPECTED)
    assert result.claims["address"] == CLAIMS["address"]
    assert result.claims["nationalities"] == ["CN"]  # the concealed element is left out

    outer = _present(["address", "nationalities"], disclosable=disclosable)
    result = verify_credential(outer, issuer_keys=ISSUER_KEYS, now=NOW, key_binding=EXPECTED)
    assert result.claims["address"] == {"region": "330106", "street": "西湖区文三路 1 号"}
    assert result.claims["nationalities"] == ["CN", "HK"]


def test_selecting_a_parent_alone_keeps_the_inner_claim_hidden() -> None:
    disclosable = ("address", ("address", "street"))
    sd_jwt, _ = receive(
        issue(disclosable=disclosable).serialize(), issuer_keys=ISSUER_KEYS, now=NOW
    )
    chosen = select(sd_jwt, [("address", "region")])  # region is plain inside address
    presentation = present(
        sd_jwt, chosen, holder=HOLDER_KEY, audience=AUDIENCE, nonce=NONCE, now=NOW
    )
    result = verify_credential(presentation, issuer_keys=ISSUER_KEYS, now=NOW, key_binding=EXPECTED)
    assert result.claims["address"] == {"region": "330106"}


def test_presentation_without_disclosures_shows_plain_claims() -> None:
    presentation = _present([])
    assert split(presentation).disclosures == ()
    result = verify_credential(presentation, issuer_keys=ISSUER_KEYS, now=NOW, key_binding=EXPECTED)
    assert set(result.claims) == {"nationalities", "issuing_authority"}


def test_receive_checks_and_keeps_every_disclosure() -> None:
    issued = issue()
    sd_jwt, verified = receive(issued.serialize(), issuer_keys=ISSUER_KEYS, now=NOW)
    assert sd_jwt == issued
    assert verified.key_bound is False
    assert verified.claims == CLAIMS


def test_holder_refuses_a_claim_the_credential_lacks() -> None:
    sd_jwt = issue()
    with pytest.raises(ClaimNotAvailable, match="photo"):
        select(sd_jwt, ["photo"])


def test_holder_refuses_to_present_with_another_key() -> None:
    sd_jwt = issue()
    with pytest.raises(HolderKeyMismatch, match="cnf key"):
        present(sd_jwt, [], holder=SigningKey.generate(), audience=AUDIENCE, nonce=NONCE, now=NOW)


def test_holder_refuses_a_foreign_disclosure() -> None:
    sd_jwt = issue()
    with pytest.raises(ClaimNotAvailable, match="foreign"):
        present(
            sd_jwt,
            [Disclosure.make("name", "李四")],
            holder=HOLDER_KEY,
            audience=AUDIENCE,
            nonce=NONCE,
            now=NOW,
        )


@pytest.mark.parametrize("name", ["iss", "iat", "exp", "nbf", "cnf", "vct", "status", "_sd_alg"])
def test_issuer_refuses_to_make_a_registered_claim_disclosable(name: str) -> None:
    with pytest.raises(ClaimNotDisclosable, match=name):
        issue(disclosable=("name", name))


@pytest.mark.parametrize("name", ["iss", "vct", "status", "cnf"])
def test_issuer_refuses_registered_claims_among_the_claims(name: str) -> None:
    with pytest.raises(InvalidVcClaims, match=name):
        issue({**CLAIMS, name: "x"})


@pytest.mark.parametrize("name", ["_sd", "..."])
def test_issuer_refuses_claims_named_like_sd_jwt_structure(name: str) -> None:
    with pytest.raises(ForbiddenClaimName, match="may not be named"):
        issue({"address": {name: "x"}}, disclosable=())


def test_issuer_refuses_a_disclosable_path_naming_no_claim() -> None:
    with pytest.raises(ClaimNotDisclosable, match="photo"):
        issue(disclosable=("name", "photo"))


def test_issuer_bounds_decoys() -> None:
    issue(decoys=MAX_DECOYS)
    with pytest.raises(SdJwtTooLarge, match="decoys"):
        issue(decoys=MAX_DECOYS + 1)


def test_issuer_refuses_a_vct_that_is_not_a_url() -> None:
    with pytest.raises(InvalidVcClaims, match="vct"):
        issue_credential(
            CLAIMS,
            disclosable=(),
            signer=ISSUER_KEY,
            issuer=ISSUER,
            vct="resident-eid",
            holder_key=HOLDER_KEY.public,
            status=None,
            now=NOW,
            expires=None,
        )


def test_credential_without_expiry_or_status_verifies() -> None:
    sd_jwt = issue_credential(
        CLAIMS,
        disclosable=("name",),
        signer=ISSUER_KEY,
        issuer=ISSUER,
        vct=VCT,
        holder_key=HOLDER_KEY.public,
        status=None,
        now=NOW,
        expires=None,
    )
    result = verify_credential(
        sd_jwt.serialize(), issuer_keys=ISSUER_KEYS, now=NOW + 10 * 365 * 86_400, key_binding=None
    )
    assert result.expires is None
    assert result.status is None
    assert result.claims["name"] == "张三"
