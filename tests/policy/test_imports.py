"""The policy package sees only Facts: no API, GPU, history or config imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import clore_host.policy

FORBIDDEN = ("clore_host.api", "clore_host.gpu", "clore_host.history", "clore_host.config")
ALLOWED_PROJECT = {"clore_host.facts", "clore_host.duration", "clore_host.validation"}
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core"}
PACKAGE = Path(clore_host.policy.__file__).parent


def test_importing_the_policy_loads_no_forbidden_module() -> None:
    code = (
        "import sys, clore_host.policy\n"
        f"print([m for m in sys.modules if m.startswith({FORBIDDEN!r})])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module or "")
            else:
                base = ["clore_host", "policy"][: 2 - (node.level - 1)]
                names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def test_policy_modules_import_only_stdlib_pydantic_and_facts() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) > 3
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if name.startswith("clore_host.policy") or name in ALLOWED_PROJECT:
                continue
            assert top != "clore_host", f"{path.name} imports {name}"
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                f"{path.name} imports {name}"
            )
