"""What the load generator worker tests share: a server scenario run through a real
``openai`` engine against the scripted server, which records every arrival itself
(its ``/stats``): the ground truth for what the workers sent and when."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import psutil

from openaiperf.engines import EngineContext
from openaiperf.engines.openai import OpenAIEngine
from openaiperf.loadgen.arrivals import arrival_times
from openaiperf.records import Record, Request
from openaiperf.scenarios import ScenarioRun, scenario_config
from openaiperf.scenarios.server import ServerScenario
from openaiperf.testing.scripted_server import Script

#: requests per run, and their rate: a schedule that spans about 1.6 s
COUNT = 160
QPS = 100.0
SEED = 3
SCRIPT = Script(tokens=4, ttft_ms=1.0, gap_ms=1.0)


def engine(url: str) -> OpenAIEngine:
    options = {"endpoint": url, "served_model": "stub", "client_tokenizer": False, "request_timeout_s": 10.0}
    e = OpenAIEngine(EngineContext(model=None, weights="",
                                   hardware=SimpleNamespace(device="cpu"), dtype="float32", options=options))
    e.prepare()
    return e


def requests(count: int = COUNT) -> list[Request]:
    # each prompt names its request, so the server's record of it can be matched
    return [Request(id=f"q{i}", sample_id=str(i), max_tokens=4, prompt=f"request q{i}") for i in range(count)]


@dataclass
class Outcome:
    run: ScenarioRun
    sunk: list[Record]
    server: dict[str, Any]
    seconds: float

    @property
    def loadgen(self) -> dict[str, Any]:
        return dict(self.run.settings["loadgen"])

    def server_rate(self) -> float:
        arrivals = sorted(self.server["arrivals"])
        return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


def run_server_scenario(server: Any, workers: int = 2, cluster: str | None = None,
                        on_record: Callable[[Record], None] | None = None, **options: Any) -> Outcome:
    """One round of ``server`` at :data:`QPS` from ``workers`` workers (no warmup, so
    every request the server sees is a measured one); ``on_record`` sees each record as
    the driver passes it on."""
    scenario = ServerScenario(scenario_config(
        {"qps_target": QPS, "seed": SEED, "warmup_requests": 0, "min_queries": COUNT, "latency_sla": "60000,60000",
         "loadgen_workers": str(workers), "loadgen_cluster": cluster, **options}, source="test"))
    e = engine(server.url)
    server.reset()
    sunk: list[Record] = []
    started = time.perf_counter()
    try:
        def sink(record: Record) -> None:
            sunk.append(record)
            if on_record is not None:
                on_record(record)

        run = scenario.run(e, requests(), sink, 0)
    finally:
        e.teardown()
    return Outcome(run, sunk, server.stats(), time.perf_counter() - started)


def global_schedule() -> list[float]:
    """The schedule one process would have sent: offsets from the first request."""
    return arrival_times(COUNT, QPS, seed=SEED, warmup=0).tolist()


def loadgen_processes() -> list[psutil.Process]:
    """Worker processes of this test process still alive (there must be none after a run)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                out.append(child)
        except psutil.Error:
            continue
    return out
