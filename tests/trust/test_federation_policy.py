"""Metadata policy (§6.1): the spec example, an operator and merge table, bounds, hypothesis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.federation.common import PolicyError
from trust.federation.policy import (
    MetadataPolicy,
    apply_policy,
    merge_policies,
)

VECTORS = Path(__file__).parent / "vectors" / "federation"
SUBJECT = "https://leaf.example"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


CASES = _load("policy_cases.json")["cases"]


def _run(case: dict[str, Any]) -> tuple[str, Any]:
    """Parse, merge and apply one case; returns (stage reached, resolved parameter or error)."""
    etype, param = case["type"], case.get("param", "p")
    stage = "parse"
    try:
        policies = [
            (issuer, MetadataPolicy.from_claim({etype: policy}))
            for issuer, policy in case["policies"]
        ]
        stage = "merge"
        merged = merge_policies(policies)
        stage = "apply"
        metadata = {etype: {param: case["input"]} if "input" in case else {}}
        resolved = apply_policy(merged, metadata, subject=SUBJECT)
    except PolicyError as exc:
        return stage, exc
    return "done", resolved[etype].get(param, "<absent>")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_policy_case(case: dict[str, Any]) -> None:
    stage, result = _run(case)
    if "error" in case:
        assert isinstance(result, PolicyError), f"expected a PolicyError, resolved {result!r}"
        assert case["error"] in str(result)
        assert stage == case["stage"]
    else:
        assert stage == "done", f"unexpected PolicyError at {stage}: {result}"
        assert result == case.get("output", "<absent>")


def test_spec_example_merges_and_resolves_as_figures_14_and_16() -> None:
    example = _load("policy_spec_example.json")
    policies = [(iss, MetadataPolicy.from_claim(p)) for iss, p in example["policies"]]

    merged = merge_policies(policies)
    assert _as_sets(merged.to_claim()) == _as_sets(example["merged"])

    # §3.1: the intermediate's metadata is applied before the policy (§6.1.4.2).
    etype = example["entity_type"]
    metadata = {etype: {**example["leaf_metadata"][etype], **example["superior_metadata"][etype]}}
    assert apply_policy(merged, metadata, subject=SUBJECT) == example["resolved"]


def _as_sets(policy: dict[str, Any]) -> dict[str, Any]:
    """§6.1.3: the order of a merged operator's values is not defined."""
    return {
        t: {p: {op: _set(v) for op, v in ops.items()} for p, ops in params.items()}
        for t, params in policy.items()
    }


def _set(value: Any) -> Any:
    return frozenset(value) if isinstance(value, list) else value


def test_apply_does_not_change_its_inputs() -> None:
    policy = MetadataPolicy.from_claim({"oauth_client": {"p": {"add": ["b"]}}})
    metadata = {"oauth_client": {"p": ["a"]}}
    assert apply_policy(policy, metadata, subject=SUBJECT) == {"oauth_client": {"p": ["a", "b"]}}
    assert metadata == {"oauth_client": {"p": ["a"]}}
    assert policy.to_claim() == {"oauth_client": {"p": {"add": ["b"]}}}


def test_policy_for_types_the_subject_lacks_is_not_applied() -> None:
    policy = MetadataPolicy.from_claim({"oauth_client": {"p": {"essential": True}}})
    assert apply_policy(policy, {"ecert_verifier": {}}, subject=SUBJECT) == {"ecert_verifier": {}}


@pytest.mark.parametrize(
    ("claim", "crit", "fragment"),
    [
        ({"t": {"p": {"regexp": "^a"}}}, ["regexp"], "does not implement: ['regexp']"),
        ([], [], "metadata_policy must be an object"),
        ({"t": []}, [], "metadata_policy.t must be an object"),
        ({"t": {"p": "x"}}, [], "must be an object of operators"),
        ({"bad type": {}}, [], "entity type must be a printable ASCII name"),
        ({f"t{i}": {} for i in range(17)}, [], "at most 16 entity types"),
        ({"t": {"p": {"subset_of": ["a"] * 257}}}, [], "at most 256"),
    ],
    ids=[
        "critical unknown operator",
        "not an object",
        "entity type not an object",
        "operators not an object",
        "entity type with a space",
        "too many entity types",
        "operand too long",
    ],
)
def test_malformed_policies_are_refused(claim: Any, crit: list[str], fragment: str) -> None:
    with pytest.raises(PolicyError, match=None) as info:
        MetadataPolicy.from_claim(claim, crit=crit)
    assert fragment in str(info.value)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", "c"]))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=3)
    ),
    max_leaves=12,
)
_operators = st.dictionaries(
    st.sampled_from(["value", "add", "default", "one_of", "subset_of", "superset_of", "essential"]),
    _json,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_operators, min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(["p", "q"]), _json, max_size=2),
)
def test_policies_raise_only_policy_errors(
    ops: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    try:
        policies = [
            (f"https://i{n}.example", MetadataPolicy.from_claim({"ecert_issuer": {"p": o}}))
            for n, o in enumerate(ops)
        ]
        apply_policy(merge_policies(policies), {"ecert_issuer": params}, subject=SUBJECT)
    except PolicyError:
        pass
