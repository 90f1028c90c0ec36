"""The load offered by the server scenario, and what makes a run VALID.

- The schedule's measured requests arrive at exactly the target rate, whatever
  the seed and burstiness; a real dispatch delivers it within 2%.
- With a minimum duration every run (each find-peak trial too) sends enough
  queries to last it, so a high rate is not INVALID by construction.
- A failed request misses its SLOs: failures count in the p99s and in an
  error-rate constraint, so find-peak stops below a server's rejection zone.

The engines here are test doubles with no model (a real server cannot reach
these rates on this machine): :class:`FastEngine` answers after a short
asynchronous wait; :class:`RateLimitedEngine` rejects, like an HTTP 429, every
request that finds its token bucket empty, judged on the scheduled arrival
times, so which requests it rejects does not depend on how busy the machine is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import numpy as np
import pytest

from openaiperf.engines import Engine
from openaiperf.loadgen.arrivals import arrival_gaps, arrival_times, offered_rate
from openaiperf.loadgen.slo import SLA, percentile_with_misses, sla_constraints
from openaiperf.records import Record, Request
from openaiperf.scenarios import ScenarioConfig, create_scenario


class FastEngine(Engine):
    """Answers every request with ``tokens`` tokens after ``delay_s`` (asyncio sleep)."""

    name: ClassVar[str] = "fast"
    concurrent: ClassVar[bool] = True

    def __init__(self, delay_s: float = 0.002, tokens: int = 3) -> None:
        self.delay_s = delay_s
        self.tokens = tokens

    def answer(self, record: Record) -> None:
        record.input_tokens = 10
        for _ in range(self.tokens):
            record.mark_token()
        record.output_tokens = self.tokens
        record.done = time.perf_counter()

    async def stream(self, request: Request, record: Record) -> None:
        await asyncio.sleep(self.delay_s)
        self.answer(record)

    def info(self) -> dict[str, Any]:
        return {"engine": self.name}


class RateLimitedEngine(FastEngine):
    """A server that sheds overload: a token bucket of ``burst`` requests refilled at
    ``limit_qps``; a request arriving at an empty bucket is rejected at once."""

    def __init__(self, limit_qps: float, burst: float = 3.0) -> None:
        super().__init__(delay_s=0.0)
        self.limit_qps = limit_qps
        self.burst = burst
        self.tokens_left = burst
        self.last: float | None = None

    async def stream(self, request: Request, record: Record) -> None:
        if self.last is not None:
            self.tokens_left = min(self.burst, self.tokens_left + (record.scheduled - self.last) * self.limit_qps)
        self.last = record.scheduled
        if self.tokens_left < 1:
            record.fail("HTTP 429: Too Many Requests")
            return
        self.tokens_left -= 1
        self.answer(record)


def requests(n: int) -> list[Request]:
    return [Request(id=f"r{i}", sample_id=f"s{i}", max_tokens=4, prompt="p") for i in range(n)]


def server(**options: Any) -> Any:
    config = ScenarioConfig(min_duration_s=options.pop("min_duration_s", 0.0),
                            min_queries=options.pop("min_queries", 1), options=options)
    return create_scenario("server", config)


# -- the schedule -------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.5, 5.0, 20.0, 50.0])
@pytest.mark.parametrize("burstiness", [1.0, 0.3, 4.0])
@pytest.mark.parametrize("measured,warmup", [(40, 0), (41, 1), (100, 5)])
def test_the_measured_requests_are_offered_at_exactly_the_target_rate(rate, burstiness, measured, warmup):
    for seed in range(5):
        times = arrival_times(measured + warmup, rate, seed=seed, burstiness=burstiness, warmup=warmup)
        assert times[0] == 0.0 and np.all(np.diff(times) >= 0)
        assert offered_rate(times[warmup:]) == pytest.approx(rate, rel=1e-9)
        if warmup:
            assert times[warmup] == pytest.approx(warmup / rate, rel=1e-9)


def test_the_seed_that_used_to_offer_0_42_for_0_5_now_offers_0_5():
    """41 measured requests at 0.5 req/s after one warmup request, seed 0 (the defaults)."""
    raw = np.cumsum(arrival_gaps(41, 0.5, seed=0))  # what an unscaled schedule would offer
    assert abs(offered_rate(raw) - 0.5) > 0.02 * 0.5
    times = arrival_times(42, 0.5, seed=0, warmup=1)
    assert offered_rate(times[1:]) == pytest.approx(0.5, rel=1e-9)


def test_scaling_keeps_the_shape_of_the_process():
    raw = np.cumsum(arrival_gaps(1999, 10.0, seed=3, burstiness=0.25))
    times = arrival_times(2000, 10.0, seed=3, burstiness=0.25)[1:]
    assert np.allclose(times / raw, times[-1] / raw[-1])  # one common factor: same order, same CV
    gaps = np.diff(times)
    assert gaps.std() / gaps.mean() == pytest.approx(1 / np.sqrt(0.25), rel=0.05)


# -- a real dispatch ----------------------------------------------------------------------
@pytest.mark.parametrize("rate", [20.0, 50.0])
def test_a_dispatch_delivers_the_target_rate_within_2_percent(rate):
    run = server(qps_target=rate, min_queries=40, warmup_requests=2).run(FastEngine(), requests(10), lambda r: None)
    assert run.settings["measured_requests"] == 40
    assert run.settings["scheduled_qps"] == pytest.approx(rate, rel=1e-6)
    assert run.settings["achieved_qps"] == pytest.approx(rate, rel=0.02)
    # achieved_qps is the offered arrival rate, not completions over a window that includes the tail
    measured = [r for r in run.records if not r.warmup]
    assert run.settings["achieved_qps"] == pytest.approx(offered_rate([r.sent for r in measured]))


def test_a_dispatch_over_http_delivers_the_target_rate_within_2_percent():
    """The openai engine against the stub server on loopback (a scripted server: no
    model, fixed 4-token answers), 40 measured requests at 40 req/s."""
    from openaiperf.testing.contexts import endpoint_engine
    from openaiperf.testing.stub_server import start_stub_server

    with start_stub_server(tokens=4) as url:
        engine = endpoint_engine(url)
        try:
            run = server(qps_target=40.0, min_queries=40, warmup_requests=4).run(engine, requests(10), lambda r: None)
        finally:
            engine.teardown()
    assert all(r.ok for r in run.records), [r.error for r in run.records if r.error][:1]
    assert run.settings["achieved_qps"] == pytest.approx(40.0, rel=0.02)


# -- minimum duration ---------------------------------------------------------------------
def test_min_duration_sets_the_number_of_queries_at_every_rate():
    scenario = server(qps_target=5.0, min_duration_s=10.0, min_queries=24)
    assert scenario.measured_count(1.0) == 24
    assert scenario.measured_count(5.0) == 51
    assert scenario.measured_count(100.0) == 1001  # (n - 1) / qps covers the 10 s


def test_a_find_peak_trial_above_n_over_duration_can_be_valid():
    """Five requests and a 1 s minimum: a fixed five queries make any rate above
    5 req/s too short to be VALID; scheduling ceil(qps x duration) + 1 does not."""
    run = server(qps_target=10.0, find_peak=True, peak_max_trials=2, min_duration_s=1.0,
                 warmup_requests=0).run(FastEngine(), requests(5), lambda r: None)
    trials = run.settings["find_peak"]["trials"]
    assert trials == [{"qps": 10.0, "valid": True}, {"qps": 20.0, "valid": True}]
    assert run.settings["find_peak"]["peak_qps"] == 20.0 > 5 / 1.0
    assert run.settings["measured_requests"] == 21 and run.constraints["min_duration"]


# -- failed requests ----------------------------------------------------------------------
def ok_record(ttft_ms: float = 50, tpot_ms: float = 5, tokens: int = 11) -> Record:
    record = Record(request_id="r", sample_id="s", scheduled=0.0, sent=0.0)
    record.first_token = ttft_ms / 1000
    record.done = record.first_token + (tokens - 1) * tpot_ms / 1000
    record.output_tokens = tokens
    return record


def failed_record() -> Record:
    record = Record(request_id="r", sample_id="s", scheduled=0.0, sent=0.0)
    record.fail("HTTP 503: Service Unavailable", when=0.001)
    return record


def test_failed_requests_are_misses_in_the_p99s():
    sla = SLA(100, 10)
    assert sla_constraints([ok_record() for _ in range(199)] + [failed_record()], sla) == {
        "ttft_p99_sla": True, "tpot_p99_sla": True}  # 1 in 200: the p99 is still a served request
    one_in_100 = [ok_record() for _ in range(99)] + [failed_record()]
    assert sla_constraints(one_in_100, sla) == {"ttft_p99_sla": False, "tpot_p99_sla": False}
    assert sla_constraints([failed_record()], sla)["ttft_p99_sla"] is False


def test_percentile_with_misses_matches_numpy_where_it_is_finite():
    values = list(np.random.default_rng(0).uniform(1, 100, 300))
    assert percentile_with_misses(values, 0, 99) == pytest.approx(float(np.percentile(values, 99)))
    assert percentile_with_misses(values, 2, 99) == pytest.approx(float(np.percentile(values + [1e9] * 2, 99)))
    assert percentile_with_misses(values, 4, 99) == float("inf")
    assert percentile_with_misses([], 0, 99) is None and percentile_with_misses([], 1, 99) == float("inf")


def test_a_server_that_rejects_overload_is_invalid():
    run = server(qps_target=80.0, min_queries=30, warmup_requests=0).run(
        RateLimitedEngine(limit_qps=20.0), requests(10), lambda r: None)
    failed = sum(not r.ok for r in run.records)
    assert failed > 0
    assert run.constraints["error_rate"] is False and not run.valid
    # the served requests alone are fast: only counting the failures makes the SLA fail
    assert sla_constraints([r for r in run.records if r.ok], SLA(2000, 200))["ttft_p99_sla"]


def test_an_error_rate_allowance_keeps_a_run_with_few_failures_valid():
    scenario = create_scenario("server", ScenarioConfig(min_queries=200, max_error_rate=0.05,
                                                        options={"qps_target": 1000.0, "warmup_requests": 0}))
    engine = RateLimitedEngine(limit_qps=1e6, burst=1e6)
    original = engine.stream

    async def one_failure(request: Request, record: Record) -> None:
        if request.id == "r3":
            record.fail("HTTP 503")
            return
        await original(request, record)

    engine.stream = one_failure  # type: ignore[method-assign]
    run = scenario.run(engine, requests(10), lambda r: None)
    assert sum(not r.ok for r in run.records) == 1
    assert run.constraints["error_rate"] is True and run.constraints["ttft_p99_sla"] is True


def test_find_peak_stops_below_the_rejection_zone():
    limit = 80.0
    run = server(qps_target=32.0, find_peak=True, peak_max_trials=6, peak_tolerance=0.1, min_queries=20,
                 warmup_requests=0).run(RateLimitedEngine(limit_qps=limit), requests(10), lambda r: None)
    peak = run.settings["find_peak"]["peak_qps"]
    trials = run.settings["find_peak"]["trials"]
    assert peak is not None and peak < 1.5 * limit
    assert any(not t["valid"] for t in trials)
    assert all(r.ok for r in run.records)  # the reported run is one where nothing was rejected
