"""``ecert credentials list|show`` and ``ecert types`` (issue 12), run as a user runs them, on the
data directory's SQLite and on PostgreSQL; ``--code`` refused where suspend does not set it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import uscc

from tests.cli.conftest import AGENCY_NAME, AGENCY_USCC, LICENCE, CityTemplate, copy_city
from tests.cli.helpers import Result, database_env, ecert
from tests.conftest import PG_ENV, PG_HOW, pg_database


@dataclass(frozen=True)
class Place:
    """A data directory (and its database) with one agency that issued one licence."""

    data_dir: Path
    env: dict[str, str]
    agency_id: str
    first_id: str

    def run(self, *args: str) -> Result:
        return ecert(*args, "--data-dir", str(self.data_dir), env=self.env)

    def issue(self, n: int) -> str:
        first17 = f"9133010{n:010d}"
        subject = {**LICENCE, "name": f"西湖测试{n:02d}有限公司",
                   "uscc": first17 + uscc.calc_check_digit(first17)}  # fmt: skip
        made = self.run(
            "issue", "--agency", self.agency_id, "--type", "business-licence",
            "--subject", json.dumps(subject, ensure_ascii=False), "--json",
        )  # fmt: skip
        assert made.returncode == 0, made
        return str(made.json()["id"])


@pytest.fixture(params=["sqlite", "postgres"])
def place(
    request: pytest.FixtureRequest, city_template: CityTemplate, tmp_path: Path
) -> Iterator[Place]:
    if request.param == "sqlite":
        city = copy_city(city_template, tmp_path / "data")
        yield Place(city.data_dir, {}, city.agency_id, str(city.credential["id"]))
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_HOW)
    with pg_database(base) as url:
        env, where = database_env(url), ["--data-dir", str(tmp_path / "data")]
        made = ecert("init", *where, "--city-code", "330100", "--city-name", "杭州市", env=env)
        assert made.returncode == 0, made
        agency = ecert(
            "agency", "add", *where, "--name", AGENCY_NAME, "--uscc", AGENCY_USCC,
            "--types", "business-licence,food-business-permit", "--json", env=env,
        )  # fmt: skip
        assert agency.returncode == 0, agency
        place = Place(tmp_path / "data", env, agency.json()["id"], "")
        yield Place(place.data_dir, env, place.agency_id, place.issue(99))


def test_list_shows_a_table_and_json_that_parses(place: Place) -> None:
    table = place.run("credentials", "list", "--agency", place.agency_id)
    assert table.returncode == 0, table
    header, *rows = table.stdout.splitlines()
    assert header.split()[:4] == ["编号", "id", "类型", "type"]
    assert len(rows) == 1
    assert rows[0].startswith(place.first_id)
    assert "营业执照" in rows[0]
    assert "01 有效" in rows[0]
    listed = place.run("credentials", "list", "--agency", place.agency_id, "--json").json()
    assert [c["id"] for c in listed["items"]] == [place.first_id]
    assert listed["next_cursor"] is None
    assert listed["items"][0]["type_name"] == {"zh": "营业执照", "en": "Business licence"}


def test_list_pages_and_filters(place: Place) -> None:
    made = [place.issue(n) for n in range(3)]
    everything = {place.first_id, *made}
    seen: list[str] = []
    args = ["credentials", "list", "--agency", place.agency_id, "--limit", "3", "--json"]
    page = place.run(*args).json()
    seen += [c["id"] for c in page["items"]]
    table = place.run(*args[:-1])
    assert f"--cursor {page['next_cursor']}" in table.stdout  # the table says how to go on
    page = place.run(*args, "--cursor", page["next_cursor"]).json()
    seen += [c["id"] for c in page["items"]]
    assert page["next_cursor"] is None
    assert sorted(seen) == sorted(everything)
    assert place.run("suspend", made[1], "--reason", "核查").returncode == 0
    only = ["credentials", "list", "--agency", place.agency_id, "--json"]
    assert [c["id"] for c in place.run(*only, "--status", "suspended").json()["items"]] == [made[1]]
    found = place.run(*only, "-q", "西湖测试01").json()["items"]
    assert [c["id"] for c in found] == [made[1]]
    assert place.run(*only, "--type", "food-business-permit").json()["items"] == []
    assert place.run(*only, "--issued-to", "2000-01-01").json()["items"] == []


def test_show_gives_metadata_status_history_and_the_qr_text(place: Place) -> None:
    cid = place.first_id
    assert place.run("suspend", cid, "--reason", "经营异常").returncode == 0
    assert place.run("reinstate", cid, "--reason", "已整改").returncode == 0
    shown = place.run("credentials", "show", cid)
    assert shown.returncode == 0, shown
    detail = place.run("credentials", "show", cid, "--json").json()
    assert f"证照标识 licence_identifier: {detail['identifier']}" in shown.stdout
    assert "证照状态 status: 01 有效 valid" in shown.stdout
    assert detail["qr_text"] in shown.stdout
    history = detail["status_history"]
    assert [(c["action"], c["code"], c["reason"], c["actor"]) for c in history] == [
        ("suspend", "02", "经营异常", "cli"),
        ("reinstate", "01", "已整改", "cli"),
    ]
    assert f"{history[0]['at']}  suspend  02 暂扣  cli  原因 reason：经营异常" in shown.stdout
    other = place.run("credentials", "show", cid, "--agency", "ag-someoneelse")
    assert "无权执行此操作" in other.one_error_line()


def test_types_lists_every_type_and_one_types_fields() -> None:
    """No data directory needed: the types ship with the gateway."""
    table = ecert("types")
    assert table.returncode == 0, table
    assert "food-business-permit" in table.stdout
    assert "食品经营许可证" in table.stdout
    everything = ecert("types", "--json").json()["types"]
    assert len(everything) == 7
    one = ecert("types", "food-business-permit", "--json").json()
    assert one["validity"]["printed_valid_until"] is True
    fields = ecert("types", "food-business-permit")
    (line,) = [x for x in fields.stdout.splitlines() if x.startswith("valid_until ")]
    assert line.split() == ["valid_until", "有效期至", "Valid", "until", "必填", "required",
                            "公开", "public"]  # fmt: skip
    unknown = ecert("types", "no-such-type").one_error_line()
    assert "no-such-type" in unknown


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--cursor", "abc"], "next_cursor"),
        (["--status", "gone"], "valid, suspended, revoked"),
        (["--issued-from", "2026-02-30"], "YYYY-MM-DD"),
    ],
)
def test_bad_list_input_is_one_zh_en_error_line(place: Place, args: list[str], said: str) -> None:
    line = place.run("credentials", "list", "--agency", place.agency_id, *args).one_error_line()
    assert said in line


def test_a_suspend_code_that_is_not_02_is_refused_and_changes_nothing(place: Place) -> None:
    refused = place.run("suspend", place.first_id, "--reason", "核查", "--code", "03")
    line = refused.one_error_line()
    assert "暂扣（suspend）的状态码应为 02 暂扣" in line
    assert "expected one of 02 (suspended) (or none) for suspend, found '03'" in line
    detail: dict[str, Any] = place.run("credentials", "show", place.first_id, "--json").json()
    assert (detail["status_code"], detail["status_history"]) == ("01", [])
    honoured = place.run("suspend", place.first_id, "--reason", "核查", "--code", "02", "--json")
    assert honoured.json()["status_code"] == "02"


def test_the_group_also_prints() -> None:
    """``ecert credentials print`` (cli/print_cmd.py) is wired into the group."""
    helped = ecert("credentials", "--help")
    assert helped.returncode == 0, helped
    assert [w for w in ("list", "show", "print") if w in helped.stdout] == ["list", "show", "print"]
    usage = ecert("credentials", "print", "--help")
    assert usage.returncode == 0, usage
    assert "--out" in usage.stdout
