"""Cancellations against the scripted server: a seeded fraction of the requests is
cancelled by the client after a delay; they are recorded as cancelled (neither
answered nor failed, outside the error rate), the server sees each closed stream,
and on a server with a scripted capacity the others wait less for it."""

from __future__ import annotations

import time

import pytest

from openaiperf.metrics.latency import latency_metrics
from openaiperf.metrics.throughput import throughput_metrics
from openaiperf.records import Request
from openaiperf.scenarios import create_scenario, scenario_config
from openaiperf.testing.scripted_server import Script, start_scripted_server
from tests.conformance.test_engine_conformance import engine

#: one response at a time, 210 ms each: 4.8 requests/s
SCRIPT = {"tokens": 20, "ttft_ms": 20.0, "gap_ms": 10.0, "max_concurrency": 1}


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def run(server, **options: object):
    server.reset()
    requests = [Request(id=f"q{i}", sample_id=f"s{i}", max_tokens=64, messages=[{"role": "user", "content": f"{i}"}])
                for i in range(40)]
    s = create_scenario("server", scenario_config({"warmup_requests": 0, "qps_target": 4.0, "min_queries": 40,
                                                   "latency_sla": "100000,100000", **options}, source="test"))
    e = engine(server, SCRIPT)
    try:
        result = s.run(e, requests, lambda r: None)
    finally:
        e.teardown()
    time.sleep(0.1)  # the server notes a closed stream at its next write
    return result, server.stats()


def test_cancelled_requests_are_neither_answered_nor_failed_and_the_server_sees_them(server):
    result, stats = run(server, cancel_fraction=0.5, cancel_after_ms=60.0)
    records = result.records
    cancelled = [r for r in records if r.cancelled]
    chosen = result.settings["cancellations"]["chosen"]
    assert 10 <= chosen <= 30 and len(cancelled) <= chosen
    # a chosen request that ended within 60 ms is answered, not cancelled; here none can (E2E 210 ms)
    assert len(cancelled) == chosen
    assert all(not r.ok and not r.failed and r.error is None for r in cancelled)
    # cancelled 60 ms after the send (the event loop's timers count whole milliseconds, and may wake one early)
    assert all(0.059 <= r.done - r.sent <= 0.060 + 0.030 for r in cancelled), [r.done - r.sent for r in cancelled]
    assert len(stats["cancelled"]) == len(cancelled)
    m = throughput_metrics(records)
    assert m["errors"].value == 0 and m["error_rate"].value == 0
    assert m["cancelled"].value == len(cancelled) and m["cancel_rate"].value == pytest.approx(chosen / 40)
    assert result.constraints["error_rate"]


def test_cancellations_free_a_full_server_for_the_others(server):
    """4 requests/s offered to a server of 4.8: queueing; half of them given up after 60 ms
    leave the slot early, so the others wait less for their first token."""
    without, _ = run(server)
    with_cancels, _ = run(server, cancel_fraction=0.5, cancel_after_ms=60.0)
    alone = latency_metrics(without.records)["ttft_p50"].value
    others = latency_metrics([r for r in with_cancels.records if not r.cancelled])["ttft_p50"].value
    assert others < alone, (others, alone)
