"""ARCHITECTURE.md's layers: imports flow down only, and the pure layers stay pure."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = (
    "fastapi",
    "sqlalchemy",
    "alembic",
    "starlette",
    "uvicorn",
    "httpx",
    "pydantic_settings",
)
_DYNAMIC = "<a module named at run time>"
FORBIDDEN = {  # the pure layers may not import a module they cannot name either
    "trust": (*FRAMEWORKS, "issuers", "verify", "gateway", "cli", _DYNAMIC),
    "issuers": (*FRAMEWORKS, "verify", "gateway", "cli", _DYNAMIC),
    "verify": (*FRAMEWORKS, "issuers", "gateway", "cli", _DYNAMIC),
    "gateway": ("cli",),
}


def _imported_by_call(node: ast.Call) -> str | None:
    """The module a call imports by name (``importlib.import_module("x")``, ``import_module``,
    ``__import__``), ``_DYNAMIC`` when the name is not a constant, else ``None``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value.split(".")[0]
    return _DYNAMIC


def _imports(path: Path) -> set[str]:
    """Top-level packages a module imports: statements, and imports by name through importlib
    (a string import would slip past the statements alone)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and (module := _imported_by_call(node)) is not None:
            names.add(module)
    return names


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import importlib\nimportlib.import_module('gateway.core')", {"importlib", "gateway"}),
        ("from importlib import import_module\nimport_module('cli.main')", {"importlib", "cli"}),
        ("__import__('sqlalchemy')", {"sqlalchemy"}),
        ("import importlib\nname = 'x'\nimportlib.import_module(name)", {"importlib", _DYNAMIC}),
        ("from gateway import core", {"gateway"}),
        ("print('import_module')", set()),
    ],
    ids=["importlib", "import_module", "__import__", "by-variable", "statement", "a-string-only"],
)
def test_imports_by_name_are_seen(tmp_path: Path, source: str, found: set[str]) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    assert _imports(path) == found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_flow_down_only(package: str) -> None:
    offences = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & set(FORBIDDEN[package]))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offences.items() if v} == {}


def test_an_offline_verifier_loads_without_issuing_code_or_frameworks() -> None:
    probe = (
        "import sys, verify.verifier, verify.scan, verify.result_json, trust.statuslist; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{('issuers', 'gateway', 'cli', *FRAMEWORKS)!r}); print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def _route_offences(path: Path) -> list[str]:
    """What a route module does that belongs to a service: SQL, a session or a transaction of
    its own, the models, or an untyped object from ``app.state``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("gateway.models",):
            found.append(f"imports {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr in ("sessions", "transaction"):
            found.append(f"opens gw.{node.attr}()")
        elif isinstance(node, ast.Attribute) and node.attr == "state":
            owner = node.value
            if isinstance(owner, ast.Attribute) and owner.attr == "app":
                found.append("reads app.state")
    return found + sorted(_imports(path) & {"sqlalchemy"})


@pytest.mark.parametrize(
    ("source", "offence"),
    [
        ("from sqlalchemy import select", "sqlalchemy"),
        ("from gateway.models import CredentialRow", "imports gateway.models"),
        ("with gw.sessions() as s: pass", "opens gw.sessions()"),
        ("with gw.transaction() as s: pass", "opens gw.transaction()"),
        ("x = request.app.state.publisher", "reads app.state"),
    ],
)
def test_the_route_check_sees_each_offence(tmp_path: Path, source: str, offence: str) -> None:
    path = tmp_path / "route.py"
    path.write_text(source, encoding="utf-8")
    assert _route_offences(path) == [offence]


def test_routes_hold_no_sql_no_session_and_read_services_typed() -> None:
    """Issue 8: routes call services; what they use comes as typed dependencies."""
    offences = {
        str(path.relative_to(ROOT)): _route_offences(path)
        for path in (ROOT / "gateway" / "routes").glob("*.py")
    }
    assert {k: v for k, v in offences.items() if v} == {}
