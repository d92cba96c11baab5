"""How old status data may be, as the type and role files set it (issue 11): shipped defaults,
every type and role bounded, and a file with a missing or unusable bound refused when it loads,
naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from issuers.credential_types import TypeRegistry
from issuers.verifier_roles import SHIPPED_ROLES, RoleTable
from tests.issuers.test_credential_types import shipped_files, write
from trust.errors import DataError
from trust.snapshot import MAX_STATUS_AGE

TYPES = TypeRegistry.load()
HOUR, DAY = 3600, 86_400


@pytest.mark.parametrize(
    ("code", "seconds"),
    [
        ("business-licence", DAY),  # offline at a kiosk for a day: a licence rarely changes
        ("food-business-permit", DAY),
        ("industrial-production-permit", DAY),
        ("drug-trading-permit", 12 * HOUR),
        ("driving-licence", HOUR),
        ("no-housing-proof", HOUR),
        ("resident-eid", 10 * 60),  # a resident e-ID at a counter: 10 minutes
    ],
)
def test_shipped_type_bounds(code: str, seconds: int) -> None:
    assert TYPES.get(code).max_status_age == seconds


def test_every_shipped_type_is_covered_above() -> None:
    assert len(TYPES) == 7


def test_shipped_role_bounds() -> None:
    roles = {r.code: r.max_status_age for r in RoleTable.load(TYPES)}
    assert roles == {
        "hotel-desk": HOUR, "police-counter": 10 * 60, "bank-counter": HOUR,
        "housing-office": HOUR,
    }  # fmt: skip


@pytest.mark.parametrize("value", [None, 0, -1, MAX_STATUS_AGE + 1, 1.5, "600", True], ids=repr)
def test_a_type_file_without_a_usable_bound_does_not_load(tmp_path: Path, value: Any) -> None:
    files = shipped_files()
    if value is None:
        del files["resident-eid"]["max_status_age_seconds"]
    else:
        files["resident-eid"]["max_status_age_seconds"] = value
    with pytest.raises(DataError, match=r"resident-eid\.json.*max_status_age_seconds"):
        TypeRegistry.load(write(tmp_path, files))


@pytest.mark.parametrize("value", [None, 0, MAX_STATUS_AGE + 1, "300", False], ids=repr)
def test_a_role_without_a_usable_bound_does_not_load(tmp_path: Path, value: Any) -> None:
    listed = json.loads(SHIPPED_ROLES.read_text(encoding="utf-8"))
    if value is None:
        del listed["roles"][1]["max_status_age_seconds"]
    else:
        listed["roles"][1]["max_status_age_seconds"] = value
    path = tmp_path / "roles.json"
    path.write_text(json.dumps(listed, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DataError, match=r"roles\.json: role police-counter: .*max_status_age"):
        RoleTable.load(TYPES, path)
