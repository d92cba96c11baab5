"""A state change is a return value (issue 8): every change a write makes reaches the state
holder after its commit, so the next verify in this process sees it.

Python has no must-use return values, so the check is on the source: every call of a function
that returns a :class:`gateway.state.StateChange` (``mark_changed``, the slot allocator, …)
must return the change to its caller or hand it to ``….changed(…)`` (the state holder), and
never inside the transaction that made it (the rebuild would not see the uncommitted write).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway import status
from gateway.core import Gateway
from gateway.state import combined, mark_changed
from tests.conftest import Agency, FakeClock
from tests.gateway.test_keys import _issue, _reason
from verify.reasons import Reason

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("gateway", "cli")
APPLY = "changed"  # StateHolder.changed: the one way a change is applied


@dataclass(frozen=True)
class Producer:
    """A function returning a StateChange: the whole value, or the element ``index`` of the
    tuple it returns."""

    name: str
    index: int | None


def _producer(node: ast.FunctionDef) -> Producer | None:
    returns = node.returns
    if returns is None or "StateChange" not in ast.unparse(returns):
        return None
    if isinstance(returns, ast.Subscript) and ast.unparse(returns.value) == "tuple":
        elts = returns.slice.elts if isinstance(returns.slice, ast.Tuple) else [returns.slice]
        index = next(i for i, e in enumerate(elts) if "StateChange" in ast.unparse(e))
        return Producer(node.name, index)
    return Producer(node.name, None)


def producers(trees: list[ast.Module]) -> dict[str, Producer]:
    found: dict[str, Producer] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and (made := _producer(node)) is not None:
                found[made.name] = made
    return found


def _called(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _handed_on(node: ast.AST, parents: dict[ast.AST, ast.AST], made: dict[str, Producer]) -> bool:
    """``node``'s value is returned, applied, or combined into another change."""
    parent = parents.get(node)
    while isinstance(parent, ast.Tuple | ast.IfExp):  # return a, change / x if c else y
        node, parent = parent, parents.get(parent)
    if isinstance(parent, ast.Return):
        return True
    if isinstance(parent, ast.Call) and node in parent.args:
        return _called(parent) == APPLY or _called(parent) in made
    return False


def _bound_name(target: ast.expr, producer: Producer) -> str | None:
    if producer.index is not None and isinstance(target, ast.Tuple):
        target = target.elts[producer.index]
    return target.id if isinstance(target, ast.Name) else None


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.Module]:
    yield tree
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def dropped_changes(tree: ast.Module, made: dict[str, Producer]) -> list[str]:
    """Each call whose change is neither returned nor applied, and each apply made inside
    the transaction whose change it applies."""
    parents = _parents(tree)
    found: list[str] = []
    for func in _functions(tree):
        own = [n for n in ast.walk(func) if n is func or _owner(n, parents) is func]
        for call in own:
            name = _called(call)
            if name not in made or _handed_on(call, parents, made):
                continue
            where = f"line {call.lineno}: {name}()"
            holder = parents.get(call)
            while isinstance(holder, ast.IfExp):
                holder = parents.get(holder)
            if not isinstance(holder, ast.Assign) or len(holder.targets) != 1:
                found.append(f"{where}: its change is dropped")
                continue
            bound = _bound_name(holder.targets[0], made[name])
            uses = [
                n
                for n in own
                if isinstance(n, ast.Name) and n.id == bound and isinstance(n.ctx, ast.Load)
            ]
            if bound is None or not any(_handed_on(n, parents, made) for n in uses):
                found.append(f"{where}: its change is neither returned nor applied")
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            _called(item.context_expr) == "transaction" for item in node.items
        ):
            found.extend(
                f"line {n.lineno}: applied inside the transaction that made it"
                for inner in node.body
                for n in ast.walk(inner)
                if _called(n) == APPLY
            )
    return found


def _owner(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST | None:
    """The innermost function (or the module) ``node`` belongs to."""
    parent = parents.get(node)
    while parent is not None and not isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
        parent = parents.get(parent)
    return parent if parent is not None else _module(node, parents)


def _module(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST:
    while node in parents:
        node = parents[node]
    return node


def _sources() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8"))
        for package in SCANNED
        for path in sorted((ROOT / package).rglob("*.py"))
    }


PROBE_PRODUCERS = """
def mark_changed(session) -> StateChange: ...
def combined(*changes: StateChange | None) -> StateChange | None: ...
def inner(session) -> tuple[int, StateChange | None]:
    return 1, mark_changed(session)
"""


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (
            "def f(gw):\n    with gw.transaction() as s:\n        mark_changed(s)\n",
            ["line 3: mark_changed(): its change is dropped"],
        ),
        (
            "def f(gw):\n    with gw.transaction() as s:\n        c = mark_changed(s)\n"
            "    return None\n",
            ["line 3: mark_changed(): its change is neither returned nor applied"],
        ),
        (
            "def f(gw):\n    with gw.transaction() as s:\n        n, c = inner(s)\n"
            "    gw.live.changed(n)\n",
            ["line 3: inner(): its change is neither returned nor applied"],
        ),
        (
            "def f(gw):\n    with gw.transaction() as s:\n        c = mark_changed(s)\n"
            "        gw.live.changed(c)\n",
            ["line 4: applied inside the transaction that made it"],
        ),
        (
            "def f(gw):\n    with gw.transaction() as s:\n        c = mark_changed(s)\n"
            "    gw.live.changed(c)\n",
            [],
        ),
        (
            "def f(gw):\n    with gw.transaction() as s:\n        _, a = inner(s)\n"
            "        c = combined(a, mark_changed(s))\n    gw.live.changed(c)\n",
            [],
        ),
        ("def f(s):\n    return mark_changed(s)\n", []),
        ("def f(s):\n    x, c = inner(s) if s else (0, None)\n    return x, c\n", []),
    ],
    ids=[
        "dropped",
        "kept-not-applied",
        "tuple-wrong-element-applied",
        "applied-before-commit",
        "applied-after-commit",
        "combined-then-applied",
        "returned",
        "returned-from-a-conditional",
    ],
)
def test_the_check_catches_a_forgotten_apply(body: str, found: list[str]) -> None:
    made = producers([ast.parse(PROBE_PRODUCERS)])
    assert dropped_changes(ast.parse(body), made) == found


def test_the_gateway_hands_every_state_change_on() -> None:
    sources = _sources()
    made = producers(list(sources.values()))
    # What the check knows to follow: the bump itself, and what runs in a caller's transaction.
    assert {
        "mark_changed",
        "combined",
        "open_list",
        "allocate",
        "_write",
        "reserve",
        "_renew",
        "_repin",
    } <= set(made)
    offences = {path: dropped_changes(tree, made) for path, tree in sources.items()}
    assert {path: found for path, found in offences.items() if found} == {}


def test_no_flag_on_the_session_is_left() -> None:
    for path, tree in _sources().items():
        text = ast.unparse(tree)
        assert "session.info" not in text, path
        assert "BUMPED" not in text, path


def test_a_change_is_applied_once_and_nothing_is_no_rebuild(gw: Gateway, amr: Agency) -> None:
    before = gw.state
    gw.live.changed(None)
    assert gw.state is before  # nothing changed: no rebuild
    with gw.transaction() as session:
        first, second = mark_changed(session), mark_changed(session)
    assert second.version == first.version + 1 == before.version + 2
    assert gw.state is before  # committed, not yet applied: the old state still serves
    assert combined(None, first, second, None) == second
    assert combined() is None
    gw.live.changed(combined(first, second))
    assert gw.state is not before
    assert gw.state.version == second.version


def test_a_status_change_is_seen_by_the_very_next_verify(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    row = _issue(gw, amr)
    assert _reason(gw, row.token) is Reason.VALID
    status.change(
        gw, credential_id=row.id, action="suspend", reason="核查", actor="t", agency_id=amr.id
    )
    assert _reason(gw, row.token) is Reason.SUSPENDED
    clock.advance(1)
    status.change(
        gw, credential_id=row.id, action="revoke", reason="吊销", actor="t", agency_id=amr.id
    )
    assert _reason(gw, row.token) is Reason.REVOKED
