"""``ecert verifier``: roles are listed; a city outside any federation cannot register a
counter (a counter is a federation leaf), and says so in one line, Chinese first."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import ecert, ecert_many


def test_roles_list_and_a_counter_needs_a_federation(tmp_path: Path) -> None:
    where = ["--data-dir", str(tmp_path / "data")]
    made = ecert("init", *where, "--city-code", "330100", "--city-name", "杭州市")
    assert made.returncode == 0, made
    roles, refused = ecert_many(
        [
            ["verifier", "roles", *where, "--json"],
            ["verifier", "add", *where, "--name", "西湖宾馆前台", "--role", "hotel-desk"],
        ]
    )
    assert roles.returncode == 0, roles
    by_code = {r["code"]: r["may_request"] for r in roles.json()}
    assert by_code["hotel-desk"] == {"resident-eid": ["id_number_masked", "name", "sex"]}
    assert "id_number" in by_code["police-counter"]["resident-eid"]
    assert refused.returncode == 1, refused
    line = refused.one_error_line()
    assert "federation join" in line
