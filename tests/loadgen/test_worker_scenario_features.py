"""Cancellations, probe requests and the saturation stop with ``--loadgen-workers 2``,
against the scripted server (ground truth: its own record of closed streams and its
scripted capacity), recovering what the in-process tests recover
(tests/conformance/test_cancellation_conformance.py, test_saturation_conformance.py):
the same requests cancelled whatever the number of workers, probes measured apart,
and a ramp stopped at the capacity of a server that serves a scripted number at once."""

from __future__ import annotations

import time

import pytest

from openaiperf.loadgen.workers import MergedSchedule, ShardPlan
from openaiperf.metrics.throughput import throughput_metrics
from openaiperf.records import Record, Request
from openaiperf.scenarios import create_scenario, scenario_config
from openaiperf.testing.scripted_server import Script, start_scripted_server
from tests.conformance.test_engine_conformance import engine
from tests.conformance.truth import close_start
from tests.loadgen.harness import loadgen_processes

pytestmark = pytest.mark.timing

#: 20 tokens: E2E 20 + 19 x 10 = 210 ms, longer than the 60 ms after which a chosen request is cancelled
LONG_SCRIPT = {"tokens": 20, "ttft_ms": 20.0, "gap_ms": 10.0}
#: 10 tokens: E2E 110 ms; 2 at once: 18.2 requests/s
CAPACITY_SCRIPT = {"tokens": 10, "ttft_ms": 20.0, "gap_ms": 10.0, "max_concurrency": 2}
CAPACITY_QPS = 2 / 0.110


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def requests(count: int) -> list[Request]:
    return [Request(id=f"q{i}", sample_id=f"s{i}", max_tokens=64, messages=[{"role": "user", "content": f"q {i}"}])
            for i in range(count)]


def run(server, script: dict, count: int, sink=None, **options: object):
    server.reset()
    scenario = create_scenario("server", scenario_config(
        {"warmup_requests": 0, "min_queries": count, "latency_sla": "100000,100000", **options}, source="test"))
    e = engine(server, script)
    try:
        result = scenario.run(e, requests(count), sink or (lambda r: None))
    finally:
        e.teardown()
    time.sleep(0.1)  # the server notes a closed stream at its next write
    return scenario, result, server.stats()


def test_the_same_requests_are_cancelled_from_two_workers_as_from_one_process(server):
    options = {"qps_target": 20.0, "cancel_fraction": 0.5, "cancel_after_ms": 60.0}
    _, alone, _ = run(server, LONG_SCRIPT, 40, **options)
    _, split, stats = run(server, LONG_SCRIPT, 40, loadgen_workers="2", **options)
    assert split.settings["loadgen"]["workers"] == 2 and {r.worker for r in split.records} == {0, 1}
    chosen = split.settings["cancellations"]["chosen"]
    assert chosen == alone.settings["cancellations"]["chosen"] and 10 <= chosen <= 30
    cancelled = {r.request_id for r in split.records if r.cancelled}
    # decided once on the global schedule: the same requests, whichever worker sent them
    assert cancelled == {r.request_id for r in alone.records if r.cancelled}
    assert len(cancelled) == chosen and len(stats["cancelled"]) == chosen
    assert all(0.059 <= r.done - r.sent <= 0.090 for r in split.records if r.cancelled)
    m = throughput_metrics(split.records)
    assert m["cancelled"].value == chosen and m["errors"].value == 0
    assert not loadgen_processes()


def test_probes_from_a_worker_are_measured_apart(server):
    kept: list[Record] = []
    scenario, result, stats = run(server, {**CAPACITY_SCRIPT, "max_concurrency": 0}, 40, sink=kept.append,
                                  qps_target=20.0, probe_rate=10.0, loadgen_workers="2")
    probes = result.settings["probes"]
    assert probes["sent"] >= 10 and probes["ok"] == probes["sent"]
    # apart from the load: not in its records, nor in the records file
    assert len(kept) == len(result.records) == 40 and not any(r.request_id.startswith("probe") for r in kept)
    assert stats["requests"] == 40 + probes["sent"]
    assert all(r.output_tokens == 1 and r.worker == 0 for r in scenario.probe_records)
    # an idle server's first token (20 ms), times corrected into the driver's clock
    metrics = scenario.metrics(kept, [result])
    assert close_start(metrics["probe_ttft_p50"].value, 0.020), metrics["probe_ttft_p50"].value


@pytest.mark.flaky(reruns=2)  # a VM stall near the onset delays the test's verdict past the ramp's end
def test_a_ramp_from_two_workers_stops_at_the_servers_capacity(server):
    scenario, result, _ = run(server, CAPACITY_SCRIPT, 64, qps_target=45.0, rate_ramp="linear", ramp_start_qps=5.0,
                              ramp_duration_s=6.0, loadgen_workers="2")
    saturation = result.settings["saturation"]
    assert saturation["detected"] and result.constraints["not_oversaturated"] is False
    # the driver halted the workers on the merged records: fewer sent than scheduled
    assert result.settings["stopped_early"]["sent"] < result.settings["stopped_early"]["scheduled"]
    assert "halted_after_s" in result.settings["loadgen"]
    assert saturation["saturation_qps"] == pytest.approx(CAPACITY_QPS, rel=0.10), saturation
    assert scenario.metrics(result.records, [result])["saturation_qps"].value == pytest.approx(CAPACITY_QPS, rel=0.10)


def test_the_drivers_view_counts_due_unreported_requests_in_flight():
    items = requests(4)
    plans = [ShardPlan(worker=0, indexes=[0, 2], items=[items[0], items[2]], offsets=[0.0, 2.0], warmup=0,
                       round_index=0, sessions=False, engine_class="", engine_spec={}),
             ShardPlan(worker=1, indexes=[1, 3], items=[items[1], items[3]], offsets=[1.0, 3.0], warmup=0,
                       round_index=0, sessions=False, engine_class="", engine_spec={})]
    done = Record(request_id="q0", sample_id="s0", scheduled=10.0, sent=10.0, done=10.5)
    view = MergedSchedule(plans).so_far({"q0": done}, t0=10.0, now=12.5)
    # due by 2.5 s: q0 (reported), q1 and q2 (in flight since their scheduled times); q3 not yet due
    assert [r.request_id for r in view] == ["q0", "q1", "q2"]
    assert view[0] is done and [(r.scheduled, r.done) for r in view[1:]] == [(11.0, None), (12.0, None)]
