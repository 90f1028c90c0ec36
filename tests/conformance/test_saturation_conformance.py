"""Rate ramps, over-saturation, probe requests and the early-stopping estimate against
the scripted server with a scripted capacity (``max_concurrency`` responses at once,
each taking its script's E2E: a capacity of max_concurrency / E2E requests/s), and against
a batching one (``batch_slowdown``: every arrival runs at once, each chunk's gap grows with
the responses running, so past its capacity TTFT stays flat while TPOT and E2E rise)."""

from __future__ import annotations

import numpy as np
import pytest

from openaiperf.loadgen.arrivals import RateRamp, ramp_times
from openaiperf.loadgen.saturation import block_means, decode_rate_qps, detect_saturation
from openaiperf.records import Request
from openaiperf.scenarios import create_scenario, scenario_config
from openaiperf.testing.scripted_server import Script, start_scripted_server
from tests.conformance.test_engine_conformance import engine
from tests.conformance.truth import close_start

#: 10 tokens: E2E 20 + 9 x 10 = 110 ms; 2 at once: 18.2 requests/s
CAPACITY_SCRIPT = {"tokens": 10, "ttft_ms": 20.0, "gap_ms": 10.0, "max_concurrency": 2}
CAPACITY_QPS = 2 / 0.110
#: 11 tokens, k = 1: 200 decode tokens/s shared by the running responses, 10 per request: 20 requests/s
BATCH_SCRIPT = {"tokens": 11, "ttft_ms": 20.0, "gap_ms": 5.0, "batch_slowdown": 1.0}
BATCH_QPS = Script(**BATCH_SCRIPT).batch_capacity_qps()


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def requests(count: int = 64) -> list[Request]:
    return [Request(id=f"q{i}", sample_id=f"s{i}", max_tokens=64, messages=[{"role": "user", "content": f"q {i}"}])
            for i in range(count)]


def scenario(**options: object):
    return create_scenario("server", scenario_config({"warmup_requests": 0, **options}, source="test"))


def test_a_ramp_stops_where_the_server_saturates_and_finds_its_capacity(server):
    server.reset()
    e = engine(server, CAPACITY_SCRIPT)
    kept: list = []
    s = scenario(qps_target=45.0, rate_ramp="linear", ramp_start_qps=5.0, ramp_duration_s=6.0,
                 latency_sla="100000,100000")
    try:
        run = s.run(e, requests(), kept.append)
    finally:
        e.teardown()
    saturation = run.settings["saturation"]
    assert saturation["detected"] and run.constraints["not_oversaturated"] is False
    # the ramp stopped before its end: fewer sent than scheduled
    assert run.settings["stopped_early"]["sent"] < run.settings["stopped_early"]["scheduled"]
    assert saturation["saturation_qps"] == pytest.approx(CAPACITY_QPS, rel=0.10), saturation
    # the onset's offered rate is the capacity too, less precisely (a queue near capacity grows slowly)
    assert saturation["onset_offered_qps"] == pytest.approx(CAPACITY_QPS, rel=0.35), saturation
    metrics = s.metrics(run.records, [run])
    assert metrics["saturation_qps"].value == pytest.approx(CAPACITY_QPS, rel=0.10)


def test_below_capacity_a_steady_rate_is_not_over_saturated(server):
    e = engine(server, CAPACITY_SCRIPT)
    s = scenario(qps_target=12.0, stop_on_saturation=True, latency_sla="100000,100000", min_queries=100)
    try:
        run = s.run(e, requests(), lambda r: None)
    finally:
        e.teardown()
    assert run.settings["saturation"]["detected"] is False and run.constraints["not_oversaturated"]
    assert run.settings["saturation"]["growth"] is not None  # enough requests: the test was asked


def test_find_peak_stops_at_saturation_near_the_capacity(server):
    e = engine(server, CAPACITY_SCRIPT)
    s = scenario(qps_target=8.0, find_peak=True, stop_on_saturation=True, latency_sla="100000,100000",
                 peak_max_trials=4, min_queries=80)
    try:
        run = s.run(e, requests(), lambda r: None)
    finally:
        e.teardown()
    trials = run.settings["find_peak"]["trials"]
    # 8 and 16 requests/s are below the capacity of 18.2, 32 is over it
    assert [t["qps"] for t in trials[:3]] == [8.0, 16.0, 32.0] and trials[0]["valid"] and trials[1]["valid"]
    assert not trials[2]["valid"] and trials[2]["saturation"]["detected"], trials
    # the server completed at its capacity in the over-saturated trial
    assert trials[2]["saturation"]["saturation_qps"] == pytest.approx(CAPACITY_QPS, rel=0.10), trials
    assert 16.0 <= run.settings["find_peak"]["peak_qps"] <= CAPACITY_QPS * 1.1
    assert s.metrics(run.records, [run])["saturation_qps"].value == pytest.approx(CAPACITY_QPS, rel=0.10)


def test_probe_requests_are_measured_apart_and_see_the_queue(server):
    """Below capacity a probe's TTFT is the script's; the probes never enter the load's records."""
    e = engine(server, {**CAPACITY_SCRIPT, "max_concurrency": 0})
    kept: list = []
    s = scenario(qps_target=10.0, probe_rate=5.0, latency_sla="100000,100000", min_queries=30)
    try:
        run = s.run(e, requests(), kept.append)
    finally:
        e.teardown()
    assert run.settings["probes"]["sent"] >= 2 and run.settings["probes"]["ok"] == run.settings["probes"]["sent"]
    assert not any(r.request_id.startswith("probe") for r in kept)
    assert all(r.output_tokens == 1 for r in s.probe_records)
    metrics = s.metrics(kept, [run])
    assert close_start(metrics["probe_ttft_p50"].value, 0.020), metrics["probe_ttft_p50"].value


def test_the_ramp_is_a_seeded_non_homogeneous_poisson_process():
    ramp = RateRamp("linear", 2.0, 20.0, 10.0)
    assert np.array_equal(ramp_times(ramp, ramp.count(), seed=3), ramp_times(ramp, ramp.count(), seed=3))
    runs = [ramp_times(ramp, ramp.count() + 60, seed=seed) for seed in range(400)]  # past the ramp's end
    # arrivals per second follow the rate, 2 -> 20 over 10 s (time-rescaling theorem), over many seeds;
    # the first request goes at 0 (as every schedule's), the process's arrivals follow it
    for start in (0.0, 4.0, 8.0):
        count = np.mean([np.sum((times[1:] >= start) & (times[1:] < start + 2.0)) for times in runs])
        assert count == pytest.approx(ramp.expected(start + 2.0) - ramp.expected(start), rel=0.05)
    exponential = RateRamp("exponential", 1.0, 16.0, 4.0)
    assert exponential.rate(2.0) == pytest.approx(4.0) and exponential.time_of(exponential.expected(3.0)) == \
        pytest.approx(3.0)


def test_a_steady_server_reads_not_saturated():
    from openaiperf.records import Record

    records = []
    for i in range(100):
        r = Record(request_id=str(i), sample_id="s")
        r.scheduled = r.sent = i * 0.1
        r.first_token, r.done = r.scheduled + 0.02 + 0.001 * (i % 3), r.scheduled + 0.05
        records.append(r)
    assert not detect_saturation(records).detected


def test_the_batching_script_has_the_capacity_it_states():
    script = Script(**BATCH_SCRIPT)
    assert BATCH_QPS == pytest.approx(20.0)
    # a lone response keeps the script's gap; with 4 running each waits 4 times as long
    assert script.batch_gap_s(1, 1) == pytest.approx(0.005) and script.batch_gap_s(1, 4) == pytest.approx(0.020)
    with pytest.raises(ValueError, match="batch_slowdown"):
        Script(batch_slowdown=-1.0)


@pytest.mark.timing
def test_a_ramp_stops_where_a_batching_server_saturates_on_its_per_token_time(server):
    """The server admits every arrival, so TTFT stays flat: the stop comes from TPOT or E2E
    with the requests in flight, and ``saturation_qps`` counts the tokens it serves, not
    the fewer requests it completes while their E2E grows."""
    e = engine(server, BATCH_SCRIPT)
    s = scenario(qps_target=50.0, rate_ramp="linear", ramp_start_qps=5.0, ramp_duration_s=5.0,
                 latency_sla="100000,100000")
    try:
        run = s.run(e, requests(), lambda r: None)
    finally:
        e.teardown()
    saturation = run.settings["saturation"]
    assert saturation["detected"] and run.constraints["not_oversaturated"] is False, saturation
    assert saturation["saturation_signal"] in ("itl", "e2e"), saturation
    assert run.settings["stopped_early"]["sent"] < run.settings["stopped_early"]["scheduled"]
    assert saturation["saturation_qps"] == pytest.approx(BATCH_QPS, rel=0.10), saturation
    # the completions per second undercount: the batch spreads its tokens over ever more requests
    assert saturation["completed_qps"] < 0.9 * BATCH_QPS, saturation
    assert s.metrics(run.records, [run])["saturation_qps"].value == pytest.approx(BATCH_QPS, rel=0.10)


def test_below_capacity_a_batching_server_is_not_over_saturated(server):
    """At 80% of the capacity the batch and its per-token time are steady: no latency's
    trend and no queue growth pass the test."""
    e = engine(server, BATCH_SCRIPT)
    s = scenario(qps_target=16.0, stop_on_saturation=True, latency_sla="100000,100000", min_queries=100)
    try:
        run = s.run(e, requests(), lambda r: None)
    finally:
        e.teardown()
    saturation = run.settings["saturation"]
    assert saturation["detected"] is False and run.constraints["not_oversaturated"], saturation
    assert saturation["growth"] is not None and "stopped_early" not in run.settings


def test_a_steady_batching_server_reads_not_saturated_on_any_signal():
    """Steady in-flight counts with per-token times that wobble (as a batch's do) are not
    over-saturated, even where one latency alone trends: the queue does not grow."""
    from openaiperf.records import Record

    rng = np.random.default_rng(0)
    records = []
    for i in range(200):
        r = Record(request_id=str(i), sample_id="s")
        r.scheduled = r.sent = i * 0.1
        gap = 0.005 * (1 + rng.integers(0, 3)) + 0.00001 * i  # a slight drift in TPOT, none in flight
        r.first_token = r.scheduled + 0.02
        r.chunk_times = [r.first_token + gap * k for k in range(11)]
        r.chunk_tokens = [1] * 11
        r.done = r.chunk_times[-1]
        records.append(r)
    saturation = detect_saturation(records)
    assert not saturation.detected and saturation.saturation_signal is None, saturation


def test_the_capacity_counts_tokens_when_requests_outlast_the_window():
    """8 requests streaming 10 decode tokens each over 10 s: 0.8 requests/s served, though
    none completes inside a 4 s window in their middle."""
    from openaiperf.records import Record

    records = []
    for i in range(8):
        r = Record(request_id=str(i), sample_id="s")
        r.scheduled = r.sent = 0.0
        r.chunk_times = [0.25] + [float(k) for k in range(1, 11)]
        r.chunk_tokens = [1] * 11
        r.first_token, r.done = 0.25, 10.0
        records.append(r)
    assert decode_rate_qps(records, 2.5, 6.5) == pytest.approx(0.8)
    assert not any(2.5 <= r.done <= 6.5 for r in records)


def test_block_means_keep_the_recent_values():
    assert block_means([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 3) == [2.5, 4.5, 6.5]
    assert block_means([1.0, 2.0], 3) == [1.0, 2.0]
