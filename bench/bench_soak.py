"""The soak at full size: 30 simulated days of the daemon against the emulator, at the
daemon's default pace (sample every 10 s, reconcile every 5 min), under the seeded random
fault plan of tests/soak/harness.py; then every check. Prints the figures; exits 1 on any
violation. `make soak` runs it; --days/--seed/--sample/--reconcile change the size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# Run as a file (`make soak`), Python puts bench/ on the path; the harness lives in the
# repository's tests/ package.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.soak.harness import SoakConfig, run_soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", type=float, default=10.0, help="sample interval, s")
    parser.add_argument("--reconcile", type=float, default=300.0, help="reconcile interval, s")
    args = parser.parse_args(argv)
    config = SoakConfig(
        days=args.days,
        seed=args.seed,
        sample_interval=args.sample,
        reconcile_interval=args.reconcile,
    )
    with tempfile.TemporaryDirectory(prefix="clore-soak-") as root:
        report = run_soak(Path(root), config)
    for line in report.summary():
        print(line)
    found = sum(len(items) for items in report.violations.values())
    print(f"violations: {found} (must be 0)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
