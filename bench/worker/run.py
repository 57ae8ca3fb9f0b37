"""bench/worker: what the worker's resilience and queue cost, each against its baseline in the same run.

1. Client overhead per call: `ComputeClient.get` (cockatiel retry + circuit breaker +
   per-attempt timeout, JSON parse) against a raw `fetch` of the same URL, interleaved one
   for one against a stub server in another process; p50/p99 of both and the difference.
2. Queue claims per second on a real local PostgreSQL: 4 claimer processes (claim ->
   log -> complete, FOR UPDATE SKIP LOCKED) against 1 process; no job may be claimed twice.

Bounded loops, loopback only. Prints a table with ratios.

    .venv/bin/python bench/worker/run.py [--calls 2000] [--jobs 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "apps" / "worker"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=2000)
    args = ap.parse_args()
    if not (WORKER / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WORKER, check=True)
    out = subprocess.run(
        ["node", "--import", "tsx", str(ROOT / "bench" / "worker" / "bench.ts"), str(args.calls), str(args.jobs)],
        cwd=WORKER, check=True, capture_output=True, text=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    o, c = r["overhead"], r["claims"]
    print(f"bench/worker — client overhead ({o['calls']} calls each, interleaved)")
    print(f"{'':24} {'p50 ms':>9} {'p99 ms':>9}")
    print(f"{'raw fetch (baseline)':24} {o['raw']['p50']:9.3f} {o['raw']['p99']:9.3f}")
    print(f"{'ComputeClient.get':24} {o['client']['p50']:9.3f} {o['client']['p99']:9.3f}")
    print(f"{'overhead':24} {o['client']['p50'] - o['raw']['p50']:9.3f} {o['client']['p99'] - o['raw']['p99']:9.3f}")
    print(f"{'ratio client/raw':24} {o['client']['p50'] / o['raw']['p50']:9.2f} {o['client']['p99'] / o['raw']['p99']:9.2f}")
    print()
    w1, w4 = c["w1"], c["w4"]
    print(f"bench/worker — queue claims on PostgreSQL ({w4['jobs']} jobs, claim+log+complete)")
    print(f"{'':24} {'claims/s':>9} {'seconds':>9} {'double claims':>14}")
    print(f"{'1 worker (baseline)':24} {w1['per_second']:9.0f} {w1['seconds']:9.2f} {w1['duplicates']:14d}")
    print(f"{'4 workers':24} {w4['per_second']:9.0f} {w4['seconds']:9.2f} {w4['duplicates']:14d}")
    print(f"{'ratio 4/1':24} {w4['per_second'] / w1['per_second']:9.2f}")
    return 0 if w1["duplicates"] == 0 and w4["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
