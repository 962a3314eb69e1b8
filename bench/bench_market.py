"""Reading a 5,000-server `marketplace` answer: parse it (reduced as it is parsed, as the
client does) and summarise it (peers, one vote per owner, fences, percentiles), against a bare
`json.loads` of the same bytes.

Targets: at most 3x the time of `json.loads`, and at most 40 MiB of peak RSS above the
agent's baseline.

Time: the best of several runs of each, in this process, on the same bytes (the answer of
testing.market, about 2.3 MB). Memory: each in a fresh subprocess that first imports what the
agent has loaded (the API client, the market room), collects garbage, and takes its current
RSS (/proc/self/statm) as the baseline; it then reads the answer's bytes from a file (the body
the HTTP client would hold), does its work, and reports the peak RSS (getrusage's ru_maxrss,
the process's high-water mark) above that baseline. The figure is conservative: any peak
before the baseline (during the imports) counts too. tracemalloc's peak of the work alone (the
Python objects it allocates, the bytes excluded) is printed beside it.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SERVERS = 5_000
SEED = 15
REPEATS = 7
TIME_TARGET, RSS_TARGET_MIB = 3.0, 40.0


def answer_bytes() -> bytes:
    from clore_host.testing.market import marketplace_listings

    listings = marketplace_listings(SEED, SERVERS)
    mine = [1] + [s["id"] for s in listings if isinstance(s, dict) and s.get("owner") == 1]
    return json.dumps({"servers": listings, "my_servers": mine, "code": 0}).encode()


def bare(raw: bytes) -> object:
    return json.loads(raw)


def market(raw: bytes) -> object:
    from clore_host.api.models import read_marketplace
    from clore_host.market import parse_spec, select_peers, summarise

    answer = read_marketplace(raw, currency="bitcoin", scrub=lambda text: text)
    assert answer is not None
    cls = parse_spec("1x NVIDIA GeForce RTX 4090")
    assert cls is not None
    selection = select_peers(
        answer.servers,
        cls,
        own_ids={*answer.my_servers, 1},
        unreadable=sum(answer.unreadable.values()),
    )
    return summarise(selection, min_peers=5, own_price=0.0001)


WORK: dict[str, Callable[[bytes], object]] = {"bare": bare, "market": market}


def best_time(work: Callable[[bytes], object], raw: bytes) -> float:
    times = []
    for _ in range(REPEATS):
        gc.collect()
        began = time.perf_counter()
        work(raw)
        times.append(time.perf_counter() - began)
    return min(times)


def child(mode: str, path: str) -> None:
    """In a fresh process: the peak RSS of `mode`'s work above the baseline, in MiB, and
    tracemalloc's peak of the work, printed as JSON."""
    import importlib
    import tracemalloc

    for module in ("clore_host.api", "clore_host.market"):  # what the agent has loaded
        importlib.import_module(module)

    gc.collect()
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as f:
        baseline = int(f.read().split()[1]) * page
    raw = Path(path).read_bytes()
    WORK[mode](raw)  # untraced: tracemalloc itself costs memory and time
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    tracemalloc.start()
    WORK[mode](raw)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"rss": (peak - baseline) / 2**20, "traced": traced / 2**20}))


def measure(mode: str, path: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, path],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main() -> int:
    raw = answer_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "marketplace.json")
        Path(path).write_bytes(raw)
        memory = {mode: measure(mode, path) for mode in WORK}
    loads, ours = best_time(bare, raw), best_time(market, raw)
    summary = market(raw)
    ratio = ours / loads
    rss = memory["market"]["rss"]
    print(f"answer: {SERVERS} servers, {len(raw) / 2**20:.2f} MiB; summary: {summary}")
    print(
        f"time: json.loads {loads * 1e3:.1f} ms, parse and summarise {ours * 1e3:.1f} ms: "
        f"ratio {ratio:.2f} (target <= {TIME_TARGET:g})"
    )
    print(
        f"peak RSS above the baseline: json.loads {memory['bare']['rss']:.1f} MiB, parse and "
        f"summarise {rss:.1f} MiB (target <= {RSS_TARGET_MIB:g} MiB, ratio to the target "
        f"{rss / RSS_TARGET_MIB:.2f}; to json.loads {rss / memory['bare']['rss']:.2f})"
    )
    print(
        f"tracemalloc peak of the work: json.loads {memory['bare']['traced']:.1f} MiB, parse "
        f"and summarise {memory['market']['traced']:.1f} MiB"
    )
    ok = ratio <= TIME_TARGET and rss <= RSS_TARGET_MIB
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.exit(main())
