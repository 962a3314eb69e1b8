"""The policy package's import boundary, exactly as its docstring states it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import clore_host.policy

FORBIDDEN = ("clore_host.api", "clore_host.gpu", "clore_host.history", "clore_host.config")
# Project modules the package may import from, and the names it may take (None: any).
ALLOWED_PROJECT: dict[str, frozenset[str] | None] = {
    "clore_host.facts": None,
    "clore_host.duration": None,
    "clore_host.money": None,
    "clore_host.issues": frozenset(
        {"Issue", "InputFileError", "format_location", "issues_from_validation"}
    ),
}
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


def _imports(path: Path) -> list[tuple[str, tuple[str, ...] | None]]:
    """(absolute module, names taken from it, or None for `import module`) of each import."""
    out: list[tuple[str, tuple[str, ...] | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            if node.level == 0:
                out.append((node.module or "", names))
            else:
                base = ["clore_host", "policy"][: 2 - (node.level - 1)]
                out.append((".".join([*base, *([node.module] if node.module else [])]), names))
    return out


def test_policy_modules_import_only_what_the_docstring_lists() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) > 3
    for path in files:
        for module, names in _imports(path):
            where = f"{path.name} imports {module} {names or ''}"
            if module.startswith("clore_host.policy"):
                continue
            if module in ALLOWED_PROJECT:
                allowed = ALLOWED_PROJECT[module]
                assert names is not None, where  # names, never the module
                assert allowed is None or set(names) <= allowed, where
                continue
            top = module.split(".")[0]
            assert top != "clore_host", where
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, where


def test_the_docstring_states_the_boundary() -> None:
    doc = " ".join((clore_host.policy.__doc__ or "").split())
    for module, names in ALLOWED_PROJECT.items():
        assert module in doc, module
        for name in names or ():
            assert name in doc, name


def test_no_module_reads_a_file() -> None:
    """Pure: files are read by clore_host.config (load_policy), never here."""
    reads = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name) and node.id in {"open", "load_toml"}:
                reads.append(f"{path.name}:{node.lineno} {node.id}")
            if isinstance(node, ast.Attribute) and node.attr in {
                "read_text",
                "read_bytes",
                "write_text",
                "write_bytes",
                "open",
            }:
                reads.append(f"{path.name}:{node.lineno} {node.attr}")
    assert reads == []
