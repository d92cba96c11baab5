"""The verifier role table: what each role may request, checked against the types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from issuers.credential_types import TypeRegistry
from issuers.verifier_roles import RoleTable
from trust.errors import DataError, FieldError

TYPES = TypeRegistry.load()


def test_shipped_roles_load_and_say_what_they_may_request() -> None:
    table = RoleTable.load(TYPES)
    hotel = table.get("hotel-desk")
    hotel.check_request("resident-eid", ["name"])
    police = table.get("police-counter")
    police.check_request("resident-eid", ["name", "id_number"])
    # A business licence's fields are public, in plain view: a bank asks a delegate for them.
    table.get("bank-counter").check_request("business-licence", ["name", "uscc"])


@pytest.mark.parametrize(
    ("role", "ctype", "fields", "field"),
    [
        ("hotel-desk", "resident-eid", ["name", "id_number"], "fields"),
        ("hotel-desk", "driving-licence", ["name"], "type"),
        ("hotel-desk", "resident-eid", [], "fields"),
    ],
    ids=["more-fields-than-the-role", "a-type-the-role-may-not-ask", "nothing"],
)
def test_a_request_beyond_the_role_is_refused(
    role: str, ctype: str, fields: list[str], field: str
) -> None:
    with pytest.raises(FieldError) as refused:
        RoleTable.load(TYPES).get(role).check_request(ctype, fields)
    assert refused.value.errors[0]["field"] == field
    assert refused.value.errors[0]["code"] == "not_allowed_by_role"


@pytest.mark.parametrize(
    "may_request",
    [
        {"resident-eid": ["tattoos"]},
        {"business-licence": ["name", "tattoos"]},
        {"no-such-type": ["name"]},
        {},
    ],
    ids=["unknown-field", "unknown-public-field", "unknown-type", "nothing"],
)
def test_a_role_that_asks_for_what_no_wallet_discloses_does_not_load(
    tmp_path: Path, may_request: dict[str, list[str]]
) -> None:
    path = tmp_path / "roles.json"
    role = {"code": "x", "name": {"zh": "某", "en": "x"}, "may_request": may_request}
    path.write_text(json.dumps({"roles": [role]}))
    with pytest.raises(DataError):
        RoleTable.load(TYPES, path)
