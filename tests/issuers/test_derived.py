"""Derived fields: the masked ID number (``keep-first-6-last-4``), computed by the issuer for the
SD-JWT VC of every type that declares it, and refused for anything but an 18-character ID."""

from __future__ import annotations

import pytest

from issuers.credential_types import TypeRegistry
from issuers.derived import RULES, keep_first_6_last_4
from issuers.verifier_roles import RoleTable
from issuers.wallet_types import credential_claims
from tests.issuers.samples import ID_DOMAIN_VECTOR, ID_FEMALE_1992, ID_MALE_1985, SAMPLE_SUBJECTS
from tests.issuers.test_validation import only_problem
from trust.errors import FieldError

TYPES = TypeRegistry.load()


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        (ID_MALE_1985, "330106********1233"),
        (ID_FEMALE_1992, "340102********2462"),
        (ID_DOMAIN_VECTOR, "110105********002X"),
    ],
    ids=["male-1985", "female-1992", "trailing-X"],
)
def test_an_id_number_keeps_its_first_6_and_last_4(number: str, masked: str) -> None:
    assert keep_first_6_last_4(number) == masked
    assert len(masked) == len(number)
    assert number[6:14] not in masked  # the birth date is what is hidden


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("330106850615123", "id_length"),  # a 15-digit number of the 1989 standard
        ("33010619850615123", "id_length"),
        ("3301061985061512331", "id_length"),
        ("", "id_length"),
        ("11010519491231002x", "id_charset"),  # subjects are upper-cased before this
        ("33010619850615123Y", "id_charset"),
        ("3301061985０6151233", "id_charset"),  # a full-width digit
        (330106198506151233, "not_text"),
    ],
    ids=["15-digits", "17", "19", "empty", "lower-case-x", "letter", "full-width", "a-number"],
)
def test_anything_but_an_18_character_id_number_is_refused_not_masked(
    value: object, code: str
) -> None:
    with pytest.raises(FieldError) as caught:
        keep_first_6_last_4(value, field="id_number")
    found = only_problem(caught)
    assert (found["field"], found["code"]) == ("id_number", code)


@pytest.mark.parametrize("code", ["resident-eid", "driving-licence", "no-housing-proof"])
def test_types_holding_an_id_number_put_its_masked_form_in_their_sd_jwt_vc(code: str) -> None:
    ctype = TYPES.get(code)
    subject = SAMPLE_SUBJECTS[code]
    claims, disclosable = credential_claims(ctype, subject)
    expected = keep_first_6_last_4(subject["id_number"])
    assert claims["id_number_masked"] == expected
    assert "id_number_masked" in disclosable
    assert list(claims) == [f.name for f in ctype.fields if f.name in claims]  # type order
    spec = ctype.field("id_number_masked")
    assert spec.derived is not None
    assert (spec.derived.source, spec.derived.rule) == ("id_number", "keep-first-6-last-4")
    assert spec.validator.is_valid(expected)  # the type file's schema describes the result
    assert ctype.qr_fields == ()


def test_types_without_a_derived_field_make_the_same_claims_as_before() -> None:
    ctype = TYPES.get("business-licence")
    subject = SAMPLE_SUBJECTS["business-licence"]
    assert ctype.derived_fields == ()
    assert credential_claims(ctype, subject) == (subject, [])


def test_a_credential_whose_id_number_is_not_18_characters_is_not_issued() -> None:
    ctype = TYPES.get("resident-eid")
    subject = {**SAMPLE_SUBJECTS["resident-eid"], "id_number": "330106850615123"}
    with pytest.raises(FieldError) as caught:
        credential_claims(ctype, subject)
    assert only_problem(caught)["field"] == "id_number"


def test_every_rule_is_described_in_both_languages() -> None:
    for rule in RULES.values():
        assert "{source}" in rule.description_zh
        assert "{source}" in rule.description_en


def test_a_hotel_desk_may_ask_for_the_masked_number_not_the_full_one() -> None:
    roles = RoleTable.load(TYPES)
    roles.get("hotel-desk").check_request("resident-eid", ["name", "id_number_masked"])
    with pytest.raises(FieldError) as refused:
        roles.get("hotel-desk").check_request("resident-eid", ["name", "id_number"])
    assert "id_number" in refused.value.errors[0]["message_en"]
    roles.get("police-counter").check_request("resident-eid", ["id_number"])
    roles.get("police-counter").check_request("resident-eid", ["id_number_masked"])
