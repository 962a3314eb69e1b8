"""`clore-host demo` (what `make demo` runs) wall time, as a fresh process.

Target: under 30 s. Prints the median of 3 runs and its ratio to the target.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 3
TARGET_S = 30.0


def main() -> int:
    took = []
    for _ in range(RUNS):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "clore_host", "demo"], capture_output=True, text=True
        )
        took.append(time.perf_counter() - began)
        assert done.returncode == 0, done.stderr
    median = statistics.median(took)
    verdict = "PASS" if median < TARGET_S else "FAIL"
    print(
        f"clore-host demo: median {median:.2f} s over {RUNS} runs "
        f"({' '.join(f'{t:.2f}' for t in took)}); {median / TARGET_S:.3f} x the 30 s target "
        f"{verdict}"
    )
    return 0 if median < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
