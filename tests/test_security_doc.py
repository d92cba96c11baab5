"""docs/security.md names the tests that show each 等保三级 control: each one must exist.

A renamed or deleted test would otherwise leave the page pointing at nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"
# `tests/x/test_y.py`, `tests/x/test_y.py::test_z`, `::test_z` (same file as the previous path),
# `tests/x/` (a folder), and bare `test_z` inside a parenthesised list after a path.
CELL_REF = re.compile(r"`(tests/[\w/]+(?:\.py)?)?(?:::)?(test_\w+)?`")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_the_security_page_names_exists() -> None:
    missing: list[str] = []
    seen = 0
    for line in DOC.read_text(encoding="utf-8").splitlines():
        current: Path | None = None
        for path, name in CELL_REF.findall(line):
            if path:
                current = ROOT / path
                seen += 1
                if not current.exists():
                    missing.append(path)
                    current = None
                    continue
            if name:
                seen += 1
                if current is None or current.is_dir():
                    missing.append(f"{name} (no file before it on its line)")
                elif name not in _tests_in(current):
                    missing.append(f"{current.relative_to(ROOT)}::{name}")
    assert seen > 40, f"expected the page to name tests, found {seen} references"
    assert not missing, "docs/security.md names tests that do not exist: " + ", ".join(missing)
