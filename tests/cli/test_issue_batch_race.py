"""Two ``ecert issue-batch`` runs of one register against one database: each row issued once.

Issue 8 ("Many processes, one city"): the same register run twice at once against one
PostgreSQL issued 39,000 credentials for 20,000 rows (30,000 when started 1.5 s apart), both
runs exiting 0. Here a register is run twice, together and 1.5 s apart (with rows enough that
the first run is still issuing when the second starts), by real
``ecert`` processes sharing one data directory and one database (PostgreSQL, and SQLite, which
serialises its writers). Both runs must exit 0 with honest counts (what one issued the other
skipped) and the database must hold exactly one credential per row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.cli.conftest import AGENCY_NAME, AGENCY_USCC, CityTemplate, copy_city
from tests.cli.helpers import database_env, ecert, ecert_many
from tests.cli.test_issue_batch import register, summary, write_csv
from tests.conftest import PG_ENV, PG_HOW, pg_database

pytestmark = pytest.mark.slow

ROWS = 3000  # started together
ROWS_APART = 6000  # started 1.5 s apart: the first run takes about 8 s


@dataclass(frozen=True)
class SharedCity:
    """One city's data directory and database, used by several ``ecert`` processes at once."""

    data_dir: Path
    database_url: str
    agency_id: str

    @property
    def env(self) -> dict[str, str]:
        return database_env(self.database_url)

    def batch(self, path: Path) -> list[str]:
        return ["issue-batch", str(path), "--data-dir", str(self.data_dir),
                "--agency", self.agency_id, "--type", "business-licence", "--json"]  # fmt: skip

    def stored(self, path: Path) -> tuple[int, int]:
        """(credentials, distinct rows) issued from the register at ``path``."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                found = conn.execute(
                    text(
                        "SELECT count(*), count(DISTINCT batch_ref) FROM credentials "
                        "WHERE batch_ref LIKE :prefix"
                    ),
                    {"prefix": f"{path.name}:%"},
                ).one()
        finally:
            engine.dispose()
        return int(found[0]), int(found[1])


@pytest.fixture(params=["sqlite", "postgres"])
def shared_city(
    request: pytest.FixtureRequest, city_template: CityTemplate, tmp_path: Path
) -> Iterator[SharedCity]:
    if request.param == "sqlite":
        city = copy_city(city_template, tmp_path / "data")
        yield SharedCity(city.data_dir, f"sqlite:///{city.data_dir / 'gateway.db'}", city.agency_id)
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_HOW)
    with pg_database(base) as url:
        data_dir = tmp_path / "data"
        env = {"ECERT_DATABASE_URL": url}
        where = ["--data-dir", str(data_dir)]
        made = ecert("init", *where, "--city-code", "330100", "--city-name", "杭州市", env=env)
        assert made.returncode == 0, made
        agency = ecert(
            "agency", "add", *where, "--name", AGENCY_NAME, "--uscc", AGENCY_USCC,
            "--types", "business-licence", "--json", env=env,
        )  # fmt: skip
        assert agency.returncode == 0, agency
        yield SharedCity(data_dir, url, agency.json()["id"])


@pytest.mark.parametrize(
    ("gap", "rows"), [(0.0, ROWS), (1.5, ROWS_APART)], ids=["together", "1.5s-apart"]
)
def test_two_runs_of_one_register_issue_each_row_once(
    shared_city: SharedCity, gap: float, rows: int, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "营业执照-2026-12.csv", register(rows, series="R"))
    first, second = ecert_many(
        [shared_city.batch(path), shared_city.batch(path)], env=shared_city.env, stagger=gap
    )
    counts = [summary(first), summary(second)]
    assert [c["rows"] for c in counts] == [rows, rows]
    assert [c["issued"] + c["skipped"] for c in counts] == [rows, rows]
    assert counts[0]["issued"] + counts[1]["issued"] == rows, counts
    assert shared_city.stored(path) == (rows, rows)
