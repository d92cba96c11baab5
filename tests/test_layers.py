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
FORBIDDEN = {
    "trust": (*FRAMEWORKS, "issuers", "verify", "gateway", "cli"),
    "issuers": (*FRAMEWORKS, "verify", "gateway", "cli"),
    "verify": (*FRAMEWORKS, "issuers", "gateway", "cli"),
    "gateway": ("cli",),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_flow_down_only(package: str) -> None:
    offences = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & set(FORBIDDEN[package]))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offences.items() if v} == {}


def test_an_offline_verifier_loads_without_issuing_code_or_frameworks() -> None:
    probe = (
        "import sys, verify.verifier, verify.scan, trust.statuslist; "
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
