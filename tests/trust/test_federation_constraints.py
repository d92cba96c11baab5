"""Constraints (§6.2): naming subtrees (§6.2.2 host names, our URL prefixes), path length, entity
types."""

from __future__ import annotations

from typing import Any

import pytest

from trust.federation.common import ConstraintViolation, MalformedStatement
from trust.federation.constraints import Constraints, NamingConstraints, UrlPrefixes

HZ = "http://127.0.0.1:9101"
LEAF = "https://leaf.example"


# §6.2.2 quotes RFC 5280 §4.2.1.10: "When the domain name constraint begins with a period, it
# MAY be expanded with one or more labels. [...] When the domain name constraint does not begin
# with a period, it specifies a host." It applies "to the host part of the URI".
HOST_CASES = [
    ("hz.example", "https://hz.example", True),
    ("hz.example", "https://hz.example/agencies/a", True),
    ("hz.example", "https://hz.example:8443/agencies/a", True),  # the host part only
    ("hz.example", "https://a.hz.example", False),  # a host, not a domain
    ("hz.example", "https://evilhz.example", False),
    ("hz.example", "https://hz.example.evil", False),
    (".hz.example", "https://a.hz.example", True),
    (".hz.example", "https://a.b.hz.example/agencies/x", True),
    (".hz.example", "https://hz.example", False),  # "not satisfied by" the domain itself
    (".hz.example", "https://evilhz.example", False),
    ("HZ.Example", "https://hz.example", True),  # DNS names compare case-insensitively
    (".Example", "https://hz.example", True),
    ("127.0.0.1", "http://127.0.0.1:9102", True),  # read leniently: an exact host
]
# Our ecert_url_prefixes: the id itself and everything below it on a '/' boundary.
PREFIX_CASES = [
    (HZ, HZ, True),
    (HZ, f"{HZ}/agencies/ag-1", True),
    (HZ, "http://127.0.0.1:9102/agencies/ag-1", False),
    (HZ, "http://127.0.0.1:91010", False),
    (HZ, "http://127.0.0.1:9101-evil.example", False),
    (f"{HZ}/agencies", f"{HZ}/agencies/ag-1", True),
    (f"{HZ}/agencies", f"{HZ}/agencies-evil/ag-1", False),
    (f"{HZ}/agencies", HZ, False),
    ("https://hz.example", "http://hz.example", False),
    ("https://hz.example", "https://hz.example/agencies/a", True),
    ("https://gov.example/hz", "https://gov.example/sz/agencies/a", False),  # hosts cannot
]


@pytest.mark.parametrize(("entry", "entity_id", "matches"), HOST_CASES)
def test_naming_constraints_match_host_names(entry: str, entity_id: str, matches: bool) -> None:
    permitted = NamingConstraints(permitted=(entry,))
    excluded = NamingConstraints(excluded=(entry,))
    assert (permitted.violation(entity_id) is None) is matches
    assert (excluded.violation(entity_id) is None) is not matches
    claim = Constraints.from_claim({"naming_constraints": {"permitted": [entry]}})
    assert claim.naming_constraints is not None
    assert (claim.naming_constraints.violation(entity_id) is None) is matches


@pytest.mark.parametrize(("entry", "entity_id", "matches"), PREFIX_CASES)
def test_url_prefixes_match_on_a_path_boundary(entry: str, entity_id: str, matches: bool) -> None:
    permitted = UrlPrefixes(permitted=(entry,))
    excluded = UrlPrefixes(excluded=(entry,))
    assert (permitted.violation(entity_id) is None) is matches
    assert (excluded.violation(entity_id) is None) is not matches
    claim = Constraints.from_claim({"ecert_url_prefixes": {"excluded": [entry]}})
    assert claim.url_prefixes is not None
    assert (claim.url_prefixes.violation(entity_id) is None) is not matches


@pytest.mark.parametrize(("entry", "entity_id", "matches"), PREFIX_CASES)
def test_url_prefixes_our_earlier_statements_put_in_naming_constraints_still_hold(
    entry: str, entity_id: str, matches: bool
) -> None:
    claim = Constraints.from_claim({"naming_constraints": {"permitted": [entry]}})
    assert claim.naming_constraints is not None
    assert (claim.naming_constraints.violation(entity_id) is None) is matches


def test_both_naming_forms_must_hold_and_name_their_claim() -> None:
    both = Constraints(
        naming_constraints=NamingConstraints(permitted=("gov.example",)),
        url_prefixes=UrlPrefixes(permitted=("https://gov.example/hz",)),
    )
    below = ["https://gov.example/hz/agencies/a"]
    both.check(setter="https://ta.example", subordinates=below, subject_types=[])
    for ids, fragment in (
        (["https://gov.example/sz/agencies/a"], "ecert_url_prefixes set by https://ta.example"),
        (["https://other.example/hz/agencies/a"], "naming_constraints set by https://ta.example"),
    ):
        with pytest.raises(ConstraintViolation) as info:
            both.check(setter="https://ta.example", subordinates=ids, subject_types=[])
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("entity_id", "claim"),
    [
        ("https://hz.example.cn", {"permitted": ["hz.example.cn"]}),
        ("https://gov.example.cn/hz", {"permitted": ["gov.example.cn"]}),
        ("http://localhost:9101", {"permitted": ["localhost"]}),
        ("http://127.0.0.1:9101", None),  # an IP literal is no domain name: nothing to say
        ("https://[2001:db8::1]", None),
    ],
)
def test_host_of_an_entity_id(entity_id: str, claim: dict[str, list[str]] | None) -> None:
    naming = NamingConstraints.host_of(entity_id)
    assert (None if naming is None else naming.to_claim()) == claim
    if naming is not None:
        assert naming.violation(f"{entity_id}/agencies/a") is None


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
        "naming_constraints": {"permitted": [".hz.example"], "excluded": ["x.hz.example"]},
        "allowed_entity_types": ["ecert_issuer", "ecert_verifier"],
        "ecert_url_prefixes": {"permitted": [HZ], "excluded": [f"{HZ}/agencies/x"]},
    }
    assert Constraints.from_claim(claim).to_claim() == claim
    legacy = {"naming_constraints": {"permitted": [HZ]}}  # as our earlier statements had it
    assert Constraints.from_claim(legacy).to_claim() == legacy
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
        ({"naming_constraints": {"excluded": ["a..example"]}}, "must be a host name"),
        ({"naming_constraints": {"excluded": ["hz.example/x"]}}, "must be a host name"),
        ({"naming_constraints": {"excluded": [7]}}, "must be a host name"),
        ({"naming_constraints": {"permitted": ["http://hz.example"]}}, "http only on loopback"),
        ({"naming_constraints": {"permitted": [f"{HZ}/"]}}, "trailing '/'"),
        ({"ecert_url_prefixes": []}, "ecert_url_prefixes must be a JSON object"),
        ({"ecert_url_prefixes": {"permitted": []}}, "must name at least one subtree"),
        ({"ecert_url_prefixes": {"permitted": ["hz.example"]}}, "must be an http(s) URL prefix"),
        ({"ecert_url_prefixes": {"excluded": ["http://hz.example"]}}, "http only on loopback"),
        ({"allowed_entity_types": ["federation_entity"]}, "must not list federation_entity"),
        ({"allowed_entity_types": "ecert_issuer"}, "must be an array"),
    ],
)
def test_malformed_constraints(claim: Any, fragment: str) -> None:
    with pytest.raises(MalformedStatement) as info:
        Constraints.from_claim(claim)
    assert fragment in str(info.value)
