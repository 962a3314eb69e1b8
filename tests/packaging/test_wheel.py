"""The wheel ships the product and only the product.

The test builds the wheel from a copy of the source (pip, the venv's setuptools, no network)
and checks its module list: it holds every module of clore_host/ and nothing else; every
module imports from the unpacked wheel; and every module is reached from the command line
(the modules `clore-host --help` loads, then whatever they import, lazily or not). A module
that only tests or benches use is reached from nowhere and fails the test, named as such.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "clore_host"


# -- reading imports --------------------------------------------------------------------------


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the module at `path` (a .py file under `root`)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, name: str, is_package: bool, known: Iterable[str]) -> set[str]:
    """The modules among `known` that module `name` imports anywhere (at the top or inside a
    function), with relative imports resolved."""
    known = set(known)
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            # `from pkg import mod` imports the module pkg.mod when there is one.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in known and m != name}


def reachable(graph: Mapping[str, set[str]], roots: Iterable[str]) -> set[str]:
    """Every module reached from `roots` through `graph`; importing a module runs its
    packages' __init__ first, so those are reached too."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen or module not in graph:
            continue
        seen.add(module)
        todo.extend(graph[module])
        todo.extend(module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1))
    return seen


def sources_under(root: Path, top: str) -> dict[str, tuple[str, bool]]:
    """name -> (source, is a package) for every .py file in `root/top`."""
    return {
        module_name(path, root): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in sorted((root / top).rglob("*.py"))
    }


# -- building ---------------------------------------------------------------------------------


def build_wheel(out: Path) -> Path:
    """Build the wheel from a copy of what the build reads, so nothing lands in the tree."""
    src = out / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for part in ("clore_host", "policies", "scenarios", "markets"):
        shutil.copytree(REPO / part, src / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / part, src / part)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*pip, "--no-index", "--quiet", "-w", str(out / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        "the wheel did not build (the dev extras bring setuptools>=77: "
        f"pip install -e '.[dev]'):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    )
    (wheel,) = (out / "dist").glob("clore_host-*.whl")
    return wheel


def entry_modules(wheel: zipfile.ZipFile) -> set[str]:
    """The modules named by the wheel's console scripts."""
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    modules: set[str] = set()
    section = ""
    for line in wheel.read(name).decode().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif "=" in line and section == "[console_scripts]":
            modules.add(line.split("=", 1)[1].strip().split(":")[0])
    return modules


def run_from(unpacked: Path, code: str) -> str:
    """Run `code` with the unpacked wheel first on the path (and the working directory, which
    `-c` puts before it, where there is no source tree); its stdout."""
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=unpacked,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# -- the tests --------------------------------------------------------------------------------


def test_the_wheel_holds_the_product_and_only_the_product(tmp_path: Path) -> None:
    wheel_path = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel_path) as wheel:
        names = wheel.namelist()
        scripts = entry_modules(wheel)
        wheel.extractall(tmp_path / "unpacked")
    unpacked = tmp_path / "unpacked"

    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {PACKAGE}, f"the wheel ships more than {PACKAGE}: {sorted(tops)}"
    shipped = sources_under(unpacked, PACKAGE)
    in_tree = sources_under(REPO, PACKAGE)
    assert set(shipped) == set(in_tree), (
        f"missing from the wheel (pyproject's package list?): {sorted(set(in_tree) - set(shipped))}"
        f"; not in the source: {sorted(set(shipped) - set(in_tree))}"
    )
    assert scripts == {"clore_host.cli"}, scripts

    # Every module imports from the wheel (not from the source tree); __main__ runs.
    main = f"{PACKAGE}.__main__"
    code = (
        "import importlib, json, sys\n"
        f"names = {sorted(set(shipped) - {main})!r}\n"
        "files = {n: importlib.import_module(n).__file__ for n in names}\n"
        "print(json.dumps(files))\n"
    )
    files = json.loads(run_from(unpacked, code))
    outside = {n: f for n, f in files.items() if not str(f).startswith(str(unpacked))}
    assert not outside, f"imported from outside the wheel: {outside}"
    run_main = "import runpy, sys; sys.argv = ['clore-host', '--version']; "
    run_main += f"runpy.run_module({PACKAGE!r}, run_name='__main__')"
    assert run_from(unpacked, run_main).startswith("clore-host ")

    # Reached from the command line: what `clore-host --help` loads (every command's module,
    # which the CLI imports by name), then everything those import, lazily or not.
    code = (
        "import json, sys\n"
        "from clore_host.cli import build_parser\n"
        "build_parser()\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == {PACKAGE!r})))\n"
    )
    loaded = set(json.loads(run_from(unpacked, code)))
    graph = {
        name: imports_of(source, name, is_package, shipped)
        for name, (source, is_package) in shipped.items()
    }
    reached = reachable(graph, loaded | scripts | {PACKAGE, f"{PACKAGE}.__main__"})

    # What the tests and benches import, for naming a module that only they use.
    by_tests: set[str] = set()
    for top in ("tests", "bench"):
        for name, (source, is_package) in sources_under(REPO, top).items():
            by_tests |= imports_of(source, name, is_package, shipped)
    unreached = set(shipped) - reached
    test_only = sorted(unreached & by_tests)
    assert not test_only, f"modules only tests or benches use ship in the wheel: {test_only}"
    assert not unreached, f"modules nothing in the product reaches: {sorted(unreached)}"


def test_the_check_names_a_module_only_tests_import() -> None:
    # The reading of imports on a small made-up package: a harness that only tests import
    # (as the soak was) is not reached from the command line; a lazily imported backend is.
    shipped = {
        "pkg": ("", True),
        "pkg.cli": ("from . import run\ndef main():\n    from ..gpu import fake\n", True),
        "pkg.cli.run": ("from ..agent import Agent\n", False),
        "pkg.agent": ("import json\nfrom pkg.gpu import open_backend\n", False),
        "pkg.gpu": ("def open_backend():\n    from .fake import Fake\n", True),
        "pkg.gpu.fake": ("", False),
        "pkg.soak": ("from .agent import Agent\nfrom .gpu.fake import Fake\n", False),
    }
    graph = {n: imports_of(s, n, p, shipped) for n, (s, p) in shipped.items()}
    assert graph["pkg.cli"] == {"pkg.cli.run", "pkg.gpu", "pkg.gpu.fake"}
    assert graph["pkg.cli.run"] == {"pkg.agent"}
    assert graph["pkg.soak"] == {"pkg.agent", "pkg.gpu.fake"}
    reached = reachable(graph, {"pkg.cli"})
    assert set(shipped) - reached == {"pkg.soak"}
    tests = imports_of("from pkg.soak import run_soak\n", "tests.test_soak", False, shipped)
    assert tests == {"pkg.soak"}
