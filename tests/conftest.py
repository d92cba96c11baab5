"""Shared fixtures: a gateway on SQLite (always) and on PostgreSQL (when configured).

PostgreSQL tests run whenever ``ECERT_TEST_DATABASE_URL`` is set (``.ci/run`` sets it); each
test session creates its own throw-away database on that server and drops it at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from gateway import agencies
from gateway.core import Gateway
from gateway.models import Base
from gateway.settings import Settings
from loadtests.common import throwaway_database

if TYPE_CHECKING:
    from tests.gateway.trustmark_helpers import Desk

PG_ENV = "ECERT_TEST_DATABASE_URL"
PG_HOW = (
    f"PostgreSQL tests need {PG_ENV}, e.g. "
    f"{PG_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/test (.ci/run sets it)"
)
START = 1_790_000_000  # 2026-09-21, a fixed 'now' for deterministic tests
PASSPHRASE = "test-passphrase-for-unit-tests"


class FakeClock:
    def __init__(self, now: int = START) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str | None]:
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    with pg_database(base) as url:
        yield url


@contextmanager
def pg_database(base: str) -> Iterator[str]:
    """A new, empty database on the server of ``base`` (dropped afterwards); yields its URL."""
    with throwaway_database(base, "ecert_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own for one test, with no tables yet: SQLite, or a new PostgreSQL one."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_HOW)
    with pg_database(base) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_server_url: str | None) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    if pg_server_url is None:
        pytest.skip(PG_HOW)
    return pg_server_url


def truncate_all(gw: Gateway) -> None:
    """Empty every table of a gateway on the suite's shared PostgreSQL database (SQLite files
    are the test's own and go with it)."""
    if gw.engine.dialect.name != "postgresql":
        return
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with gw.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gw(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Gateway]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        key_passphrase=PASSPHRASE,
        public_url=None,
        status_list_size=4096,
    )
    gateway = Gateway.open(settings, clock=clock)
    truncate_all(gateway)
    agencies.init_city(
        gateway,
        code="330100",
        name="杭州市",
        public_url="https://ecert.hangzhou.gov.cn",
        actor="test",
    )
    try:
        yield gateway
    finally:
        truncate_all(gateway)
        gateway.close()


@dataclass(frozen=True)
class Agency:
    id: str
    api_key: str
    uscc: str


def make_agency(gw: Gateway, *, name: str, uscc: str, types: list[str]) -> Agency:
    row, key = agencies.add_agency(gw, name=name, uscc=uscc, types=types, actor="test")
    return Agency(id=row.id, api_key=key, uscc=row.uscc)


@pytest.fixture
def amr(gw: Gateway) -> Agency:
    from stdnum.cn import uscc

    code = "11330100MB1958123"
    return make_agency(
        gw,
        name="杭州市市场监督管理局",
        uscc=code + uscc.calc_check_digit(code),
        types=["business-licence", "food-business-permit", "industrial-production-permit"],
    )


@pytest.fixture
def psb(gw: Gateway) -> Agency:
    from stdnum.cn import uscc

    code = "11330100002490365"
    return make_agency(
        gw,
        name="杭州市公安局",
        uscc=code + uscc.calc_check_digit(code),
        types=["resident-eid", "driving-licence"],
    )


@pytest.fixture
def desk(tmp_path: Path, clock: FakeClock) -> Iterator[Desk]:
    """A hotel desk of 杭州 under 长三角's anchor, ready to be granted a role by a trust mark
    (``tests.gateway.trustmark_helpers.Desk``): shared by the gateway's, the wallet's and the
    interop trust mark tests."""
    from tests.gateway.trustmark_helpers import hotel_desk  # it imports this module

    with hotel_desk(tmp_path, clock) as made:
        yield made
