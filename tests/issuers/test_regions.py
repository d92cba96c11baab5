"""GB/T 2260 region table: shipped coverage, validity dates, lookups and malformed tables."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from issuers.regions import (
    HISTORY_FROM,
    SHIPPED_TABLE,
    Region,
    RegionCodeError,
    RegionTable,
)
from trust.errors import DataError, FetchError

HEADER = "code,name_zh,name_en,level,valid_from,valid_to\n"


@pytest.fixture(scope="module")
def table() -> RegionTable:
    return RegionTable.load()


def test_load_is_cached(table: RegionTable) -> None:
    assert RegionTable.load() is table
    assert RegionTable.load(SHIPPED_TABLE) is table


def test_every_province_level_division_is_present(table: RegionTable) -> None:
    provinces = [r for r in table if r.level == "province"]
    assert len(provinces) == 34  # 23 provinces, 5 autonomous regions, 4 municipalities, 2 SARs
    assert all(r.valid_to is None for r in provinces)


# Prefecture-level cities per province, current on the day these tests were written.
PREFECTURES = {"13": 11, "32": 13, "33": 11, "34": 16}


@pytest.mark.parametrize(("province", "count"), PREFECTURES.items(), ids=PREFECTURES.keys())
def test_prefecture_cities_of_covered_provinces(
    table: RegionTable, province: str, count: int
) -> None:
    current = [
        r
        for r in table
        if r.level == "prefecture" and r.code.startswith(province) and r.valid_to is None
    ]
    assert len(current) == count


G60_AND_JINGJIN = {
    "上海松江": ("310117", "松江区", "上海市松江区"),
    "苏州": ("320500", "苏州市", "江苏省苏州市"),
    "嘉兴": ("330400", "嘉兴市", "浙江省嘉兴市"),
    "湖州": ("330500", "湖州市", "浙江省湖州市"),
    "杭州": ("330100", "杭州市", "浙江省杭州市"),
    "金华": ("330700", "金华市", "浙江省金华市"),
    "合肥": ("340100", "合肥市", "安徽省合肥市"),
    "宣城": ("341800", "宣城市", "安徽省宣城市"),
    "芜湖": ("340200", "芜湖市", "安徽省芜湖市"),
    "北京": ("110000", "北京市", "北京市"),
    "北京市辖区": ("110100", "市辖区", "北京市"),
    "天津": ("120000", "天津市", "天津市"),
    "天津市辖区": ("120100", "市辖区", "天津市"),
}


@pytest.mark.parametrize(
    ("code", "name", "full_name"), G60_AND_JINGJIN.values(), ids=G60_AND_JINGJIN.keys()
)
def test_demo_cities_are_valid_today(
    table: RegionTable, code: str, name: str, full_name: str
) -> None:
    region = table.lookup(code, on=date(2025, 6, 1))
    assert region.name_zh == name
    assert table.full_name_zh(region) == full_name


ABOLISHED = {
    "杭州下城区": ("330103", "下城区", date(2021, 4, 9)),
    "杭州江干区": ("330104", "江干区", date(2021, 4, 9)),
    "地级巢湖市": ("341400", "巢湖市", date(2011, 8, 22)),
    "巢湖地区": ("342600", "巢湖地区", date(1999, 7, 9)),
}


@pytest.mark.parametrize(("code", "name", "abolished"), ABOLISHED.values(), ids=ABOLISHED.keys())
def test_abolished_codes(table: RegionTable, code: str, name: str, abolished: date) -> None:
    latest = table.lookup(code)  # without a date: the latest version, abolished or not
    assert (latest.name_zh, latest.valid_to) == (name, abolished)
    with pytest.raises(RegionCodeError) as caught:
        table.lookup(code, on=abolished)  # valid_to is exclusive
    assert caught.value.reason == "abolished"
    assert caught.value.changed_on == abolished
    assert f"region code {code} ({name}) was abolished on {abolished}" in str(caught.value)


def test_abolished_code_was_valid_the_day_before(table: RegionTable) -> None:
    assert table.lookup("330103", on=date(2021, 4, 8)).name_zh == "下城区"
    assert table.lookup("341400", on=date(2011, 8, 21)).name_zh == "巢湖市"


CREATED = {
    "临平区": ("330113", date(2021, 4, 9)),
    "钱塘区": ("330114", date(2021, 4, 9)),
    "县级巢湖市": ("340181", date(2011, 8, 22)),
}


@pytest.mark.parametrize(("code", "created"), CREATED.values(), ids=CREATED.keys())
def test_new_codes_are_valid_from_their_creation(
    table: RegionTable, code: str, created: date
) -> None:
    assert table.lookup(code, on=created).valid_from == created
    with pytest.raises(RegionCodeError, match=f"was created on {created}") as caught:
        table.lookup(code, on=date.fromordinal(created.toordinal() - 1))
    assert caught.value.reason == "not_yet_created"


LOOKUP_ERRORS = {
    "unknown_code": ("510100", None, "unknown", "510100 is not a known GB/T 2260 code"),
    "five_digits": ("33010", None, "malformed", "has 6 digits, found '33010'"),
    "letters": ("33O100", None, "malformed", "has 6 digits"),
    "before_recorded_history": (
        "330100",
        date(1995, 1, 1),
        "before_history",
        f"records validity from {HISTORY_FROM} only",
    ),
}


@pytest.mark.parametrize(
    ("code", "on", "reason", "message"), LOOKUP_ERRORS.values(), ids=LOOKUP_ERRORS.keys()
)
def test_lookup_errors(
    table: RegionTable, code: str, on: date | None, reason: str, message: str
) -> None:
    with pytest.raises(RegionCodeError) as caught:
        table.lookup(code, on=on)
    assert caught.value.reason == reason
    assert message in str(caught.value)
    assert isinstance(caught.value, DataError)


def test_lookup_refuses_non_text(table: RegionTable) -> None:
    with pytest.raises(RegionCodeError, match="found int"):
        table.lookup(330100)  # type: ignore[arg-type]


def test_shipped_rows_are_consistent(table: RegionTable) -> None:
    for region in table:
        assert region.level in ("province", "prefecture", "county")
        if region.level != "province":
            assert region.province_code in table, region.code
        assert region.name_zh
        assert region.name_en.isascii(), region.code


# --- building tables from CSV text -----------------------------------------------------------


def test_a_code_can_change_name_over_time() -> None:
    # A made-up rename, to test the mechanism (real renames are in the shipped table).
    text = HEADER + (
        "320800,旧名市,Old Name,prefecture,,2010-02-01\n"
        "320800,新名市,New Name,prefecture,2010-02-01,\n"
    )
    table = RegionTable.from_csv_text(text)
    assert table.lookup("320800", on=date(2010, 1, 31)).name_zh == "旧名市"
    assert table.lookup("320800", on=date(2010, 2, 1)).name_zh == "新名市"
    assert table.lookup("320800").name_zh == "新名市"
    assert len(table) == 1


BAD_TABLES = {
    "wrong_header": ("code,name\n110000,北京市\n", "expected the header"),
    "short_row": (HEADER + "110000,北京市,Beijing,province\n", "line 2: expected 6 columns"),
    "bad_code": (HEADER + "11000,北京市,Beijing,province,,\n", "line 2: a region code has 6"),
    "bad_level": (HEADER + "110000,北京市,Beijing,city,,\n", "region level must be one of"),
    "level_disagrees_with_code": (
        HEADER + "110100,市辖区,Beijing,province,,\n",
        "has the shape of a prefecture-level code",
    ),
    "bad_date": (HEADER + "110000,北京市,Beijing,province,2001-13-01,\n", "is not a real date"),
    "slashed_date": (HEADER + "110000,北京市,Beijing,province,2001/01/01,\n", "YYYY-MM-DD"),
    "ends_before_it_starts": (
        HEADER + "110000,北京市,Beijing,province,2002-01-01,2001-01-01\n",
        "must be before valid_to",
    ),
    "missing_english_name": (HEADER + "110000,北京市,,province,,\n", "an English name"),
    "two_open_versions": (
        HEADER + "110000,北京市,Beijing,province,,\n110000,北平市,Beiping,province,,\n",
        "overlapping versions",
    ),
    "overlapping_dates": (
        HEADER
        + "110000,北京市,Beijing,province,,2010-01-01\n"
        + "110000,北平市,Beiping,province,2009-01-01,\n",
        "overlapping versions",
    ),
}


@pytest.mark.parametrize(("text", "message"), BAD_TABLES.values(), ids=BAD_TABLES.keys())
def test_bad_tables_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        RegionTable.from_csv_text(text, source="test.csv")
    assert str(caught.value).startswith("test.csv")
    assert message in str(caught.value)


def test_unreadable_table_is_a_fetch_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="cannot read the region table"):
        RegionTable.load(tmp_path / "missing.csv")


def test_region_checks_itself_when_built() -> None:
    with pytest.raises(DataError, match="6 digits"):
        Region(code="1", name_zh="x", name_en="x", level="county")
