"""GB/T 36904 licence identifiers: the DOMAIN-CN vectors, every kind of bad input, round trips."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trust.errors import DataError
from trust.identifiers import ROOT, LicenceIdentifier

# DOMAIN-CN.md: valid identifiers seen in public integration code (check character last).
VECTORS = {
    "jilin_uscc_agency": (
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
        ("11100000000013338W032", "11220000013544541J", "2430599", "001", "F"),
    ),
    "hunan_uscc_agency": (
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
        ("11100000000013338W011", "11430000006122244L", "20230000403", "001", "U"),
    ),
    "hangzhou_version_002_check_digit": (
        "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
        ("11100000000013338W009", "11330105002500287C", "2025052201", "002", "0"),
    ),
    "hefei_region_code_agency": (
        "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9",
        ("11100000MB03271699022", "340100", "000000016", "001", "9"),
    ),
}
GOOD = VECTORS["jilin_uscc_agency"][0]


@pytest.mark.parametrize(("text", "parts"), VECTORS.values(), ids=VECTORS.keys())
def test_domain_vectors_parse(text: str, parts: tuple[str, ...]) -> None:
    ident = LicenceIdentifier.parse(text)
    assert (ident.type_code, ident.agency_code, ident.serial, ident.version, ident.check) == parts
    assert str(ident) == text


@pytest.mark.parametrize(("text", "_parts"), VECTORS.values(), ids=VECTORS.keys())
def test_jti_round_trip(text: str, _parts: tuple[str, ...]) -> None:
    ident = LicenceIdentifier.parse(text)
    assert ident.jti == f"{ident.serial}.{ident.version}"
    assert LicenceIdentifier.from_jti(ident.type_code, ident.agency_code, ident.jti) == ident


def test_surrounding_whitespace_is_ignored() -> None:
    assert str(LicenceIdentifier.parse(f"  {GOOD}\n")) == GOOD


BAD = {
    "wrong_in_the_wild_root": (
        GOOD.replace("3005", "3003", 1),
        "root must be 1.2.156.3005.2, found 1.2.156.3003.2: that root is a known mistake",
    ),
    "other_root": ("1.2.840.3005.2.11100000000013338W032.x.1.001.F", "root must be 1.2.156.3005.2"),
    "empty": ("", "root must be 1.2.156.3005.2, found ''"),
    "missing_check_segment": (GOOD.rsplit(".", 1)[0], "5 segments after the root"),
    "extra_segment": (GOOD + ".F", "found 6"),
    "wrong_check_character": (GOOD[:-1] + "G", "expected check character F, found G"),
    "lower_case_check_character": (GOOD[:-1] + "f", "expected check character F, found f"),
    "empty_check_character": (GOOD[:-1], "expected check character F, found ''"),
    "type_code_too_short": (
        "1.2.156.3005.2.11100000000013338W32.11220000013544541J.2430599.001.F",
        "must be an 18-character USCC followed by a 3-digit sequence",
    ),
    "type_code_with_letter_o": (
        "1.2.156.3005.2.1110000000001333OW032.11220000013544541J.2430599.001.F",
        "licence type code",
    ),
    "agency_code_five_digits": (
        "1.2.156.3005.2.11100000000013338W032.34010.000000016.001.9",
        "18-character USCC or a 6-digit region code, found '34010'",
    ),
    "serial_lower_case": (
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.abc.001.F",
        "流水号 (serial) must be 1 to 32 digits or upper-case letters, found 'abc'",
    ),
    "serial_too_long": (
        f"1.2.156.3005.2.11100000000013338W032.11220000013544541J.{'1' * 33}.001.F",
        "1 to 32 digits",
    ),
    "serial_empty": (
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J..001.F",
        "流水号 (serial)",
    ),
    "version_two_digits": (
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.01.F",
        "版本号 (version) must be exactly 3 digits, found '01'",
    ),
    "version_letters": (
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.A01.F",
        "found 'A01'",
    ),
    "far_too_long": (GOOD + "9" * 500, "at most 256 characters"),
}


@pytest.mark.parametrize(("text", "message"), BAD.values(), ids=BAD.keys())
def test_bad_identifiers_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        LicenceIdentifier.parse(text)
    assert message in str(caught.value)


def test_parse_refuses_non_text() -> None:
    with pytest.raises(DataError, match="must be text, found bytes"):
        LicenceIdentifier.parse(GOOD.encode())  # type: ignore[arg-type]


CONSTRUCTOR_BAD = {
    "bad_type_code": ("11100000000013338W", "11220000013544541J", "1", "001", "licence type code"),
    "bad_agency": ("11100000000013338W032", "1122", "1", "001", "issuing agency code"),
    "bad_serial": ("11100000000013338W032", "340100", "A.B", "001", "serial"),
    "bad_version": ("11100000000013338W032", "340100", "1", "1", "version"),
}


@pytest.mark.parametrize(
    ("type_code", "agency", "serial", "version", "message"),
    CONSTRUCTOR_BAD.values(),
    ids=CONSTRUCTOR_BAD.keys(),
)
def test_objects_check_themselves_when_built(
    type_code: str, agency: str, serial: str, version: str, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        LicenceIdentifier(type_code, agency, serial, version)


def test_built_identifier_gets_its_check_character() -> None:
    ident = LicenceIdentifier("11100000000013338W032", "11220000013544541J", "2430599", "001")
    assert ident.check == "F"
    assert str(ident) == GOOD
    assert str(ident).startswith(ROOT + ".")


@pytest.mark.parametrize("jti", ["2430599", "2430599.1", ".001", "a.001", "1" * 40 + ".001", ""])
def test_from_jti_refuses_malformed_jti(jti: str) -> None:
    with pytest.raises(DataError):
        LicenceIdentifier.from_jti("11100000000013338W032", "11220000013544541J", jti)


def test_changing_any_segment_changes_the_check_character() -> None:
    base = LicenceIdentifier("11100000000013338W032", "11220000013544541J", "2430599", "001")
    others = [
        LicenceIdentifier("11100000000013338W033", "11220000013544541J", "2430599", "001"),
        LicenceIdentifier("11100000000013338W032", "11220000013544541J", "2430598", "001"),
        LicenceIdentifier("11100000000013338W032", "11220000013544541J", "2430599", "002"),
    ]
    assert all(other.check != base.check for other in others)


@given(st.text(max_size=200))
def test_parse_raises_only_data_error_on_any_text(text: str) -> None:
    try:
        ident = LicenceIdentifier.parse(text)
    except DataError:
        return
    assert str(ident) == text.strip()


_SEGMENT = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXYZabc.", max_size=40)


@given(st.lists(_SEGMENT, min_size=0, max_size=7))
def test_parse_raises_only_data_error_on_dotted_input(segments: list[str]) -> None:
    with contextlib.suppress(DataError):
        LicenceIdentifier.parse(".".join([ROOT, *segments]))


@given(
    st.from_regex(r"[0-9A-HJ-NP-RTUW-Y]{18}[0-9]{3}", fullmatch=True),
    st.one_of(
        st.from_regex(r"[0-9A-HJ-NP-RTUW-Y]{18}", fullmatch=True),
        st.from_regex(r"[0-9]{6}", fullmatch=True),
    ),
    st.from_regex(r"[0-9A-Z]{1,32}", fullmatch=True),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
)
def test_print_parse_round_trip(type_code: str, agency: str, serial: str, version: str) -> None:
    ident = LicenceIdentifier(type_code, agency, serial, version)
    assert LicenceIdentifier.parse(str(ident)) == ident
    assert LicenceIdentifier.from_jti(type_code, agency, ident.jti) == ident


_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@given(st.text(_CHARS, max_size=60), st.text(_CHARS, max_size=40))
def test_the_resumable_check_character_is_stdnums(prefix: str, rest: str) -> None:
    """trust.identifiers computes MOD 37,36 itself so that it can resume after an agency's
    prefix (issue 13); python-stdnum's answer is the reference, for any split of any text."""
    from stdnum.iso7064 import mod_37_36

    from trust.identifiers import check_character

    assert check_character(prefix, rest) == mod_37_36.calc_check_digit(prefix + rest)
    assert check_character(prefix, rest) == check_character(prefix, rest)  # the cached state


def test_the_check_character_refuses_a_character_outside_its_alphabet() -> None:
    from trust.identifiers import check_character

    with pytest.raises(KeyError):
        check_character("11100000000013338W032", "ab")
