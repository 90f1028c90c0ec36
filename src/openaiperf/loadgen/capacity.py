"""The client's own capacity on this machine, measured once and cached (``--loadgen-workers auto``).

One client process sends Poisson arrivals through the real ``openai`` engine and
the open-loop dispatcher to the scripted server (1 ms to the first token, 1 ms
a token, 16 tokens; a subprocess on loopback) at doubling rates, one second
each, until it no longer holds the rate: achieved send rate below 0.99 of the
schedule's, p99 send lag above 5 ms, or a failed request. The highest rate held
is the capacity of one worker. It is cached as ``client-capacity.json`` in the
suite's cache (``$OPENAIPERF_CACHE_DIR``, default ``~/.cache/openaiperf``), keyed
by the machine (host, CPU model and count, Python), as the hardware calibration
is kept with its machine; delete the file to measure again (a figure measured
while the machine was busy is low: measure on a quiet machine).

``auto`` plans each worker at :data:`HEADROOM` of that capacity (send lag
grows well before a client collapses) and uses at most one worker per CPU.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

#: a worker is planned at this fraction of the measured capacity
HEADROOM = 0.5
RATES = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
TRIAL_S = 1.0
MAX_LAG_P99_MS = 5.0
TOKENS = 16


def cache_file() -> Path:
    """``client-capacity.json`` in the suite's cache (``$OPENAIPERF_CACHE_DIR``, default ``~/.cache/openaiperf``)."""
    from openaiperf.models.embedded import cache_root

    return cache_root() / "client-capacity.json"


def machine_key() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{platform.node()}|{cpu}|{psutil.cpu_count()}|{platform.python_version()}"


def held(url: str, rate: float, seconds: float = TRIAL_S) -> bool:
    """Whether one client process holds ``rate`` requests/s against the server at ``url``."""
    import numpy as np

    from openaiperf.engines import EngineContext
    from openaiperf.engines.openai import OpenAIEngine
    from openaiperf.loadgen.arrivals import arrival_times
    from openaiperf.loadgen.dispatcher import dispatch_open, engine_sender, run_dispatch
    from openaiperf.records import Record, Request

    engine = OpenAIEngine(EngineContext(model=None, weights="", hardware=None, dtype="float32",
                                        options={"endpoint": url, "served_model": "stub",
                                                 "client_tokenizer": False}))
    engine.prepare()
    count = max(20, int(rate * seconds))
    warmup = count // 5
    requests = [Request(id=f"c{i}", sample_id=str(i), max_tokens=TOKENS, prompt="hello") for i in range(count)]
    records = [Record(request_id=r.id, sample_id=r.sample_id) for r in requests]
    offsets = arrival_times(count, rate, seed=0, warmup=warmup)
    run_dispatch(engine, lambda: dispatch_open(requests, records, offsets, engine_sender(engine), lambda r: None,
                                               warmup=warmup))
    engine.teardown()
    measured = [r for r in records if not r.warmup]
    if any(not r.ok for r in measured):
        return False
    scheduled = np.array([r.scheduled for r in measured])
    sent = np.array([r.sent for r in measured])
    achieved = (len(sent) - 1) / (sent.max() - sent.min())
    schedule = (len(scheduled) - 1) / (scheduled[-1] - scheduled[0])
    return achieved >= 0.99 * schedule and float(np.percentile((sent - scheduled) * 1000, 99)) <= MAX_LAG_P99_MS


def measure_capacity() -> dict[str, Any]:
    """The highest of :data:`RATES` one client process holds (against a scripted server)."""
    from openaiperf.testing.scripted_server import Script, start_scripted_server

    best = 0.0
    started = time.perf_counter()
    with start_scripted_server(Script(tokens=TOKENS, ttft_ms=1.0, gap_ms=1.0)) as server:
        for rate in RATES:
            if not held(server.url, rate):
                break
            best = rate
    return {"machine": machine_key(), "requests_per_s": best or RATES[0] / 2, "tokens": TOKENS,
            "measured_at": time.time(), "seconds": round(time.perf_counter() - started, 1)}


def client_capacity() -> dict[str, Any]:
    """This machine's client capacity: cached, else measured now (about ten seconds) and cached."""
    path = cache_file()
    key = machine_key()
    try:
        cached: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("machine") == key and cached.get("requests_per_s"):
            return cached
    except (OSError, ValueError):
        pass
    measured = measure_capacity()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    return measured


def workers_for(qps: float, capacity: float, cpus: int) -> int:
    """Workers for ``qps``: each at :data:`HEADROOM` of ``capacity``, at most one per CPU."""
    return max(1, min(max(cpus, 1), math.ceil(qps / (HEADROOM * capacity))))


def auto_workers(qps: float) -> int:
    return workers_for(qps, float(client_capacity()["requests_per_s"]), os.cpu_count() or 1)
