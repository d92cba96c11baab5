"""Fixtures for the ``ecert`` end-to-end tests.

``city_template`` is built once per session with the CLI itself, exactly as the README's
"CLI only" walk-through does it (``ecert init``, ``ecert agency add --json``, ``ecert issue
--json``); the results are kept so the contract tests can assert on them. ``city`` gives each
test its own copy of that data directory under its ``tmp_path``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import Result, ecert
from tests.issuers.samples import SAMPLE_SUBJECTS

CITY_CODE = "330100"
CITY_NAME = "杭州市"
AGENCY_NAME = "杭州市市场监督管理局"
AGENCY_USCC = "11330100MB1958123M"
AGENCY_TYPES = ("business-licence", "food-business-permit")
LICENCE = SAMPLE_SUBJECTS["business-licence"]


@dataclass(frozen=True)
class CityTemplate:
    data_dir: Path
    init: Result
    agency_add: Result
    issue: Result


@dataclass(frozen=True)
class City:
    """A data directory with one city, one agency (one ES256 key) and one issued licence."""

    data_dir: Path
    agency: dict[str, Any]  # `ecert agency add --json` output, with the API key
    credential: dict[str, Any]  # `ecert issue --json` output

    @property
    def agency_id(self) -> str:
        return str(self.agency["id"])

    @property
    def kid(self) -> str:
        """The full ``kid`` of the key that signed the licence (its token carries a short one)."""
        ((kid,),) = self.query("SELECT kid FROM credentials WHERE id = ?", self.credential["id"])
        return str(kid)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the data directory's SQLite database (read-only)."""
        db = f"file:{self.data_dir / 'gateway.db'}?mode=ro"
        with closing(sqlite3.connect(db, uri=True)) as conn:
            return conn.execute(sql, params).fetchall()

    def args(self) -> list[str]:
        return ["--data-dir", str(self.data_dir)]


@pytest.fixture(scope="session")
def city_template(tmp_path_factory: pytest.TempPathFactory) -> CityTemplate:
    data_dir = tmp_path_factory.mktemp("template") / "data"
    where = ["--data-dir", str(data_dir)]
    init = ecert("init", *where, "--city-code", CITY_CODE, "--city-name", CITY_NAME)
    assert init.returncode == 0, init
    agency_add = ecert(
        "agency", "add", *where, "--name", AGENCY_NAME, "--uscc", AGENCY_USCC,
        "--types", ",".join(AGENCY_TYPES), "--json",
    )  # fmt: skip
    assert agency_add.returncode == 0, agency_add
    issue = ecert(
        "issue", *where, "--agency", agency_add.json()["id"], "--type", "business-licence",
        "--subject", json.dumps(LICENCE, ensure_ascii=False), "--json",
    )  # fmt: skip
    assert issue.returncode == 0, issue
    return CityTemplate(data_dir, init, agency_add, issue)


def copy_city(template: CityTemplate, dest: Path) -> City:
    shutil.copytree(template.data_dir, dest)
    return City(dest, template.agency_add.json(), template.issue.json())


@pytest.fixture
def city(city_template: CityTemplate, tmp_path: Path) -> City:
    return copy_city(city_template, tmp_path / "data")
