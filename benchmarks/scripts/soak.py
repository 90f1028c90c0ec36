"""Soak: minutes of steady load with faults, then check that nothing leaked and nothing was lost.

The load goes through the suite's own parts: the ``openai`` engine, the open-loop
dispatcher (Poisson arrivals at ``--rate``, latency from the scheduled time) and the
record writer, against the scripted server on loopback, which answers every
``--fault-every``-th request with the next fault of its cycle (HTTP 429, HTTP 500, a
cut stream, a stall, a malformed chunk). The run is a sequence of windows of
``--window-s`` seconds; each is one dispatch in a fresh event loop with its own HTTP
session, as a benchmark round is, and its records are appended to one JSONL file.
After every window the client's resident memory (RSS), open file descriptors,
threads, its TCP connections still open, and the asyncio tasks left in the loop are
sampled (psutil; after a garbage collection, so that what is measured is what is
still referenced).

Afterwards it checks, and exits with 1 when one fails:

- records: every scheduled request has exactly one record (ids unique, count equal);
- faults: the failed records are exactly the injected faults, kind by kind (a stall
  delays a request, it does not fail it), and the server saw every request once;
- RSS flat: after the first minute (the first window for a run shorter than two
  minutes), RSS grows by less than ``--rss-bound-mib`` (default 8 MiB);
- open file descriptors and threads flat: none more at any later window than at the
  first one after the first minute;
- no leaked tasks (none left in a window's loop 2 s after its dispatch returned) and no
  leaked connections (none of this process's TCP connections still open once the
  window's session is closed).

    python benchmarks/scripts/soak.py                  # 10 minutes, 20 requests/s, a fault every 10th
    python benchmarks/scripts/soak.py --minutes 1 --rate 50 --fault-every 5 --json soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
# the scripted server runs in a subprocess: the same sources
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)

from openaiperf.engines import EngineContext  # noqa: E402
from openaiperf.engines.openai import OpenAIEngine  # noqa: E402
from openaiperf.loadgen.arrivals import arrival_times  # noqa: E402
from openaiperf.loadgen.client_load import PROBE_TASK  # noqa: E402
from openaiperf.loadgen.dispatcher import dispatch_open, engine_sender, run_dispatch  # noqa: E402
from openaiperf.records import Record, RecordWriter, Request  # noqa: E402
from openaiperf.testing.scripted_server import FAULTS, Script, start_scripted_server  # noqa: E402

MIB = 1024 * 1024
#: how long a window's loop may still hold tasks after its dispatch returned before they count as leaked
LEAK_GRACE_S = 2.0
#: how a failed record's error begins, per injected fault (a stall fails nothing)
FAULT_ERRORS = {"429": "HTTP 429", "500": "HTTP 500", "cut": "stream cut", "malformed": "malformed SSE",
                "error": "server error in stream"}


@dataclass
class Sample:
    """The client after one window."""

    elapsed_s: float
    requests: int        # scheduled so far
    rss_mib: float
    fds: int
    threads: int
    connections: int     # this process's TCP connections not closed, with the window's session closed
    leaked_tasks: int    # tasks other than the dispatch's own still in its loop when it returned


def connections_open(process: psutil.Process) -> int:
    return sum(1 for c in process.net_connections(kind="tcp") if c.status not in (psutil.CONN_CLOSE, "NONE"))


def run_window(engine: OpenAIEngine, index: int, count: int, rate: float, writer: RecordWriter) -> int:
    """One dispatch of ``count`` requests at ``rate``; returns the tasks left in its loop."""
    requests = [Request(id=f"w{index}-r{i}", sample_id=f"s{i % 50}", max_tokens=16,
                        messages=[{"role": "user", "content": f"soak window {index} request {i}"}])
                for i in range(count)]
    records = [Record(request_id=r.id, sample_id=r.sample_id, round=index) for r in requests]
    offsets = arrival_times(count, rate, seed=index)
    leaked: list[int] = []

    def others() -> int:
        # the client's own load probe runs beside every dispatch until the dispatch's loop ends
        return sum(1 for task in asyncio.all_tasks()
                   if task is not asyncio.current_task() and task.get_name() != PROBE_TASK)

    async def dispatch() -> Any:
        result = await dispatch_open(requests, records, offsets, engine_sender(engine), writer.write)
        # The HTTP library's own housekeeping (a connection's close) may still be finishing as the
        # dispatch returns, later on a loaded machine: a leak is a task still there after a grace period.
        deadline = time.monotonic() + LEAK_GRACE_S
        while others() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        leaked.append(others())
        return result

    run_dispatch(engine, dispatch)
    return leaked[0]


def judge(samples: list[Sample], *, warm_s: float, rss_bound_mib: float) -> dict[str, tuple[bool, str]]:
    """The resource properties: name -> (held, what was seen)."""
    warm = next((s for s in samples if s.elapsed_s >= warm_s), samples[-1])
    later = [s for s in samples if s.elapsed_s >= warm.elapsed_s]
    growth = max(s.rss_mib for s in later) - warm.rss_mib
    fds = max(s.fds for s in later) - warm.fds
    threads = max(s.threads for s in later) - warm.threads
    return {
        "rss flat": (growth < rss_bound_mib, f"{warm.rss_mib:.1f} MiB at {warm.elapsed_s:.0f} s, at most "
                                             f"{growth:+.1f} MiB after it (bound {rss_bound_mib:g} MiB)"),
        "fds flat": (fds <= 0, f"{warm.fds} at {warm.elapsed_s:.0f} s, at most {fds:+d} after it"),
        "threads flat": (threads <= 0, f"{warm.threads} at {warm.elapsed_s:.0f} s, at most {threads:+d} after it"),
        "no leaked tasks": (all(s.leaked_tasks == 0 for s in samples),
                            f"at most {max(s.leaked_tasks for s in samples)} left in a window's loop"),
        "no leaked connections": (all(s.connections == 0 for s in samples),
                                  f"at most {max(s.connections for s in samples)} open after a window's session "
                                  f"closed"),
    }


def check_records(path: Path, scheduled: list[str], server: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    """Every scheduled request exactly once; failures exactly the injected faults."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [line["request_id"] for line in lines]
    once = Counter(ids)
    missing = set(scheduled) - set(once)
    twice = [i for i, n in once.items() if n > 1]
    failed: Counter[str] = Counter()
    unexpected: list[str] = []
    for line in lines:
        if line["error"]:
            kind = next((f for f, prefix in FAULT_ERRORS.items() if line["error"].startswith(prefix)), None)
            if kind is None:
                unexpected.append(line["error"])
            else:
                failed[kind] += 1
    injected = {k: v for k, v in server["faults"].items() if k in FAULT_ERRORS}
    return {
        "one record each": (len(lines) == len(scheduled) and not missing and not twice,
                            f"{len(scheduled)} scheduled, {len(lines)} records, {len(set(ids))} distinct ids, "
                            f"{len(missing)} missing, {len(twice)} twice"),
        "failures = faults": (dict(failed) == injected and not unexpected,
                              f"injected {dict(sorted(server['faults'].items()))}; "
                              f"failed {dict(sorted(failed.items()))}"
                              + (f"; unexpected errors: {unexpected[:3]}" if unexpected else "")),
        "server saw each once": (server["requests"] == len(scheduled),
                                 f"{server['requests']} requests at the server"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (Poisson arrivals)")
    parser.add_argument("--window-s", type=float, default=10.0, help="seconds of load per dispatch (one event loop)")
    parser.add_argument("--fault-every", type=int, default=10, help="every Nth request gets a fault (0: none)")
    parser.add_argument("--faults", default="429,500,cut,stall,malformed",
                        help=f"the faults, in turn (of {', '.join(FAULTS)})")
    parser.add_argument("--stall-ms", type=float, default=300.0, help="the stall fault's pause")
    parser.add_argument("--rss-bound-mib", type=float, default=8.0,
                        help="largest RSS growth allowed after the first minute")
    parser.add_argument("--json", type=Path, default=None, help="also write the samples and checks here")
    args = parser.parse_args(argv)
    script = Script(tokens=16, ttft_ms=20.0, gap_ms=5.0, fault_every=args.fault_every,
                    fault_cycle=tuple(args.faults.split(",")), fault_stall_ms=args.stall_ms)
    duration_s = args.minutes * 60
    warm_s = 60.0 if duration_s >= 120 else 0.0
    per_window = max(1, round(args.rate * args.window_s))
    process = psutil.Process()
    samples: list[Sample] = []
    scheduled: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ob-soak-") as scratch, start_scripted_server(script) as server:
        records_path = Path(scratch) / "records.jsonl"
        context = EngineContext(model=None, weights="(none)",
                                hardware=SimpleNamespace(device="cpu"), dtype="float32",
                                options={"endpoint": server.url, "served_model": "stub", "client_tokenizer": False,
                                         "server_metrics": False, "request_timeout_s": 30.0})
        engine = OpenAIEngine(context)
        engine.prepare()
        start = time.monotonic()
        index = 0
        try:
            while time.monotonic() - start < duration_s:
                with RecordWriter(records_path, time.perf_counter()) as writer:
                    leaked = run_window(engine, index, per_window, args.rate, writer)
                scheduled += [f"w{index}-r{i}" for i in range(per_window)]
                gc.collect()
                samples.append(Sample(round(time.monotonic() - start, 1), len(scheduled),
                                      round(process.memory_info().rss / MIB, 2), process.num_fds(),
                                      threading.active_count(), connections_open(process), leaked))
                index += 1
                print(f"{samples[-1].elapsed_s:7.1f} s  {len(scheduled):6d} requests  RSS "
                      f"{samples[-1].rss_mib:7.1f} MiB  fds {samples[-1].fds:3d}  threads {samples[-1].threads}  "
                      f"connections {samples[-1].connections}  leaked tasks {leaked}", flush=True)
        finally:
            engine.teardown()
        stats = server.stats()
        checks = check_records(records_path, scheduled, stats)
    checks |= judge(samples, warm_s=warm_s, rss_bound_mib=args.rss_bound_mib)
    elapsed = samples[-1].elapsed_s if samples else 0.0
    print(f"\nsoak: {len(scheduled)} requests in {elapsed:.0f} s ({len(scheduled) / max(elapsed, 1e-9):.1f}/s), "
          f"{len(samples)} windows, a fault every {args.fault_every} ({args.faults})")
    print(f"{'property':<22} {'result':<6}  seen")
    for name, (held, seen) in checks.items():
        print(f"{name:<22} {'ok' if held else 'FAILED':<6}  {seen}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "samples": [asdict(s) for s in samples],
                                         "checks": {k: {"held": h, "seen": s} for k, (h, s) in checks.items()}},
                                        indent=1), encoding="utf-8")
    return 0 if all(held for held, _ in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
