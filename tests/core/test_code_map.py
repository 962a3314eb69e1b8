"""The README's code map is true: each part of the package imports only what its row names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clore_host"


def _code_map() -> dict[str, set[str] | None]:
    """Part -> the parts it may import (None: anything), from the README's table."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| where | its one concern | may import from `clore_host` |") :]
    rows: dict[str, set[str] | None] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        where, _, allowed = (cell.strip() for cell in line.strip("|").split("|"))
        part = where.strip("`").removesuffix("/").removesuffix(".py")
        names = set(re.findall(r"`(\w+)`", allowed))
        if allowed.startswith("anything"):
            rows[part] = None
        elif allowed.startswith("all but"):
            rows[part] = {"*", *(f"-{n}" for n in names)}  # resolved in the test
        elif allowed.startswith("all of the above"):
            rows[part] = {"^", *names}
        else:
            rows[part] = names
    return rows


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports() -> dict[str, set[str]]:
    """Part -> the parts its modules import (at any depth, in functions too)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        module = ".".join(rel.parts)
        package = module.removesuffix(".__init__") if path.name == "__init__.py" else module
        package = package if path.name == "__init__.py" else package.rsplit(".", 1)[0]
        part = _part(module.removesuffix(".__init__"))
        if part == "__main__":  # `python -m clore_host`: the CLI, nothing else
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                    if node.module is None:
                        targets = [f"{target}.{alias.name}" for alias in node.names]
                    else:
                        targets = [target]
                else:
                    targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                # (`from .. import __version__` names no part)
                if _part(target) in _parts() - {part}:
                    found.setdefault(part, set()).add(_part(target))
    return found


def _parts() -> set[str]:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    return modules | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}


def test_every_part_of_the_package_has_a_row() -> None:
    assert _parts() == set(_code_map())


def test_each_part_imports_only_what_its_row_names() -> None:
    rows = _code_map()
    order = list(rows)
    for part, imported in _imports().items():
        allowed = rows.get(part, set())
        if allowed is None:
            continue
        if "*" in allowed:  # "all but X"
            allowed = set(order) - {a[1:] for a in allowed if a.startswith("-")}
        elif "^" in allowed:  # "all of the above and X"
            allowed = set(order[: order.index(part)]) | (allowed - {"^"})
        assert imported <= allowed, f"{part} imports {sorted(imported - allowed)}"
