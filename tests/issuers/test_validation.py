"""USCC, ID number and date checks: DOMAIN-CN vectors, the pilot-code allowlist, clear problems."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc

from issuers.validation import (
    MESSAGES,
    IdNumberInfo,
    check_extension,
    normalise_value,
    parse_date,
    uscc_check_character,
    validate_id_number,
    validate_uscc,
)
from tests.issuers.samples import (
    ID_DOMAIN_VECTOR,
    ID_FEMALE_1992,
    ID_MALE_1985,
    PILOT_USCC,
    USCC_HANGZHOU,
    USCC_JIAXING,
)
from trust.errors import DataError, FieldError

TODAY = date(2025, 6, 1)


def only_problem(caught: pytest.ExceptionInfo[FieldError]) -> dict[str, str]:
    assert len(caught.value.errors) == 1
    found = caught.value.errors[0]
    assert set(found) == {"field", "code", "message", "message_en"}
    assert found["message"]
    assert found["message_en"]
    return found


# --- 统一社会信用代码 (GB 32100) -------------------------------------------------------------

GOOD_USCC = {
    "stdnum_doc_example": ("91110000600037341L", "91110000600037341L"),
    "hangzhou_sample": (USCC_HANGZHOU, USCC_HANGZHOU),
    "individual_business": (USCC_JIAXING, USCC_JIAXING),
    "lower_case_and_spaces_normalised": ("  91110000600037341l ", "91110000600037341L"),
}


@pytest.mark.parametrize(("value", "expected"), GOOD_USCC.values(), ids=GOOD_USCC.keys())
def test_valid_uscc(value: str, expected: str) -> None:
    assert validate_uscc(value) == expected


BAD_USCC = {
    "too_short": ("9111000060003734", "uscc_length", "a USCC has 18 characters, found 16"),
    "too_long": ("91110000600037341LX", "uscc_length", "found 19"),
    "letter_I": ("9111000060003734IL", "uscc_charset", "except I, O, Z, S, V"),
    "letter_in_region_part": ("9111A000600037341L", "uscc_charset", "digits in positions 3-8"),
    "wrong_check": ("91110000600037341M", "uscc_checksum", "expected L, found M"),
    "pilot_code_without_allowlist": (PILOT_USCC, "uscc_checksum", "expected 1, found M"),
}


@pytest.mark.parametrize(("value", "code", "message"), BAD_USCC.values(), ids=BAD_USCC.keys())
def test_invalid_uscc(value: str, code: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        validate_uscc(value, field="holder")
    found = only_problem(caught)
    assert (found["field"], found["code"]) == ("holder", code)
    assert message in found["message_en"]


def test_pilot_uscc_passes_only_when_allowlisted() -> None:
    assert validate_uscc(PILOT_USCC, allowlist=frozenset({PILOT_USCC})) == PILOT_USCC
    # The allowlist is normalised like the input.
    assert validate_uscc(PILOT_USCC.lower(), allowlist=frozenset({f" {PILOT_USCC.lower()}"}))


def test_allowlist_does_not_excuse_bad_shape() -> None:
    with pytest.raises(FieldError):
        validate_uscc("9135010", allowlist=frozenset({"9135010"}))


def test_uscc_must_be_text() -> None:
    with pytest.raises(FieldError) as caught:
        validate_uscc(91110000600037341)  # type: ignore[arg-type]
    assert only_problem(caught)["code"] == "not_text"


def test_uscc_problems_are_data_errors() -> None:
    with pytest.raises(DataError):
        validate_uscc("x")


# --- 公民身份号码 (GB 11643) -----------------------------------------------------------------

GOOD_IDS = {
    "domain_vector_female_1949": (ID_DOMAIN_VECTOR, date(1949, 12, 31), "110105", "女"),
    "male_1985": (ID_MALE_1985, date(1985, 6, 15), "330106", "男"),
    "female_1992": (ID_FEMALE_1992, date(1992, 3, 8), "340102", "女"),
    "lower_case_x": (ID_DOMAIN_VECTOR.lower(), date(1949, 12, 31), "110105", "女"),
}


@pytest.mark.parametrize(
    ("value", "birth", "region", "sex"), GOOD_IDS.values(), ids=GOOD_IDS.keys()
)
def test_valid_id_numbers(value: str, birth: date, region: str, sex: str) -> None:
    info = validate_id_number(value, today=TODAY)
    assert isinstance(info, IdNumberInfo)
    assert (info.birth_date, info.region_code, info.sex) == (birth, region, sex)
    assert info.number == value.upper()
    assert info.sex_en == ("male" if sex == "男" else "female")


BAD_IDS = {
    "domain_vector_bad_check": ("110105194912310021", "id_checksum", "expected X, found 1"),
    "seventeen_digits": ("11010519491231002", "id_length", "found 17"),
    "letter_inside": ("1101051949123100AX", "id_charset", "17 digits and a digit or X"),
    "february_30": ("110105194902300020", "id_birth_date", "19490230"),
    "region_not_yet_created_at_birth": (
        "310117197809014333",
        "id_region",
        "310117 in the ID number was not in use in 1978",
    ),
    "unknown_region": ("990105194912310023", "id_region", "990105"),
}


@pytest.mark.parametrize(("value", "code", "message"), BAD_IDS.values(), ids=BAD_IDS.keys())
def test_invalid_id_numbers(value: str, code: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        validate_id_number(value)
    found = only_problem(caught)
    assert (found["field"], found["code"]) == ("id_number", code)
    assert message in found["message_en"]


def test_id_number_born_after_today() -> None:
    with pytest.raises(FieldError) as caught:
        validate_id_number(ID_FEMALE_1992, today=date(1990, 1, 1))
    assert only_problem(caught)["code"] == "id_future_birth_date"


# --- dates -----------------------------------------------------------------------------------

BAD_DATES = {
    "compact_form": ("20240101", "date_format"),
    "slashes": ("2024/01/01", "date_format"),
    "with_time": ("2024-01-01T00:00:00", "date_format"),
    "full_width_digits": ("２０２４-01-01", "date_format"),
    "trailing_newline": ("2024-01-01\n", "date_format"),
    "february_30": ("2024-02-30", "date_invalid"),
    "month_13": ("2024-13-01", "date_invalid"),
    "number": (20240101, "not_text"),
    "none": (None, "not_text"),
}


def test_parse_date_accepts_only_yyyy_mm_dd() -> None:
    assert parse_date("2024-02-29", "established_on") == date(2024, 2, 29)


@pytest.mark.parametrize(("value", "code"), BAD_DATES.values(), ids=BAD_DATES.keys())
def test_parse_date_rejects(value: object, code: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_date(value, "established_on")
    found = only_problem(caught)
    assert (found["field"], found["code"]) == ("established_on", code)


# --- normalisation and x-check ---------------------------------------------------------------


def test_normalise_strips_and_composes() -> None:
    assert normalise_value("f", "  Cafe\u0301 ") == "Café"
    assert normalise_value("f", ["a ", " b"], upper=True) == ["A", "B"]
    assert normalise_value("f", 3) == 3


@pytest.mark.parametrize("value", ["a\nb", "a\u0000", ["ok", "x\tx"], "\u0085"])
def test_normalise_refuses_control_characters(value: object) -> None:
    with pytest.raises(FieldError) as caught:
        normalise_value("f", value)
    assert only_problem(caught)["code"] == "control_character"


EXTENSIONS = {
    "future_date_refused": ({"x-check": "date", "x-not-future": True}, "2025-06-02", "date_future"),
    "abolished_region": ({"x-check": "region"}, "330104", "region_abolished"),
    "region_not_yet_created": ({"x-check": "region"}, "330113", "region_not_yet_created"),
    "unknown_region": ({"x-check": "region"}, "510100", "region_unknown"),
    "malformed_region": ({"x-check": "region"}, "3301", "region_malformed"),
}


@pytest.mark.parametrize(("schema", "value", "code"), EXTENSIONS.values(), ids=EXTENSIONS.keys())
def test_extension_checks(schema: dict[str, object], value: str, code: str) -> None:
    today = date(2020, 1, 1) if code == "region_not_yet_created" else TODAY
    with pytest.raises(FieldError) as caught:
        check_extension("f", schema, value, allowlist=frozenset(), today=today)
    found = only_problem(caught)
    assert found["code"] == code
    assert "{" not in found["message"]  # every template placeholder was filled


def test_abolished_region_is_worded_in_chinese() -> None:
    with pytest.raises(FieldError) as caught:
        check_extension("f", {"x-check": "region"}, "330103", allowlist=frozenset(), today=TODAY)
    assert only_problem(caught)["message"] == "行政区划代码 330103（下城区）已于 2021-04-09 撤销"


PASSING = {
    "allowlisted_pilot_uscc": ({"x-check": "uscc"}, PILOT_USCC),
    "new_region_after_creation": ({"x-check": "region"}, "330113"),
    "future_date_where_allowed": ({"x-check": "date"}, "2030-01-01"),
    "no_extension": ({}, "anything"),
}


@pytest.mark.parametrize(("schema", "value"), PASSING.values(), ids=PASSING.keys())
def test_extension_passes_valid_values_through(schema: dict[str, object], value: str) -> None:
    allow = frozenset({PILOT_USCC})
    assert check_extension("f", schema, value, allowlist=allow, today=TODAY) == value


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_message_has_chinese_and_english(code: str) -> None:
    zh, en = MESSAGES[code]
    assert _has_cjk(zh)
    assert en
    assert not _has_cjk(en)


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_USCC_CHARS, min_size=17, max_size=17))
def test_the_uscc_check_character_is_what_stdnum_computes(first17: str) -> None:
    """Issue 13: the GB 32100 check character computed directly (stdnum's clean-up of
    separators cost a third of a licence's check); stdnum stays the reference."""
    assert uscc_check_character(first17) == uscc.calc_check_digit(first17)


@pytest.mark.parametrize("value", [USCC_HANGZHOU, USCC_JIAXING])
def test_the_uscc_check_character_of_the_sample_codes(value: str) -> None:
    assert uscc_check_character(value[:-1]) == value[-1]
