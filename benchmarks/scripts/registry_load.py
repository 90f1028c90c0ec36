"""A bounded load test of the registry's read pages on loopback.

Starts ``ob registry serve`` (one uvicorn process, SQLite in a temporary folder) as a
child process on 127.0.0.1, submits ``--runs`` packed runs through its API (each run
three cases, like the tests' runs), then sends ``--requests`` GETs to each read page
from ``--concurrency`` concurrent clients (one asyncio loop, httpx) and prints, per page,
the completed requests per second and the latency percentiles; every answer must be a 200.

    python benchmarks/scripts/registry_load.py --runs 30 --requests 400 --concurrency 8

Figures depend on the machine and on what else runs there: say so next to them
(docs/registry.md lists the ones measured for this project). Nothing leaves loopback;
the loop ends after the fixed number of requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from tests.registry.conftest import make_run, pack  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def hammer(url: str, token: str, path: str, requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=60) as client:
        async def worker() -> None:
            nonlocal failures
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                answer = await client.get(path)
                latencies.append(time.perf_counter() - start)
                failures += answer.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {"requests": requests, "failures": failures, "seconds": elapsed, "req_per_s": requests / elapsed,
            "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95),
            "p99_ms": 1000 * percentile(latencies, 99), "mean_ms": 1000 * statistics.fmean(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs submitted before the reads (default 30)")
    parser.add_argument("--requests", type=int, default=400, help="GETs per page (default 400)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="openaiperf-registry-load-"))
    history = f"sqlite:///{work / 'history.sqlite'}"
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    made = subprocess.run([python, "-m", "openaiperf.cli", "registry", "token", "create", "--scopes", "read,submit",
                           "--name", "load test", "--history", history], env=env, capture_output=True, text=True,
                          check=True)
    token = made.stdout.strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([python, "-m", "openaiperf.cli", "registry", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--history", history, "--data-dir", str(work / "data"), "--no-access-log",
                               "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the registry did not start")
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        started = time.perf_counter()
        for i in range(args.runs):
            run_dir = make_run(work / "reports", f"run-{i:03d}", f"2026-11-{1 + i % 28:02d}T{i // 28:02d}:00:00+00:00",
                               ttft_ms=20.0 + i % 7, full=i % 3 == 0)
            with contextlib.redirect_stdout(io.StringIO()):
                archive = pack(run_dir, work / f"run-{i}.tgz")
            answer = httpx.post(f"{url}/api/v1/submissions", headers=headers, content=archive.read_bytes(),
                                params={"tags": "load"}, timeout=120)
            assert answer.status_code == 201, answer.text
        submit_s = time.perf_counter() - started
        pages = {
            "runs (/)": "/",
            "runs filtered": "/?engine=vllm&tags=load",
            "one run": "/runs/2",
            "trend": "/trend?case=summarization.xsum-offline-hf-m&metric=ttft_p50&hardware=cpu",
            "leaderboard": "/leaderboard?task=summarization.xsum&scenario=offline&hardware=cpu&metric=ttft_p50",
            "API runs": "/api/v1/runs",
        }
        results = {}
        for name, path in pages.items():
            results[name] = asyncio.run(hammer(url, token, path, args.requests, args.concurrency))
        print(f"load average (1, 5, 15 min) at the end of the reads: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
              f"on {os.cpu_count()} CPU(s)")
        print(f"{args.runs} runs submitted in {submit_s:.1f} s ({submit_s / args.runs * 1000:.0f} ms each, "
              "one at a time, packing included)")
        print(f"{'page':<16} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'failed':>7}")
        for name, figures in results.items():
            print(f"{name:<16} {figures['req_per_s']:>8.1f} {figures['p50_ms']:>8.1f} {figures['p95_ms']:>8.1f} "
                  f"{figures['p99_ms']:>8.1f} {figures['failures']:>7.0f}")
        if args.json:
            Path(args.json).write_text(json.dumps({"runs": args.runs, "concurrency": args.concurrency,
                                                   "submit_s": submit_s, "pages": results}, indent=2))
        return 1 if any(r["failures"] for r in results.values()) else 0
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
