"""One city, one public URL: the database's, whatever process serves it (issue 8, "one city").

Before, each ``ecert serve`` wrote its own ``http://HOST:PORT`` (or ``--public-url``) into the
shared city row, so every QR code pointed at whichever process had started last, and status
lists kept whatever URL the row held when they were made. Now the URL is set by ``ecert init``
and changed only by ``ecert city set-url``; ``serve`` checks ``--public-url`` /
``ECERT_PUBLIC_URL`` against it and refuses to start when they differ.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.cli.conftest import AGENCY_NAME, AGENCY_USCC, City, CityTemplate, copy_city
from tests.cli.helpers import (
    Result,
    Served,
    database_env,
    ecert,
    ecert_many,
    free_port,
    outcome,
    side_by_side,
)
from tests.conftest import PG_ENV, PG_HOW, pg_database
from tests.gateway.holders import fresh_licence

pytestmark = pytest.mark.slow

DEFAULT_URL = "http://127.0.0.1:8000"  # what `ecert init` stores without --public-url
CONFIGURED = "https://ecert.hangzhou.example.cn"


def status_uri(token: str) -> str:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return str(claims["status"]["status_list"]["uri"])


@dataclass(frozen=True)
class SharedCity:
    data_dir: Path
    database_url: str
    public_url: str
    api_key: str

    @property
    def env(self) -> dict[str, str]:
        return database_env(self.database_url)

    def stored_url(self) -> str:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return str(conn.execute(text("SELECT public_url FROM city")).scalar_one())
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def shared_city(
    request: pytest.FixtureRequest, city_template: CityTemplate, tmp_path: Path
) -> Iterator[SharedCity]:
    if request.param == "sqlite":
        city = copy_city(city_template, tmp_path / "data")
        db = f"sqlite:///{city.data_dir / 'gateway.db'}"
        yield SharedCity(city.data_dir, db, DEFAULT_URL, city.agency["api_key"])
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_HOW)
    with pg_database(base) as url:
        where, env = ["--data-dir", str(tmp_path / "data")], {"ECERT_DATABASE_URL": url}
        made = ecert("init", *where, "--city-code", "330100", "--public-url", CONFIGURED, env=env)
        assert made.returncode == 0, made
        agency = ecert(
            "agency", "add", *where, "--name", AGENCY_NAME, "--uscc", AGENCY_USCC,
            "--types", "business-licence", "--json", env=env,
        )  # fmt: skip
        assert agency.returncode == 0, agency
        yield SharedCity(tmp_path / "data", url, CONFIGURED, agency.json()["api_key"])


def test_two_servers_of_one_city_print_the_one_url_it_has(
    shared_city: SharedCity, tmp_path: Path
) -> None:
    args = ["serve", "--data-dir", str(shared_city.data_dir)]
    auth = {"Authorization": f"Bearer {shared_city.api_key}"}
    with (
        Served(args, tmp_path, env=shared_city.env) as first,
        Served(args, tmp_path, env=shared_city.env) as second,
    ):
        for served in (first, second):
            body = {"type": "business-licence", "subject": fresh_licence()}  # a holder each
            answer = httpx.post(
                f"{served.url}/api/v1/credentials", json=body, headers=auth, timeout=30
            )
            assert answer.status_code == 201, answer.text
            issued = answer.json()
            assert issued["qr_text"].startswith(f"{shared_city.public_url}/v#"), served.url
            assert status_uri(issued["token"]).startswith(f"{shared_city.public_url}/statuslists/")
        for served in (first, second):
            assert f"gateway on {served.url}" in served.output()
            assert f"public URL {shared_city.public_url}" in served.output()
    assert shared_city.stored_url() == shared_city.public_url


@pytest.fixture(scope="module")
def refusals(
    city_template: CityTemplate, tmp_path_factory: pytest.TempPathFactory
) -> tuple[City, dict[str, Result]]:
    city = copy_city(city_template, tmp_path_factory.mktemp("refusals") / "data")
    serve = ["serve", *city.args(), "--host", "127.0.0.1", "--port", str(free_port())]
    init = ["init", *city.args(), "--city-code", "330100"]
    commands = {
        "env differs": (serve, {"ECERT_PUBLIC_URL": CONFIGURED}),
        "flag differs": ([*serve, "--public-url", "http://127.0.0.1:8001"], {}),
        "not http": ([*serve, "--public-url", "ftp://ecert.hangzhou.example.cn"], {}),
        "query": (serve, {"ECERT_PUBLIC_URL": f"{CONFIGURED}/?city=hz"}),
        "init again": ([*init, "--public-url", CONFIGURED], {}),
    }
    with side_by_side(
        {name: (lambda a=args, e=env: ecert(*a, env=e)) for name, (args, env) in commands.items()}
    ) as runs:
        return city, {name: outcome(runs, name) for name in commands}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("env differs", [CONFIGURED, DEFAULT_URL, "ecert city set-url"]),
        ("flag differs", ["http://127.0.0.1:8001", DEFAULT_URL, "ecert city set-url"]),
        ("not http", ["https:// or http://", "'ftp://ecert.hangzhou.example.cn'"]),
        ("query", ["without a query or fragment", "?city=hz"]),
        ("init again", [CONFIGURED, DEFAULT_URL, "ecert city set-url"]),
    ],
)
def test_a_url_that_is_not_the_citys_is_refused_with_one_clear_line(
    refusals: tuple[City, dict[str, Result]], case: str, expected: list[str]
) -> None:
    city, results = refusals
    line = results[case].one_error_line()
    for part in expected:
        assert part in line, line
    assert re.search("[\u4e00-\u9fff]", line), line  # zh-CN beside English
    assert city.query("SELECT public_url FROM city") == [(DEFAULT_URL,)]


def test_set_url_moves_new_qr_codes_and_status_lists_to_the_new_url(city: City) -> None:
    changed = ecert("city", "set-url", f"{CONFIGURED}/", *city.args())
    assert changed.returncode == 0, changed
    assert CONFIGURED in changed.stdout
    shown, issued = ecert_many(
        [
            ["city", "show", *city.args(), "--json"],
            ["issue", *city.args(), "--agency", city.agency_id, "--type", "business-licence",
             "--subject", json.dumps(fresh_licence(), ensure_ascii=False), "--json"],
        ]
    )  # fmt: skip
    assert shown.returncode == 0, shown
    assert shown.json()["public_url"] == CONFIGURED
    assert issued.returncode == 0, issued
    assert issued.json()["qr_text"].startswith(f"{CONFIGURED}/v#")
    assert status_uri(issued.json()["token"]).startswith(f"{CONFIGURED}/statuslists/")
    # The licence issued before the change keeps the list its token names.
    assert status_uri(city.credential["token"]).startswith(f"{DEFAULT_URL}/statuslists/")
