"""Constraints (§6.2): naming subtrees (host and URL-prefix forms), path length, entity types."""

from __future__ import annotations

from typing import Any

import pytest

from trust.federation_common import ConstraintViolation, MalformedStatement
from trust.federation_constraints import Constraints, NamingConstraints

HZ = "http://127.0.0.1:9101"
LEAF = "https://leaf.example"


@pytest.mark.parametrize(
    ("entry", "entity_id", "matches"),
    [
        # Our URL-prefix form: the id itself and everything below it on a '/' boundary.
        (HZ, HZ, True),
        (HZ, f"{HZ}/agencies/ag-1", True),
        (HZ, "http://127.0.0.1:9102/agencies/ag-1", False),
        (HZ, "http://127.0.0.1:91010", False),
        (HZ, "http://127.0.0.1:9101-evil.example", False),
        (f"{HZ}/agencies", f"{HZ}/agencies/ag-1", True),
        (f"{HZ}/agencies", f"{HZ}/agencies-evil/ag-1", False),
        (f"{HZ}/agencies", HZ, False),
        ("https://hz.example", "http://hz.example", False),
        # §6.2.2 / RFC 5280 host forms.
        ("hz.example", "https://hz.example/agencies/a", True),
        ("hz.example", "https://a.hz.example", False),
        (".hz.example", "https://a.hz.example", True),
        (".hz.example", "https://a.b.hz.example", True),
        (".hz.example", "https://hz.example", False),
        (".hz.example", "https://evilhz.example", False),
        ("127.0.0.1", "http://127.0.0.1:9102", True),
    ],
)
def test_naming_subtree_matching(entry: str, entity_id: str, matches: bool) -> None:
    permitted = NamingConstraints(permitted=(entry,))
    excluded = NamingConstraints(excluded=(entry,))
    assert (permitted.violation(entity_id) is None) is matches
    assert (excluded.violation(entity_id) is None) is not matches


def test_excluded_wins_over_permitted() -> None:
    naming = NamingConstraints(permitted=(".example",), excluded=("east.example",))
    assert naming.violation("https://west.example") is None
    assert naming.violation("https://east.example") == (
        "https://east.example is in the excluded subtree 'east.example'"
    )


@pytest.mark.parametrize(
    ("constraints", "subordinates", "types", "fragment"),
    [
        # §6.2.1's example: LE, I1, I2 below the TA.
        (Constraints(max_path_length=2), ["le", "i1", "i2"], [], None),
        (Constraints(max_path_length=1), ["le", "i1", "i2"], [], "expected at most 1"),
        (Constraints(max_path_length=0), ["le"], [], None),
        (Constraints(max_path_length=0), ["le", "i1"], [], "found 1 ['https://i1.example']"),
        (
            Constraints(naming_constraints=NamingConstraints(permitted=(".example",))),
            ["le", "i1"],
            [],
            None,
        ),
        (
            Constraints(naming_constraints=NamingConstraints(excluded=("i1.example",))),
            ["le", "i1"],
            [],
            "https://i1.example is in the excluded subtree",
        ),
        (
            Constraints(allowed_entity_types=frozenset({"ecert_issuer"})),
            ["le"],
            ["ecert_issuer"],
            None,
        ),
        (
            Constraints(allowed_entity_types=frozenset({"ecert_issuer"})),
            ["le"],
            ["ecert_issuer", "federation_entity"],
            None,
        ),
        (
            Constraints(allowed_entity_types=frozenset()),
            ["le"],
            ["ecert_verifier"],
            "has entity type(s) ['ecert_verifier'], expected only []",
        ),
    ],
    ids=[
        "TA max 2 over two intermediates",
        "TA max 1 over two intermediates",
        "max 0 directly above",
        "max 0 over one intermediate",
        "permitted domain",
        "excluded host",
        "allowed type",
        "federation_entity always allowed",
        "empty list allows only federation_entity",
    ],
)
def test_constraint_checks(
    constraints: Constraints, subordinates: list[str], types: list[str], fragment: str | None
) -> None:
    ids = [f"https://{s}.example" for s in subordinates]
    if fragment is None:
        constraints.check(setter="https://ta.example", subordinates=ids, subject_types=types)
        return
    with pytest.raises(ConstraintViolation) as info:
        constraints.check(setter="https://ta.example", subordinates=ids, subject_types=types)
    assert "set by https://ta.example" in str(info.value)
    assert fragment in str(info.value)


def test_claim_round_trip() -> None:
    claim = {
        "max_path_length": 1,
        "naming_constraints": {"permitted": [HZ, ".hz.example"], "excluded": ["x.hz.example"]},
        "allowed_entity_types": ["ecert_issuer", "ecert_verifier"],
    }
    assert Constraints.from_claim(claim).to_claim() == claim
    assert Constraints.from_claim({"unknown_constraint": 1}) == Constraints()


@pytest.mark.parametrize(
    ("claim", "fragment"),
    [
        ([], "constraints must be a JSON object"),
        ({"max_path_length": -1}, "max_path_length must be an integer from 0 to 8"),
        ({"max_path_length": True}, "max_path_length must be an integer"),
        ({"max_path_length": 1.0}, "max_path_length must be an integer"),
        ({"naming_constraints": []}, "naming_constraints must be a JSON object"),
        ({"naming_constraints": {"permitted": []}}, "must name at least one subtree"),
        ({"naming_constraints": {"permitted": "hz.example"}}, "must be an array"),
        ({"naming_constraints": {"excluded": ["HZ.example"]}}, "must be a host name"),
        ({"naming_constraints": {"excluded": ["a..example"]}}, "must be a host name"),
        ({"naming_constraints": {"permitted": ["http://hz.example"]}}, "http only on loopback"),
        ({"naming_constraints": {"permitted": [f"{HZ}/"]}}, "trailing '/'"),
        ({"allowed_entity_types": ["federation_entity"]}, "must not list federation_entity"),
        ({"allowed_entity_types": "ecert_issuer"}, "must be an array"),
    ],
)
def test_malformed_constraints(claim: Any, fragment: str) -> None:
    with pytest.raises(MalformedStatement) as info:
        Constraints.from_claim(claim)
    assert fragment in str(info.value)
