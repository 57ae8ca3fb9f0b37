"""bench/api: what the compute plane's HTTP layer costs, against a bare FastAPI endpoint in the same run.

1. No-op jobs per second: `POST /v1/jobs` (diagnostic succeed) + `GET /v1/jobs/{id}?wait=` until
   succeeded, CONCURRENCY client threads. Baseline: POST + GET on a bare FastAPI app.
2. Status latency: `GET /v1/jobs/{id}` of a finished job, p50/p99, interleaved one-for-one with
   the bare GET so both see the same machine load.

Both servers are uvicorn on 127.0.0.1 with the same settings (no access log, same loop/http
implementation). Bounded loops; prints a table with the overhead ratios.

    .venv/bin/python bench/api/run.py [--jobs 200] [--gets 1000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from modal_functions.api.server_process import ServerProcess, free_port  # noqa: E402

TOKEN = "bench-token"


def tuned_toml(dest: Path, workers: int, queue: int) -> Path:
    from modal_functions.runtime.testing import write_config

    return write_config(dest, inhouse={"diagnostic": {"workers": workers, "queue": queue, "preload": True}},
                        functions={"diagnostic": {"retries": 0}})


def start_bare(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare_app.py")), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    with httpx.Client(timeout=1) as c:
        while time.monotonic() < deadline:
            try:
                if c.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("bare app did not start")


def throughput(n: int, concurrency: int, one) -> float:
    """Run `one(client)` n times over `concurrency` threads; returns operations per second."""
    counter = iter(range(n))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(client_factory):
        with client_factory() as client:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                try:
                    one(client)
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)
                    return

    threads = [threading.Thread(target=worker, args=(one.client_factory,)) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return n / elapsed


def _p50_p99(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def paired_latencies(n: int, ours, bare) -> tuple[tuple[float, float], tuple[float, float]]:
    """Alternate one request to each server, so both see the same machine load (ms)."""
    a, b = [], []
    for i in range(n):
        for get, out in ((ours, a), (bare, b)) if i % 2 == 0 else ((bare, b), (ours, a)):
            t0 = time.perf_counter()
            get()
            out.append((time.perf_counter() - t0) * 1000)
    return _p50_p99(a), _p50_p99(b)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--gets", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--workers", type=int, default=2, help="diagnostic pool size")
    p.add_argument("--rounds", type=int, default=5, help="alternating throughput rounds (median reported)")
    a = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        tmp = Path(tmp)
        toml = tuned_toml(tmp / "modal.toml", a.workers, max(a.concurrency * 2, 8))
        server = ServerProcess(tmp / "data", TOKEN, modal_toml=toml, args=["--kinds", "diagnostic", "--no-access-log", "--log-level", "WARNING"])
        server.start()
        bare_port = free_port()
        bare = start_bare(bare_port)
        bare_url = f"http://127.0.0.1:{bare_port}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        try:
            # -- warm-up both (connection setup, first-import costs, worker warm state)
            with httpx.Client(base_url=server.url, headers=auth, timeout=60) as c:
                for _ in range(10):
                    j = c.post("/v1/jobs", json={"kind": "diagnostic", "input": {}}).json()
                    c.get(f"/v1/jobs/{j['id']}", params={"wait": 30})
                finished_id = j["id"]
            with httpx.Client(base_url=bare_url, timeout=60) as c:
                for _ in range(10):
                    bj = c.post("/jobs", json={"kind": "diagnostic", "input": {}}).json()
                bare_id = bj["id"]

            def api_job(client: httpx.Client) -> None:
                r = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {}})
                r.raise_for_status()
                job = r.json()
                while job["status"] not in ("succeeded", "failed", "cancelled"):
                    job = client.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
                if job["status"] != "succeeded":
                    raise RuntimeError(f"job {job['id']} {job['status']}: {job.get('error')}")

            api_job.client_factory = lambda: httpx.Client(base_url=server.url, headers=auth, timeout=60)

            def bare_job(client: httpx.Client) -> None:
                job = client.post("/jobs", json={"kind": "diagnostic", "input": {}}).json()
                client.get(f"/jobs/{job['id']}").raise_for_status()

            bare_job.client_factory = lambda: httpx.Client(base_url=bare_url, timeout=60)

            # alternate rounds so a noisy neighbour hits both sides alike; report the median round
            per_round = max(1, a.jobs // a.rounds)
            api_rounds, bare_rounds = [], []
            for _ in range(a.rounds):
                api_rounds.append(throughput(per_round, a.concurrency, api_job))
                bare_rounds.append(throughput(per_round, a.concurrency, bare_job))
            api_jps, bare_jps = statistics.median(api_rounds), statistics.median(bare_rounds)

            with httpx.Client(base_url=server.url, headers=auth, timeout=10) as c, httpx.Client(base_url=bare_url, timeout=10) as cb:
                (api_p50, api_p99), (bare_p50, bare_p99) = paired_latencies(
                    a.gets, lambda: c.get(f"/v1/jobs/{finished_id}").raise_for_status(),
                    lambda: cb.get(f"/jobs/{bare_id}").raise_for_status())
        finally:
            server.stop()
            bare.terminate()
            bare.wait(timeout=10)

    print(f"\nbench/api  ({a.jobs} jobs in {a.rounds} alternating rounds, {a.concurrency} client threads, "
          f"{a.workers} diagnostic workers; {a.gets} interleaved status GETs per server; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f})")
    cpu = f" ({server.startup_cpu_s:.2f} s CPU of the server process)" if server.startup_cpu_s is not None else ""
    print(f"canvascast serve healthy after {server.healthy_after_s:.2f} s wall{cpu}\n")
    rows = [
        ("no-op jobs/s (submit + wait)", api_jps, bare_jps, bare_jps / api_jps),
        ("status GET p50 (ms)", api_p50, bare_p50, api_p50 / bare_p50),
        ("status GET p99 (ms)", api_p99, bare_p99, api_p99 / bare_p99),
    ]
    print(f"{'metric':<32}{'canvascast':>12}{'bare FastAPI':>14}{'overhead x':>12}")
    for name, ours, base, ratio in rows:
        print(f"{name:<32}{ours:>12.2f}{base:>14.2f}{ratio:>12.2f}")
    print("\noverhead x = how many times slower than the bare endpoint (jobs: bare/ours; latency: ours/bare).")
    print("The job row includes real worker processes running each diagnostic job; the bare row only answers JSON.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
