"""The SLA search (``--find-sla``) against the scripted server with a scripted capacity:
with evenly spaced arrivals a server of 2 responses at once, 110 ms each, queues no
request below 18.2 requests/s and an ever longer queue above it, so the highest rate at
which 90% of the requests see their first token within 100 ms (20 ms scripted + 80 ms
of queueing allowed) is its capacity."""

from __future__ import annotations

import pytest

from openaiperf.loadgen.sla_search import SlaTrial, sla_estimate
from openaiperf.scenarios import create_scenario, scenario_config
from openaiperf.testing.scripted_server import Script, start_scripted_server
from tests.conformance.test_engine_conformance import engine
from tests.conformance.test_saturation_conformance import CAPACITY_QPS, CAPACITY_SCRIPT, requests


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def test_find_sla_recovers_the_scripted_capacity(server):
    e = engine(server, CAPACITY_SCRIPT)
    s = create_scenario("server", scenario_config(
        {"warmup_requests": 0, "qps_target": 6.0, "find_sla": True, "sla_attainment": 0.9,
         "latency_sla": "100,1000", "burstiness": 1000.0, "min_queries": 60, "peak_max_trials": 6,
         "peak_tolerance": 0.05}, source="test"))
    try:
        run = s.run(e, requests(), lambda r: None)
    finally:
        e.teardown()
    found = run.settings["find_sla"]
    assert found["passing_qps"] <= CAPACITY_QPS * 1.05 and found["failing_qps"] >= CAPACITY_QPS * 0.95, found
    assert found["estimate_qps"] == pytest.approx(CAPACITY_QPS, rel=0.10), found
    assert 0 < found["uncertainty_qps"] <= found["failing_qps"] - found["passing_qps"]
    metrics = s.metrics(run.records, [run])
    assert metrics["sla_qps"].value == found["estimate_qps"]


def test_the_estimate_interpolates_between_the_bracketing_trials():
    trials = [SlaTrial(10.0, 1.0, 100), SlaTrial(20.0, 0.5, 100), SlaTrial(15.0, 0.95, 100)]
    estimate = sla_estimate(trials, 0.9)
    assert (estimate.passing_qps, estimate.failing_qps) == (15.0, 20.0)
    assert estimate.estimate_qps == pytest.approx(15.0 + 0.05 / 0.45 * 5.0)
    # the binomial errors of 0.95 and 0.5 over 100 requests, through the slope 0.45 / 5
    assert estimate.uncertainty_qps == pytest.approx((0.95 * 0.05 / 100 + 0.25 / 100) ** 0.5 / 0.09)
    assert sla_estimate([SlaTrial(10.0, 0.5, 100)], 0.9).estimate_qps is None
