"""Compiling the next trust list from verified chains and the previous list: pure decisions,
one test per rule (carry forward, expire to stale, delisting, ownership of keys and status
lists, chains too short, what counts as a change)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.trust.test_trustlist_vectors import (
    AMR_KEY,
    AMR_STATUS,
    BJ_STATUS,
    BL,
    DAY,
    NOW,
    STRANGER,
    bj_entry,
    entry,
    trust_list,
)
from trust.trustlist.compiler import Compiled, chain_roles, compile_entries, entries_digest
from trust.trustlist.entry import TrustListEntry

CITY_OF_AMR = "330100"  # the chain's second link: the superior that lists ag-amr
MIN_EXP = NOW + 60


def _compile(resolved: list[TrustListEntry], **over: Any) -> Compiled:
    fields: dict[str, Any] = {
        "reached": {e.issuer for e in resolved},
        "listed": {},
        "previous": None,
        "previous_stale": [],
        "now": NOW,
        "not_before_exp": MIN_EXP,
    }
    fields.update(over)
    return compile_entries(resolved, **fields)


def test_a_first_list_holds_what_was_resolved() -> None:
    amr, bj = entry(AMR_KEY), bj_entry()
    compiled = _compile([amr, bj])
    assert compiled.entries == (amr, bj)
    assert compiled.left_out == {}
    assert compiled.carried == compiled.expired == compiled.stale == ()


def test_an_unreachable_issuer_is_carried_while_its_chain_lasts() -> None:
    previous = trust_list(1, entries=[entry(AMR_KEY), bj_entry()])
    compiled = _compile([bj_entry()], previous=previous)
    assert [e.issuer for e in compiled.entries] == ["ag-bj-amr", "ag-amr"]
    assert compiled.carried == ("ag-amr",)
    assert compiled.stale == ()


def test_an_unreachable_issuer_whose_chain_expired_is_kept_aside_as_stale() -> None:
    gone = entry(AMR_KEY, chain_exp=NOW - 1)
    previous = trust_list(1, entries=[gone, bj_entry()], exp=NOW - 1, next_update=NOW - 2)
    compiled = _compile([bj_entry()], previous=previous)
    assert [e.issuer for e in compiled.entries] == ["ag-bj-amr"]
    assert compiled.expired == ("ag-amr",)
    assert compiled.stale == (gone.to_json(),)


def test_an_issuer_its_city_no_longer_lists_is_dropped_not_carried() -> None:
    previous = trust_list(1, entries=[entry(AMR_KEY), bj_entry()])
    compiled = _compile([bj_entry()], previous=previous, listed={CITY_OF_AMR: frozenset()})
    assert [e.issuer for e in compiled.entries] == ["ag-bj-amr"]
    assert compiled.carried == compiled.expired == ()


def test_a_stale_issuer_reached_again_leaves_the_stale_set() -> None:
    stale = [entry(AMR_KEY, chain_exp=NOW - 1).to_json(), bj_entry().to_json()]
    compiled = _compile([entry(AMR_KEY)], previous_stale=stale)
    assert compiled.stale == (bj_entry().to_json(),)


def test_a_key_already_another_issuers_in_the_previous_list_is_refused() -> None:
    previous = trust_list(1, entries=[entry(AMR_KEY)])
    thief = replace(bj_entry(), key=AMR_KEY.public)
    compiled = _compile([entry(AMR_KEY), thief], previous=previous)
    assert [e.issuer for e in compiled.entries] == ["ag-amr"]
    assert "already ag-amr's" in compiled.left_out["ag-bj-amr"]


def test_a_status_list_already_another_issuers_is_refused() -> None:
    thief = replace(bj_entry(), status_lists=tuple(sorted((AMR_STATUS, BJ_STATUS))))
    compiled = _compile([entry(AMR_KEY), thief])
    assert "status list" in compiled.left_out["ag-bj-amr"]
    assert AMR_STATUS in compiled.left_out["ag-bj-amr"]


def test_the_previous_owner_keeps_its_key_even_when_listed_second() -> None:
    """Order of discovery must not decide ownership: a newcomer listed first still loses."""
    previous = trust_list(1, entries=[entry(AMR_KEY)])
    thief = replace(bj_entry(), key=AMR_KEY.public)
    compiled = _compile([thief, entry(AMR_KEY)], previous=previous)
    assert [e.issuer for e in compiled.entries] == ["ag-amr"]
    assert set(compiled.left_out) == {"ag-bj-amr"}


def test_one_bad_key_leaves_out_the_whole_issuer_not_only_that_key() -> None:
    mine = replace(bj_entry(), key=STRANGER.public)
    stolen = replace(bj_entry(), key=AMR_KEY.public)
    previous = trust_list(1, entries=[entry(AMR_KEY)])
    compiled = _compile([entry(AMR_KEY), mine, stolen], previous=previous)
    assert {e.issuer for e in compiled.entries} == {"ag-amr"}


def test_a_chain_that_ends_before_the_list_may_leaves_its_issuer_out() -> None:
    short = entry(AMR_KEY, chain_exp=MIN_EXP - 1)
    compiled = _compile([short, bj_entry()])
    assert [e.issuer for e in compiled.entries] == ["ag-bj-amr"]
    assert "trust chain ends" in compiled.left_out["ag-amr"]


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"version": 2, "iat": NOW, "exp": NOW + 2 * DAY, "next_update": NOW + 60}, True),
        ({"entries": [entry(AMR_KEY, chain_exp=NOW + 99 * DAY), bj_entry()]}, True),
        ({"entries": [entry(AMR_KEY)]}, False),
        ({"entries": [entry(AMR_KEY, types=frozenset({"resident-eid"})), bj_entry()]}, False),
        ({"region": "cn-jjj"}, False),
        ({"types": [BL]}, False),  # the first list that describes its types is a change
    ],
)
def test_what_counts_as_a_change(change: dict[str, Any], same: bool) -> None:
    base = trust_list(1, entries=[entry(AMR_KEY), bj_entry()])
    changed = trust_list(**{"version": 1, "entries": [entry(AMR_KEY), bj_entry()], **change})
    assert (entries_digest(base) == entries_digest(changed)) is same


def test_chain_roles_name_each_link_from_the_leaf() -> None:
    assert chain_roles(1) == ["agency"]
    assert chain_roles(2) == ["agency", "city"]
    assert chain_roles(4) == ["agency", "city", "region", "region"]
