"""One named test per attack on, or rule of, SD-JWT VC verification (RFC 9901 §7, §9;
SD-JWT VC §3). Each refusal is its own class, and its message says what was expected."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.trust.sdjwt_helpers import (
    AUDIENCE,
    EXPECTED,
    HOLDER_KEY,
    ISSUER_KEYS,
    NONCE,
    NOW,
    OTHER_KEY,
    base_payload,
    forge,
    issue,
)
from trust.encoding import b64url_encode
from trust.errors import DataError
from trust.jws import BadSignature, KeyIndex, UnknownKey, UnsupportedToken, sign_compact
from trust.keys import SigningKey
from trust.sdjwt.core import (
    KB_TYP,
    MAX_DISCLOSURES,
    MAX_KB_JWT_LENGTH,
    MAX_SD_JWT_LENGTH,
    KeyBindingCheck,
    split,
)
from trust.sdjwt.disclosure import (
    MAX_DEPTH,
    MAX_DISCLOSURE_LENGTH,
    MAX_STRING_LENGTH,
    Disclosure,
    digest,
)
from trust.sdjwt.errors import (
    ClaimNameClash,
    ClaimNotDisclosable,
    DigestReferencedTwice,
    DisclosureKindMismatch,
    DuplicateDisclosure,
    Expired,
    ForbiddenClaimName,
    IssuedInFuture,
    KeyBindingAudience,
    KeyBindingBadSignature,
    KeyBindingMalformed,
    KeyBindingMissing,
    KeyBindingNonce,
    KeyBindingSdHash,
    KeyBindingStale,
    MalformedDisclosure,
    MalformedSdJwt,
    NotYetValid,
    SdJwtTooLarge,
    UnexpectedKeyBinding,
    UnreferencedDisclosure,
    UnsupportedSdAlg,
)
from trust.sdjwt.holder import present, select
from trust.sdjwt.vc import verify_credential


def _verify(serialized: str, *, now: int = NOW, kb: KeyBindingCheck | None = EXPECTED) -> Any:
    return verify_credential(serialized, issuer_keys=ISSUER_KEYS, now=now, key_binding=kb)


def _kb(presented: str, *, key: SigningKey = HOLDER_KEY, typ: str = KB_TYP, **claims: Any) -> str:
    """A KB-JWT over ``presented`` with the claims given replacing the right ones."""
    payload = {"iat": NOW, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": digest(presented)}
    payload.update(claims)
    return presented + sign_compact(payload, key, typ=typ)


def _presented(names: list[str]) -> str:
    sd_jwt = issue()
    return sd_jwt.serialize(select(sd_jwt, names))


def _raw_disclosure(array: list[Any]) -> Disclosure:
    """A Disclosure as an attacker writes it, past our own constructor's checks."""
    import orjson

    encoded = b64url_encode(orjson.dumps(array))
    return Disclosure(encoded, array[0], array[1] if len(array) == 3 else None, array[-1])


# --- Disclosures -------------------------------------------------------------------------


def test_tampered_disclosure_is_refused() -> None:
    presented = _presented(["name"])
    jwt, disclosure, _ = presented.split("~")
    forged = Disclosure.make("name", "李四", salt=Disclosure.parse(disclosure).salt)
    with pytest.raises(UnreferencedDisclosure, match="name"):
        _verify(_kb(f"{jwt}~{forged.encoded}~"))


def test_disclosure_not_referenced_is_refused() -> None:
    """A Disclosure from another credential of the same holder does not ride along."""
    other = issue().disclosures[0]
    presented = _presented(["name"]) + other.encoded + "~"
    with pytest.raises(UnreferencedDisclosure, match="not"):
        _verify(_kb(presented))


def test_duplicate_disclosure_is_refused() -> None:
    jwt, disclosure, _ = _presented(["name"]).split("~")
    with pytest.raises(DuplicateDisclosure, match="twice"):
        _verify(_kb(f"{jwt}~{disclosure}~{disclosure}~"))


def test_digest_referenced_twice_is_refused() -> None:
    d = Disclosure.make("name", "张三")
    token = forge(base_payload(_sd=[d.digest, d.digest]), [d])
    with pytest.raises(DigestReferencedTwice, match=d.digest):
        _verify(token, kb=None)


def test_digest_referenced_twice_at_different_depths_is_refused() -> None:
    d = Disclosure.make("street", "文三路")
    token = forge(base_payload(_sd=[d.digest], address={"_sd": [d.digest]}), [d])
    with pytest.raises(DigestReferencedTwice):
        _verify(token, kb=None)


def test_decoy_digest_repeated_is_refused() -> None:
    decoy = digest("decoy")
    with pytest.raises(DigestReferencedTwice):
        _verify(forge(base_payload(_sd=[decoy], list=[{"...": decoy}]), []), kb=None)


def test_disclosed_claim_clashing_with_a_plain_claim_is_refused() -> None:
    d = Disclosure.make("name", "李四")
    token = forge(base_payload(name="张三", _sd=[d.digest]), [d])
    with pytest.raises(ClaimNameClash, match="name"):
        _verify(token, kb=None)


def test_two_disclosures_of_one_claim_name_are_refused() -> None:
    a, b = Disclosure.make("name", "张三"), Disclosure.make("name", "李四")
    token = forge(base_payload(_sd=sorted([a.digest, b.digest])), [a, b])
    with pytest.raises(ClaimNameClash, match="name"):
        _verify(token, kb=None)


@pytest.mark.parametrize("name", ["exp", "iss", "vct", "cnf", "status", "iat", "nbf"])
def test_registered_claim_in_a_disclosure_is_refused(name: str) -> None:
    d = Disclosure.make(name, 1)
    payload = {k: v for k, v in base_payload(_sd=[d.digest]).items() if k != name}
    with pytest.raises(ClaimNotDisclosable, match=name):
        _verify(forge(payload, [d]), kb=None)


@pytest.mark.parametrize("name", ["_sd", "..."])
def test_disclosure_named_like_sd_jwt_structure_is_refused(name: str) -> None:
    d = _raw_disclosure(["c2FsdHNhbHRzYWx0", name, "x"])
    with pytest.raises(ForbiddenClaimName, match=name):
        _verify(forge(base_payload(_sd=[d.digest]), [d]), kb=None)


def test_array_element_disclosure_in_sd_is_refused() -> None:
    d = Disclosure.make(None, "HK")
    with pytest.raises(DisclosureKindMismatch, match="array-element"):
        _verify(forge(base_payload(_sd=[d.digest]), [d]), kb=None)


def test_property_disclosure_in_an_array_is_refused() -> None:
    d = Disclosure.make("nationality", "HK")
    with pytest.raises(DisclosureKindMismatch, match="object-property"):
        _verify(forge(base_payload(nationalities=[{"...": d.digest}]), [d]), kb=None)


def test_array_entry_with_other_keys_is_refused() -> None:
    d = Disclosure.make(None, "HK")
    token = forge(base_payload(nationalities=[{"...": d.digest, "x": 1}]), [d])
    with pytest.raises(MalformedSdJwt, match="no other keys"):
        _verify(token, kb=None)


def test_sd_that_is_not_an_array_is_refused() -> None:
    with pytest.raises(MalformedSdJwt, match="_sd is an array"):
        _verify(forge(base_payload(_sd="abc"), []), kb=None)


@pytest.mark.parametrize(
    "array", [["only-salt"], {"a": 1}, [1, "name", "x"], ["salt", 2, "x"], "text"]
)
def test_malformed_disclosure_is_refused(array: Any) -> None:
    import orjson

    encoded = b64url_encode(orjson.dumps(array))
    token = forge(base_payload(_sd=[digest(encoded)]), []) + encoded + "~"
    with pytest.raises(MalformedDisclosure):
        _verify(token, kb=None)


def test_disclosure_that_is_not_base64url_is_refused() -> None:
    with pytest.raises(MalformedDisclosure, match="base64url"):
        _verify(forge(base_payload(), []) + "not+base64~", kb=None)


# --- The Issuer-signed JWT ---------------------------------------------------------------


@pytest.mark.parametrize("alg", ["sha-512", "SHA-256", "md5"])
def test_wrong_sd_alg_is_refused(alg: str) -> None:
    with pytest.raises(UnsupportedSdAlg, match=alg):
        _verify(forge(base_payload(_sd_alg=alg), []), kb=None)


@pytest.mark.parametrize("typ", ["vc+sd-jwt", "example+sd-jwt", "JWT", "ecert+jwt"])
def test_wrong_typ_is_refused(typ: str) -> None:
    with pytest.raises(UnsupportedToken, match="dc\\+sd-jwt"):
        _verify(forge(base_payload(), [], typ=typ), kb=None)


def test_unknown_issuer_key_is_refused() -> None:
    with pytest.raises(UnknownKey):
        verify_credential(issue().serialize(), issuer_keys=KeyIndex([]), now=NOW, key_binding=None)


def test_tampered_issuer_payload_is_refused() -> None:
    jwt = issue().issuer_jwt
    h, _, s = jwt.split(".")
    other = sign_compact(base_payload(name="李四"), OTHER_KEY, typ="dc+sd-jwt").split(".")[1]
    with pytest.raises(BadSignature):
        _verify(f"{h}.{other}.{s}~", kb=None)


def test_expired_is_refused() -> None:
    token = issue(expires=NOW + 100).serialize()
    _verify(token, now=NOW + 100 + 29, kb=None)  # within the leeway
    with pytest.raises(Expired, match="exp"):
        _verify(token, now=NOW + 100 + 30, kb=None)


def test_not_yet_valid_is_refused() -> None:
    token = issue(not_before=NOW + 3600).serialize()
    with pytest.raises(NotYetValid, match="nbf"):
        _verify(token, kb=None)
    assert _verify(token, now=NOW + 3600, kb=None).not_before == NOW + 3600


def test_issued_in_the_future_is_refused() -> None:
    token = issue(now=NOW + 600).serialize()
    with pytest.raises(IssuedInFuture, match="iat"):
        _verify(token, kb=None)


# --- Key binding -------------------------------------------------------------------------


def test_kb_jwt_missing_when_required_is_refused() -> None:
    with pytest.raises(KeyBindingMissing, match="no KB-JWT"):
        _verify(_presented(["name"]))


def test_kb_jwt_where_none_was_asked_for_is_refused() -> None:
    with pytest.raises(UnexpectedKeyBinding):
        _verify(_kb(_presented(["name"])), kb=None)


def test_credential_without_cnf_cannot_be_key_bound() -> None:
    payload = {k: v for k, v in base_payload().items() if k != "cnf"}
    with pytest.raises(KeyBindingMissing, match="cnf"):
        _verify(_kb(forge(payload, [])))


def test_kb_jwt_signed_by_another_key_is_refused() -> None:
    with pytest.raises(KeyBindingBadSignature, match="cnf key"):
        _verify(_kb(_presented(["name"]), key=OTHER_KEY))


def test_kb_jwt_signed_with_another_algorithm_is_refused() -> None:
    with pytest.raises(KeyBindingBadSignature):
        _verify(_kb(_presented(["name"]), key=SigningKey.generate("EdDSA")))


def test_kb_jwt_with_wrong_typ_is_refused() -> None:
    with pytest.raises(KeyBindingMalformed, match="kb\\+jwt"):
        _verify(_kb(_presented(["name"]), typ="JWT"))


def test_kb_jwt_wrong_aud_is_refused() -> None:
    with pytest.raises(KeyBindingAudience, match="beijing"):
        _verify(_kb(_presented(["name"]), aud="https://beijing.example.cn/counter"))


def test_kb_jwt_wrong_nonce_is_refused() -> None:
    with pytest.raises(KeyBindingNonce, match="another-request"):
        _verify(_kb(_presented(["name"]), nonce="another-request"))


@pytest.mark.parametrize("offset", [-61, 61, -3600])
def test_kb_jwt_stale_or_future_iat_is_refused(offset: int) -> None:
    with pytest.raises(KeyBindingStale, match="within 60 s"):
        _verify(_kb(_presented(["name"]), iat=NOW + offset))


@pytest.mark.parametrize("offset", [-60, 60])
def test_kb_jwt_iat_at_the_window_edge_is_accepted(offset: int) -> None:
    assert _verify(_kb(_presented(["name"]), iat=NOW + offset)).key_bound


@pytest.mark.parametrize("claim", ["iat", "aud", "nonce", "sd_hash"])
def test_kb_jwt_missing_a_claim_is_refused(claim: str) -> None:
    presented = _presented(["name"])
    payload = {"iat": NOW, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": digest(presented)}
    del payload[claim]
    with pytest.raises(KeyBindingMalformed, match=claim):
        _verify(presented + sign_compact(payload, HOLDER_KEY, typ=KB_TYP))


def test_sd_hash_over_other_disclosures_is_refused() -> None:
    """A KB-JWT made for one set of Disclosures, replayed with more of them."""
    sd_jwt = issue()
    shown = present(
        sd_jwt, select(sd_jwt, ["name"]), holder=HOLDER_KEY, audience=AUDIENCE, nonce=NONCE, now=NOW
    )
    kb_jwt = split(shown).kb_jwt
    more = sd_jwt.serialize(select(sd_jwt, ["name", "id_number"]))
    with pytest.raises(KeyBindingSdHash, match="sd_hash"):
        _verify(more + str(kb_jwt))
    fewer = sd_jwt.serialize([])
    with pytest.raises(KeyBindingSdHash):
        _verify(fewer + str(kb_jwt))


def test_presentation_for_another_credential_is_refused() -> None:
    """A KB-JWT lifted from a presentation of another credential of the same holder."""
    first, second = issue(), issue()
    kb_jwt = split(
        present(first, [], holder=HOLDER_KEY, audience=AUDIENCE, nonce=NONCE, now=NOW)
    ).kb_jwt
    with pytest.raises(KeyBindingSdHash):
        _verify(second.serialize([]) + str(kb_jwt))


# --- Sizes and shapes --------------------------------------------------------------------


def test_oversize_serialization_is_refused_before_parsing() -> None:
    with pytest.raises(SdJwtTooLarge, match=str(MAX_SD_JWT_LENGTH)):
        _verify("a" * (MAX_SD_JWT_LENGTH + 1) + "~")


def test_too_many_disclosures_are_refused_before_parsing() -> None:
    with pytest.raises(SdJwtTooLarge, match="Disclosures"):
        _verify("x.y.z~" + "~".join(["a"] * (MAX_DISCLOSURES + 1)) + "~", kb=None)


def test_oversize_disclosure_is_refused_before_decoding() -> None:
    with pytest.raises(SdJwtTooLarge, match="Disclosure"):
        _verify(forge(base_payload(), []) + "A" * (MAX_DISCLOSURE_LENGTH + 1) + "~", kb=None)


def test_oversize_kb_jwt_is_refused_before_parsing() -> None:
    with pytest.raises(SdJwtTooLarge, match="KB-JWT"):
        _verify(_presented([]) + "a" * (MAX_KB_JWT_LENGTH + 1))


def test_oversize_claim_value_is_refused() -> None:
    d = _raw_disclosure(["c2FsdHNhbHRzYWx0", "name", "a" * (MAX_STRING_LENGTH + 1)])
    with pytest.raises(SdJwtTooLarge, match="string"):
        _verify(forge(base_payload(_sd=[d.digest]), [d]), kb=None)


def test_claims_nested_too_deep_are_refused() -> None:
    deep: Any = "x"
    for _ in range(MAX_DEPTH + 1):
        deep = {"a": deep}
    with pytest.raises(SdJwtTooLarge, match="nested"):
        _verify(forge(base_payload(deep=deep), []), kb=None)
    d = _raw_disclosure(["c2FsdHNhbHRzYWx0", "deep", deep])
    with pytest.raises(SdJwtTooLarge, match="nested"):
        _verify(forge(base_payload(_sd=[d.digest]), [d]), kb=None)


@pytest.mark.parametrize("text", ["", "x.y.z", "x.y.z~~", "x.y.z~~~", "héllo~", "a.b.c~d~e.f.g"])
def test_malformed_serialization_is_refused(text: str) -> None:
    with pytest.raises(DataError):
        _verify(text)


@given(st.text(max_size=300))
def test_any_text_raises_only_our_errors(text: str) -> None:
    try:
        _verify(text)
    except DataError:
        return
    raise AssertionError(f"accepted {text!r}")  # pragma: no cover
