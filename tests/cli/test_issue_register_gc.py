"""``issue_register`` keeps the collector off the objects that live through the run (issue 13),
and gives the process back as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.issue_batch import issue_register
from gateway.core import Gateway
from loadtests.bench_issue import local_gateway, write_register

ROWS = 12


@pytest.fixture
def city(tmp_path: Path) -> Iterator[tuple[Gateway, str]]:
    with local_gateway(tmp_path, None) as opened:
        yield opened


def run(gw: Gateway, agency: str, register: Path) -> list[int]:
    """Issue ``register``; the freeze count seen after pass 1 and after each chunk."""
    seen: list[int] = []
    done = {"issued": 0, "skipped": 0}
    issue_register(
        gw, file=register, kind="csv", agency=agency, type_="business-licence", batch_id="gc",
        chunk_size=5, sheet=None, done=done, on_chunk=lambda _rows, _done: seen.append(
            gc.get_freeze_count()
        ),
    )  # fmt: skip
    assert done == {"issued": ROWS, "skipped": 0}
    return seen


def test_the_run_freezes_what_lived_before_it_and_unfreezes_it_after(
    city: tuple[Gateway, str], tmp_path: Path
) -> None:
    assert gc.get_freeze_count() == 0
    seen = run(*city, write_register(tmp_path / "r.csv", ROWS, 500))
    assert len(seen) == 1 + 3  # after pass 1, then chunks of 5, 5 and 2
    assert min(seen) > 1000  # the gateway's objects, at least
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_someone_else_is_left_as_it_is(
    city: tuple[Gateway, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    freeze, unfreeze = gc.freeze, gc.unfreeze
    freeze()
    try:
        monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
        monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
        seen = run(*city, write_register(tmp_path / "r.csv", ROWS, 500))
        assert calls == []
        assert min(seen) > 1000  # still theirs, frozen
    finally:
        unfreeze()
    assert gc.get_freeze_count() == 0
