"""Which requirements a directory of wheels leaves unmet for one CPython version on x86_64 Linux.

`pip download --python-version` picks wheels for the target version but evaluates environment
markers for the Python running pip, so it leaves out what only older versions need (tomli and
exceptiongroup on 3.10). build-deb.sh asks this script what is missing and downloads it, until
nothing is. Usage: python3 wheelset.py WHEEL_DIR 3.10   (prints one requirement a line)
"""

from __future__ import annotations

import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

try:
    from packaging import requirements, utils
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging import requirements, utils  # type: ignore[no-redef]

Requirement = requirements.Requirement
canonicalize_name = utils.canonicalize_name
parse_wheel_filename = utils.parse_wheel_filename

ROOT = "clore-host"


def _environment(target: str) -> dict[str, str]:
    return {
        "python_version": target,
        "python_full_version": f"{target}.0",
        "implementation_name": "cpython",
        "implementation_version": f"{target}.0",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
    }


def _fits(wheel: Path, target: str) -> bool:
    """Whether CPython `target` on manylinux x86_64 can install this wheel."""
    minor = int(target.split(".")[1])
    for tag in parse_wheel_filename(wheel.name)[3]:
        platform_ok = tag.platform == "any" or (
            tag.platform.startswith("manylinux") and tag.platform.endswith("_x86_64")
        )
        if tag.interpreter in ("py3", f"py3{minor}"):
            interp_ok = tag.abi == "none"
        elif tag.interpreter.startswith("cp3"):
            built_for = int(tag.interpreter[3:])
            interp_ok = (tag.abi == "abi3" and built_for <= minor) or (
                built_for == minor and tag.abi in (f"cp3{minor}", "none")
            )
        else:
            interp_ok = False
        if platform_ok and interp_ok:
            return True
    return False


def _requires(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    return [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]


def missing(wheel_dir: Path, target: str) -> list[str]:
    """Requirements reachable from clore-host, for `target`, that no fitting wheel satisfies."""
    env = _environment(target)
    wheels: dict[str, list[tuple[str, Path]]] = {}
    for wheel in sorted(wheel_dir.glob("*.whl")):
        if _fits(wheel, target):
            name, version = parse_wheel_filename(wheel.name)[:2]
            wheels.setdefault(name, []).append((str(version), wheel))
    unmet: list[str] = []
    todo = [Requirement(ROOT)]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        key = str(req)
        if key in seen:
            continue
        seen.add(key)
        matches = [w for v, w in wheels.get(canonicalize_name(req.name), []) if v in req.specifier]
        if not matches:
            unmet.append(key)
            continue
        for dep in _requires(matches[-1]):
            extras = req.extras or {""}
            if dep.marker is None or any(
                dep.marker.evaluate({**env, "extra": extra}) for extra in extras
            ):
                dep.marker = None
                todo.append(dep)
    return sorted(unmet)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    for line in missing(Path(sys.argv[1]), sys.argv[2]):
        print(line)
