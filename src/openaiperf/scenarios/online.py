"""What the online scenarios (multi_stream, server, interactive) share: warmup
requests, validity, and the notes a report needs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from openaiperf.loadgen.dispatcher import DispatchResult
from openaiperf.records import Request
from openaiperf.scenarios import ScenarioConfig, ScenarioRun, check_minimums


def with_warmup(requests: Sequence[Request], warmup: int, min_queries: int = 1) -> list[Request]:
    """``warmup`` extra requests (the case's requests again, with new ids and a tag
    at the start of their prompt, so that a prefix cache cannot serve the measured
    ones from them) in front of the measured ones; the measured ones are repeated
    until there are ``min_queries`` of them."""
    measured = list(requests)
    if requests:
        cycle = 1
        while len(measured) < min_queries:
            measured += [replace(r, id=f"{r.id}~{cycle}") for r in requests[: min_queries - len(measured)]]
            cycle += 1
    head = [requests[i % len(requests)].warmup_copy(i) for i in range(warmup)] if requests else []
    return head + measured


def default_warmup(concurrency: float) -> int:
    """MLPerf: warmup at least the concurrency, so measurement starts in steady state."""
    return max(1, math.ceil(concurrency))


def finish_run(result: DispatchResult, config: ScenarioConfig, settings: dict[str, Any],
               engine: Any) -> ScenarioRun:
    run = ScenarioRun(records=result.records, start=result.start, end=result.end, settings=settings)
    check_minimums(run, config)
    warmup = sum(r.warmup for r in result.records)
    run.notes.append(f"{warmup} warmup request(s) sent first and not measured")
    if not engine.concurrent:
        # The runner notes that the engine queues requests; say here that the queueing is measured.
        run.settings["queued_in_front_of_engine"] = True
    return run
