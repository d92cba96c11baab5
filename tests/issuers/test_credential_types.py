"""Credential types as data: the shipped files, the registry's invariants, subject validation."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from issuers.credential_types import SHIPPED_TYPES, CredentialType, TypeRegistry
from issuers.subjects import validate_subject
from tests.issuers.samples import (
    ID_FEMALE_1992,
    PILOT_USCC,
    SAMPLE_SUBJECTS,
    SAMPLE_SUBJECTS_BY_TYPE_CODE,
    SAMPLE_TODAY,
)
from trust.errors import DataError, FieldError

REGISTRY = TypeRegistry.load()
SHIPPED = {
    "business-licence": ("BL", "营业执照", False, True),
    "food-business-permit": ("FBP", "食品经营许可证", False, True),
    "drug-trading-permit": ("DTP", "药品经营许可证", False, True),
    "industrial-production-permit": ("IPP", "工业产品生产许可证", False, True),
    "resident-eid": ("EID", "居民身份证电子证照", True, False),
    "driving-licence": ("DL", "机动车驾驶证", True, False),
    "no-housing-proof": ("NHP", "无房证明", True, False),
}


def problems(ctype: CredentialType, subject: object, **kw: Any) -> list[dict[str, str]]:
    kw.setdefault("today", SAMPLE_TODAY)
    with pytest.raises(FieldError) as caught:
        validate_subject(ctype, subject, **kw)
    return caught.value.errors


def codes(found: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(p["field"], p["code"]) for p in found}


# --- the shipped types -----------------------------------------------------------------------


def test_exactly_the_shipped_types_load() -> None:
    assert sorted(t.code for t in REGISTRY) == sorted(SHIPPED)
    assert len(REGISTRY) == len(SHIPPED)


@pytest.mark.parametrize(
    ("code", "qr_code", "name_zh", "personal", "signed_qr"),
    [(code, *rest) for code, rest in SHIPPED.items()],
    ids=SHIPPED.keys(),
)
def test_shipped_type(
    code: str, qr_code: str, name_zh: str, personal: bool, signed_qr: bool
) -> None:
    ctype = REGISTRY.get(code)
    assert (ctype.qr_code, ctype.name_zh, ctype.personal, ctype.signed_qr) == (
        qr_code,
        name_zh,
        personal,
        signed_qr,
    )
    assert REGISTRY.by_qr_code(qr_code) is ctype
    assert ctype.type_code.startswith("11100000000013338W")
    assert ctype.holder_code_type == ("111" if personal else "001")
    assert ctype.field(ctype.holder_code_field).required
    assert code in REGISTRY


def test_type_codes_are_distinct() -> None:
    assert len({t.type_code for t in REGISTRY}) == len(SHIPPED)


def test_business_licence_fields() -> None:
    ctype = REGISTRY.get("business-licence")
    assert [f.name for f in ctype.fields] == [
        "name",
        "uscc",
        "entity_type",
        "legal_representative",
        "registered_capital",
        "established_on",
        "address",
        "business_scope",
    ]
    assert [f.name for f in ctype.qr_fields] == ["name", "uscc"]
    assert [f.name for f in ctype.public_fields] == [f.name for f in ctype.fields]
    assert ctype.personal_fields == ()
    assert ctype.labels["uscc"] == {"zh": "统一社会信用代码", "en": "Unified social credit code"}
    assert ctype.labels["established_on"]["zh"] == "成立日期"


def test_resident_eid_fields_are_all_personal() -> None:
    ctype = REGISTRY.get("resident-eid")
    names = ["name", "id_number", "id_number_masked", "sex", "ethnicity", "birth_date", "address"]
    assert [f.name for f in ctype.fields] == names
    assert [f.name for f in ctype.personal_fields] == names
    assert [f.name for f in ctype.derived_fields] == ["id_number_masked"]
    assert ctype.qr_fields == ()
    assert ctype.public_fields == ()


@pytest.mark.parametrize("code", [c for c, v in SHIPPED.items() if v[2]])
def test_personal_types_put_nothing_in_a_qr(code: str) -> None:
    ctype = REGISTRY.get(code)
    assert not ctype.signed_qr
    assert ctype.qr_fields == ()
    assert ctype.field("id_number").visibility == "personal"


@pytest.mark.parametrize("code", SHIPPED)
def test_every_string_field_is_bounded(code: str) -> None:
    for spec in REGISTRY.get(code).fields:
        schema = spec.schema
        assert "maxLength" in schema or "enum" in schema, f"{code}.{spec.name}"


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(DataError, match="unknown credential type 'passport'; known types: "):
        REGISTRY.get("passport")
    with pytest.raises(DataError, match="BL, DL, DTP"):
        REGISTRY.by_qr_code("XX")


# --- samples ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", SHIPPED)
def test_sample_subject_validates(code: str) -> None:
    ctype = REGISTRY.get(code)
    subject = SAMPLE_SUBJECTS[code]
    assert SAMPLE_SUBJECTS_BY_TYPE_CODE[ctype.type_code] is subject
    assert validate_subject(ctype, subject, today=SAMPLE_TODAY) == subject


def test_samples_cover_every_type() -> None:
    assert set(SAMPLE_SUBJECTS) == set(SHIPPED)


# --- subject validation ----------------------------------------------------------------------

BL = REGISTRY.get("business-licence")
EID = REGISTRY.get("resident-eid")
BL_SAMPLE = SAMPLE_SUBJECTS["business-licence"]
EID_SAMPLE = SAMPLE_SUBJECTS["resident-eid"]


def with_(sample: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(sample), **changes}


def without(sample: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in sample.items() if k not in names}


NON_TEXT_KEY: dict[object, Any] = {7: "x"}
NON_TEXT_KEY.update(BL_SAMPLE)
SUBJECT_CASES: dict[str, tuple[CredentialType, object, set[tuple[str, str]]]] = {
    "not_an_object": (BL, ["name"], {("subject", "subject_type")}),
    "null_subject": (BL, None, {("subject", "subject_type")}),
    "unknown_field": (BL, with_(BL_SAMPLE, foo=1), {("foo", "unknown_field")}),
    "non_text_key": (BL, NON_TEXT_KEY, {("<int>", "unknown_field")}),
    "required_missing": (BL, without(BL_SAMPLE, "address"), {("address", "required")}),
    "optional_missing_is_fine": (BL, without(BL_SAMPLE, "registered_capital"), set()),
    "bad_uscc_check": (BL, with_(BL_SAMPLE, uscc=PILOT_USCC), {("uscc", "uscc_checksum")}),
    "future_establishment": (
        BL,
        with_(BL_SAMPLE, established_on="2025-06-02"),
        {("established_on", "date_future")},
    ),
    "established_today_is_fine": (BL, with_(BL_SAMPLE, established_on="2025-06-01"), set()),
    "name_too_long": (BL, with_(BL_SAMPLE, name="公" * 101), {("name", "schema_maxLength")}),
    "empty_name": (BL, with_(BL_SAMPLE, name="   "), {("name", "schema_minLength")}),
    "name_is_a_number": (BL, with_(BL_SAMPLE, name=12), {("name", "schema_type")}),
    "newline_in_name": (BL, with_(BL_SAMPLE, name="a\nb"), {("name", "control_character")}),
    "birth_date_disagrees_with_id": (
        EID,
        with_(EID_SAMPLE, birth_date="1985-06-16"),
        {("birth_date", "id_mismatch")},
    ),
    "sex_disagrees_with_id": (EID, with_(EID_SAMPLE, sex="女"), {("sex", "id_mismatch")}),
    "sex_not_in_enum": (EID, with_(EID_SAMPLE, sex="M"), {("sex", "schema_enum")}),
    "id_number_bad_check": (
        EID,
        with_(EID_SAMPLE, id_number="110105194912310021"),
        {("id_number", "id_checksum")},
    ),
    "many_problems_at_once": (
        EID,
        with_(without(EID_SAMPLE, "name"), sex="女", birth_date="1985-13-01", extra="x"),
        {
            ("extra", "unknown_field"),
            ("name", "required"),
            ("sex", "id_mismatch"),
            ("birth_date", "date_invalid"),
        },
    ),
    "abolished_query_region": (
        REGISTRY.get("no-housing-proof"),
        with_(SAMPLE_SUBJECTS["no-housing-proof"], query_region="330104"),
        {("query_region", "region_abolished")},
    ),
    "permit_number_pattern": (
        REGISTRY.get("food-business-permit"),
        with_(SAMPLE_SUBJECTS["food-business-permit"], licence_no="SP3304020012345"),
        {("licence_no", "schema_pattern")},
    ),
    "derived_field_submitted": (
        EID,
        with_(EID_SAMPLE, id_number_masked="330106********1233"),
        {("id_number_masked", "derived_field")},
    ),
    "drug_permit_mode_enum": (
        REGISTRY.get("drug-trading-permit"),
        with_(SAMPLE_SUBJECTS["drug-trading-permit"], business_mode="网售"),
        {("business_mode", "schema_enum")},
    ),
    "driving_vehicle_class": (
        REGISTRY.get("driving-licence"),
        with_(SAMPLE_SUBJECTS["driving-licence"], vehicle_classes="C7"),
        {("vehicle_classes", "schema_pattern")},
    ),
    "driving_licence_sex_mismatch": (
        REGISTRY.get("driving-licence"),
        with_(SAMPLE_SUBJECTS["driving-licence"], sex="男"),
        {("sex", "id_mismatch")},
    ),
}


@pytest.mark.parametrize(
    ("ctype", "subject", "expected"), SUBJECT_CASES.values(), ids=SUBJECT_CASES.keys()
)
def test_subject_problems(
    ctype: CredentialType, subject: object, expected: set[tuple[str, str]]
) -> None:
    if not expected:
        validate_subject(ctype, subject, today=SAMPLE_TODAY)
        return
    found = problems(ctype, subject)
    assert codes(found) == expected
    for entry in found:
        assert set(entry) == {"field", "code", "message", "message_en"}
        assert any("\u4e00" <= c <= "\u9fff" for c in entry["message"]), entry
        assert "{" not in entry["message"] + entry["message_en"], entry


def test_unknown_field_message_lists_the_expected_fields() -> None:
    (found,) = problems(BL, with_(BL_SAMPLE, foo=1))
    assert found["message_en"].startswith("unknown field 'foo'; expected one of name, uscc, ")
    assert "未知字段 'foo'" in found["message"]


def test_a_derived_field_an_agency_sends_is_refused_saying_whose_it_is() -> None:
    (found,) = problems(EID, with_(EID_SAMPLE, id_number_masked="330106********1233"))
    assert found["message"] == "字段“公民身份号码（部分隐藏）”由签发方根据 id_number 生成，不应提交"
    assert found["message_en"] == (
        "field 'id_number_masked' is derived by the issuer from id_number "
        "(keep-first-6-last-4): expected it absent, found a value"
    )


def test_a_checked_subject_holds_no_derived_field() -> None:
    assert "id_number_masked" not in validate_subject(EID, EID_SAMPLE, today=SAMPLE_TODAY)


def test_birth_date_mismatch_says_what_the_id_says() -> None:
    (found,) = problems(EID, with_(EID_SAMPLE, birth_date="1985-06-16"))
    assert found["message_en"] == "birth_date is 1985-06-16 but the ID number says 1985-06-15"


def test_schema_errors_are_translated_not_leaked() -> None:
    found = problems(BL, with_(BL_SAMPLE, name="公" * 101, entity_type=3))
    by_field = {p["field"]: p for p in found}
    assert by_field["name"]["message_en"] == "must have at most 100 characters, found 101"
    assert by_field["name"]["message"] == "最多 100 个字符，实际 101 个字符"
    assert by_field["entity_type"]["message"] == "应为字符串，实际为整数"
    for entry in found:  # jsonschema's own wording never reaches the caller
        assert "is too long" not in entry["message_en"]
        assert "is not of type" not in entry["message_en"]


def test_pattern_errors_carry_the_hint() -> None:
    fbp = REGISTRY.get("food-business-permit")
    (found,) = problems(fbp, with_(SAMPLE_SUBJECTS["food-business-permit"], licence_no="JY1"))
    assert "expected JY followed by 14 digits" in found["message_en"]
    assert "“JY”加 14 位数字" in found["message"]


def test_pilot_uscc_is_accepted_only_with_the_allowlist() -> None:
    subject = with_(BL_SAMPLE, uscc=PILOT_USCC.lower())
    assert codes(problems(BL, subject)) == {("uscc", "uscc_checksum")}
    out = validate_subject(BL, subject, today=SAMPLE_TODAY, uscc_allowlist=frozenset({PILOT_USCC}))
    assert out["uscc"] == PILOT_USCC


def test_subject_is_normalised() -> None:
    subject = with_(EID_SAMPLE, name="  陈晓明 ", id_number=f" {ID_FEMALE_1992.lower()} ")
    subject.update(sex="女", birth_date="1992-03-08")
    out = validate_subject(EID, subject, today=SAMPLE_TODAY)
    assert out["name"] == "陈晓明"
    assert out["id_number"] == ID_FEMALE_1992
    assert list(out) == [f.name for f in EID.submitted_fields]


def test_validation_does_not_change_the_input() -> None:
    subject = with_(BL_SAMPLE, name=" 杭州云栖数字科技有限公司 ")
    before = copy.deepcopy(subject)
    validate_subject(BL, subject, today=SAMPLE_TODAY)
    assert subject == before


def test_too_many_fields() -> None:
    subject = {f"f{i}": i for i in range(65)}
    assert codes(problems(BL, subject)) == {("subject", "too_many_fields")}


def test_future_birth_date_in_id_number() -> None:
    found = problems(EID, EID_SAMPLE, today=date(1980, 1, 1))
    assert ("id_number", "id_future_birth_date") in codes(found)


# --- registry invariants ---------------------------------------------------------------------


def shipped_files() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SHIPPED_TYPES.glob("*.json"))
    }


def write(directory: Path, files: dict[str, dict[str, Any]]) -> Path:
    for stem, data in files.items():
        (directory / f"{stem}.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return directory


def field_of(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in data["fields"] if f["name"] == name)


Edit = Callable[[dict[str, dict[str, Any]]], object]


def _set(stem: str, key: str, value: Any) -> Edit:
    return lambda files: files[stem].__setitem__(key, value)


def _set_field(stem: str, field: str, key: str, value: Any) -> Edit:
    return lambda files: field_of(files[stem], field).__setitem__(key, value)


def _set_schema(stem: str, field: str, key: str, value: Any) -> Edit:
    return lambda files: field_of(files[stem], field)["schema"].__setitem__(key, value)


def _del_schema(stem: str, field: str, key: str) -> Edit:
    return lambda files: field_of(files[stem], field)["schema"].pop(key)


BL_FILE, EID_FILE = "business-licence", "resident-eid"
BROKEN: dict[str, tuple[Edit, str, str]] = {
    "duplicate_qr_code": (_set("driving-licence", "qr_code", "BL"), "", "qr_code 'BL' is used"),
    "duplicate_type_code": (
        _set("driving-licence", "type_code", "11100000000013338W001"),
        "",
        "type_code 11100000000013338W001 is used by business-licence and driving-licence",
    ),
    "code_differs_from_file_name": (
        _set(BL_FILE, "code", "licence"),
        BL_FILE,
        "must equal the file name",
    ),
    "missing_key": (lambda f: f[BL_FILE].pop("signed_qr"), BL_FILE, "'signed_qr' is a required"),
    "unexpected_key": (_set(BL_FILE, "colour", "red"), BL_FILE, "credential type schema"),
    "qr_code_too_long": (_set(BL_FILE, "qr_code", "BLIC"), BL_FILE, "at qr_code"),
    "bad_visibility": (_set_field(BL_FILE, "name", "visibility", "secret"), BL_FILE, "visibility"),
    "holder_field_missing": (
        _set(BL_FILE, "holder_code_field", "credit_code"),
        BL_FILE,
        "holder_code_field 'credit_code' must name a required field",
    ),
    "holder_field_not_uscc": (
        _set(BL_FILE, "holder_code_field", "address"),
        BL_FILE,
        "needs holder_code_field 'address' to have x-check 'uscc'",
    ),
    "personal_field_not_disclosable": (
        _set_field(EID_FILE, "id_number", "disclosable", False),
        EID_FILE,
        "field 'id_number' is personal: it must be disclosable",
    ),
    "field_without_disclosable": (
        lambda f: f[BL_FILE]["fields"][0].pop("disclosable"),
        BL_FILE,
        "'disclosable' is a required property",
    ),
    "personal_type_with_qr_field": (
        _set_field(EID_FILE, "name", "visibility", "qr"),
        EID_FILE,
        "a personal type is shown by reference QR only",
    ),
    "personal_type_signed_qr": (
        _set(EID_FILE, "signed_qr", True),
        EID_FILE,
        "a personal type is shown by reference QR only",
    ),
    "id_number_public": (
        _set_field(EID_FILE, "id_number", "visibility", "public"),
        EID_FILE,
        "holds an ID number: it must be personal",
    ),
    "signed_qr_without_qr_fields": (
        lambda f: [s.__setitem__("visibility", "public") for s in f[BL_FILE]["fields"]],
        BL_FILE,
        "signed_qr is True but the type has 0 'qr' field(s)",
    ),
    "too_many_qr_fields": (
        lambda f: [s.__setitem__("visibility", "qr") for s in f[BL_FILE]["fields"][:4]],
        BL_FILE,
        "at most 3 'qr' fields",
    ),
    "unbounded_string": (
        _del_schema(BL_FILE, "address", "maxLength"),
        BL_FILE,
        "field 'address' is a string without maxLength",
    ),
    "invalid_json_schema": (
        _set_schema(BL_FILE, "address", "maxLength", "long"),
        BL_FILE,
        "field 'address': invalid JSON Schema",
    ),
    "unknown_x_check": (_set_schema(BL_FILE, "address", "x-check", "postcode"), BL_FILE, "x-check"),
    "id_part_without_id_holder": (
        _set_schema(BL_FILE, "established_on", "x-id-part", "birth_date"),
        BL_FILE,
        "has x-id-part but the holder has no ID",
    ),
    "type_code_uscc_check": (
        _set(BL_FILE, "type_code", "11100000000013338X001"),
        BL_FILE,
        "USCC check character",
    ),
    "holder_code_is_derived": (
        _set(EID_FILE, "holder_name_field", "id_number_masked"),
        EID_FILE,
        "holder_name_field 'id_number_masked' must name a required field the agency submits",
    ),
}


# Derived fields: (file, field, what changes in it, what the refusal says)
MASKED = "id_number_masked"
MASK_RULE = "keep-first-6-last-4"
MASKED_SCHEMA = {"type": "string", "maxLength": 18, "x-check": "id_number"}
DERIVED_BROKEN: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "derived_from_a_missing_field": (EID_FILE, MASKED, {"from": "passport_no"}, "found none"),
    "derived_from_a_field_that_is_no_id_number": (EID_FILE, MASKED, {"from": "name"}, "'name'"),
    "derived_from_a_derived_field": (EID_FILE, MASKED, {"from": MASKED}, f"found '{MASKED}'"),
    "unknown_derivation_rule": (EID_FILE, MASKED, {"rule": "keep-last-4"}, "fields/2/derived"),
    "derived_not_disclosable": (BL_FILE, "address", {"from": "uscc"}, "must be disclosable"),
    "derived_in_a_qr": (BL_FILE, "name", {"from": "uscc"}, "field 'name' is derived: it must"),
    "derived_optional_beside_a_required_source": (
        EID_FILE, MASKED, {"required": False}, "so required must be True, found False"
    ),
    "derived_with_an_input_check": (
        EID_FILE, MASKED, {"schema": MASKED_SCHEMA}, "x-check and x-id-part check what an agency"
    ),
}  # fmt: skip
for _case, (_stem, _field, _changes, _message) in DERIVED_BROKEN.items():
    _derived = {"from": "id_number", "rule": MASK_RULE}
    _derived.update({k: v for k, v in _changes.items() if k in ("from", "rule")})
    _spec = {"derived": _derived, **{k: v for k, v in _changes.items() if k not in _derived}}
    BROKEN[_case] = (lambda f, s=_stem, n=_field, c=_spec: field_of(f[s], n).update(c), _stem,
                     _message)  # fmt: skip


@pytest.mark.parametrize(("edit", "file", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_type_files_are_refused(tmp_path: Path, edit: Edit, file: str, message: str) -> None:
    files = shipped_files()
    edit(files)
    with pytest.raises(DataError) as caught:
        TypeRegistry.load(write(tmp_path, files))
    text = str(caught.value)
    assert message in text
    if file:
        assert text.startswith(f"credential type file {file}.json: ")


def test_not_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json", "utf-8")
    with pytest.raises(DataError, match=r"^credential type file bad\.json: "):
        TypeRegistry.load(tmp_path)


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no credential type files"):
        TypeRegistry.load(tmp_path)


def test_a_copy_of_the_shipped_files_loads(tmp_path: Path) -> None:
    registry = TypeRegistry.load(write(tmp_path, shipped_files()))
    assert sorted(t.code for t in registry) == sorted(SHIPPED)


# --- property tests: only our error types on any input ---------------------------------------


def assert_only_field_errors(ctype: CredentialType, subject: object) -> None:
    """Either a normalised subject of known fields, or a FieldError with complete problems."""
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    try:
        out = validate_subject(ctype, subject, today=SAMPLE_TODAY)
    except FieldError as exc:
        errors = exc.errors
    if errors:
        assert all(p["field"] and p["code"] and p["message"] and p["message_en"] for p in errors)
    else:
        assert set(out) <= {f.name for f in ctype.fields}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SHIPPED)), JSON_VALUES)
def test_validate_subject_raises_only_field_error_on_any_json(code: str, subject: object) -> None:
    assert_only_field_errors(REGISTRY.get(code), subject)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SHIPPED)), st.data())
def test_validate_subject_raises_only_field_error_on_mutated_samples(
    code: str, data: st.DataObject
) -> None:
    ctype = REGISTRY.get(code)
    subject = copy.deepcopy(SAMPLE_SUBJECTS[code])
    for name in data.draw(st.lists(st.sampled_from([f.name for f in ctype.fields]), max_size=3)):
        subject[name] = data.draw(JSON_VALUES | st.from_regex(r"[0-9A-Z\-]{0,20}", fullmatch=True))
    assert_only_field_errors(ctype, subject)


def test_every_personal_field_of_the_personal_types_is_disclosable() -> None:
    registry = TypeRegistry.load()
    for code in ("resident-eid", "driving-licence", "no-housing-proof"):
        ctype = registry.get(code)
        assert ctype.disclosable_fields == ctype.fields, code
    licence = registry.get("business-licence")
    assert licence.disclosable_fields == ()


def test_a_type_pickles_whole_and_validates_as_before() -> None:
    """A type crosses to another process (issue 13: the worker that signs a register's chunks):
    pickled, its fields' validators are built again from their schemas and answer as the
    originals do, on every shipped type and its sample subject."""
    registry = TypeRegistry.load()
    for code, subject in SAMPLE_SUBJECTS.items():
        ctype = registry.get(code)
        again = pickle.loads(pickle.dumps(ctype))  # noqa: S301 - our own bytes, just made
        assert again == ctype
        assert [f.name for f in again.qr_fields] == [f.name for f in ctype.qr_fields]
        for original, copied in zip(ctype.fields, again.fields, strict=True):
            assert copied.validator is not original.validator
            assert copied.validator.schema == original.validator.schema
        assert validate_subject(again, dict(subject), today=SAMPLE_TODAY) == validate_subject(
            ctype, dict(subject), today=SAMPLE_TODAY
        )
        broken = {**subject, ctype.holder_code_field: "x"}

        assert _problems(again, broken) == _problems(ctype, broken)


def _problems(ctype: CredentialType, subject: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(FieldError) as caught:
        validate_subject(ctype, dict(subject), today=SAMPLE_TODAY)
    return caught.value.errors
