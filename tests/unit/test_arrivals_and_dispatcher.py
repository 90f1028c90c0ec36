from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from openaiperf.errors import ConfigError
from openaiperf.loadgen.arrivals import arrival_gaps, arrival_times
from openaiperf.loadgen.dispatcher import dispatch_closed, dispatch_open
from openaiperf.metrics.latency import e2e_s, send_lag_s, ttft_s
from openaiperf.records import Record, Request


def test_poisson_gaps_have_the_target_mean_and_unit_cv():
    gaps = arrival_gaps(200_000, rate=50.0, seed=1)
    assert gaps.mean() == pytest.approx(1 / 50.0, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.02)  # exponential: CV = 1


@pytest.mark.parametrize("burstiness", [0.25, 4.0])
def test_gamma_burstiness_keeps_the_rate_and_sets_the_cv(burstiness):
    gaps = arrival_gaps(200_000, rate=10.0, seed=2, burstiness=burstiness)
    assert gaps.mean() == pytest.approx(0.1, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1 / np.sqrt(burstiness), rel=0.03)


def test_schedule_is_seeded_and_starts_at_zero():
    a, b = arrival_times(100, 5.0, seed=7), arrival_times(100, 5.0, seed=7)
    assert np.array_equal(a, b) and a[0] == 0.0 and np.all(np.diff(a) >= 0)
    assert not np.array_equal(a, arrival_times(100, 5.0, seed=8))


@pytest.mark.parametrize(
    "option,kwargs", [("--qps-target", {"rate": 0}), ("--burstiness", {"rate": 1, "burstiness": 0})]
)
def test_bad_rates_name_the_option(option, kwargs):
    with pytest.raises(ConfigError, match=option):
        arrival_gaps(10, **kwargs)


def requests(n: int) -> list[Request]:
    return [Request(id=f"r{i}", sample_id=f"s{i}", max_tokens=4, prompt="p") for i in range(n)]


def serial_engine():
    """A one-at-a-time engine: a request waits for the previous one."""
    lock = asyncio.Lock()

    async def send(request: Request, record: Record) -> None:
        async with lock:
            await asyncio.sleep(0.02)
            record.mark_token()
            record.output_tokens = 1
            record.done = time.perf_counter()

    return send


def test_open_loop_measures_from_the_schedule_not_the_send():
    offsets = [0.0, 0.001, 0.002, 0.003, 0.004]
    reqs = requests(5)
    records = [Record(request_id=r.id, sample_id=r.sample_id) for r in reqs]
    sunk: list[Record] = []
    result = asyncio.run(dispatch_open(reqs, records, offsets, serial_engine(), sunk.append, warmup=1))
    assert len(sunk) == 5
    t0 = records[0].scheduled
    for record, offset in zip(records, offsets):
        assert record.scheduled == pytest.approx(t0 + offset, abs=1e-9)  # the schedule is kept as planned
        assert record.sent >= record.scheduled
        assert ttft_s(record) == record.first_token - record.scheduled
    # The queue in front of the serial engine counts against it: each request's
    # latency covers the wait for the previous one (no coordinated omission).
    for previous, current in zip(records, records[1:]):
        assert e2e_s(current) >= previous.done - current.scheduled
    assert [r.warmup for r in records] == [True, False, False, False, False]
    assert result.start == records[1].scheduled  # the window starts at the first measured request


def test_a_late_client_shows_as_send_lag_and_keeps_the_schedule():
    async def blocking_send(request: Request, record: Record) -> None:
        if request.id == "r0":
            time.sleep(0.05)  # the client's loop is stuck: the next sends are late
        record.mark_token()
        record.done = time.perf_counter()

    reqs = requests(3)
    records = [Record(request_id=r.id, sample_id=r.sample_id) for r in reqs]
    asyncio.run(dispatch_open(reqs, records, [0.0, 0.001, 0.002], blocking_send, lambda r: None))
    assert records[1].scheduled - records[0].scheduled == pytest.approx(0.001, abs=1e-9)
    assert send_lag_s(records[1]) > 0.001
    assert e2e_s(records[1]) >= send_lag_s(records[1])


def test_closed_loop_keeps_n_streams_busy_and_flags_warmup():
    active = 0
    peak = 0

    async def send(request: Request, record: Record) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.005)
        active -= 1
        record.mark_token()
        record.done = time.perf_counter()

    reqs = requests(12)
    records = [Record(request_id=r.id, sample_id=r.sample_id) for r in reqs]
    asyncio.run(dispatch_closed(reqs, records, 3, send, lambda r: None, warmup=3))
    assert peak == 3
    assert sum(r.warmup for r in records) == 3 and all(r.done for r in records)
    assert all(r.sent == r.scheduled for r in records)


def test_no_request_is_sent_before_its_scheduled_time_on_the_event_loop_the_runs_use():
    """uvloop (the loop runs use when it is installed) counts timers in whole
    milliseconds and may wake early: the open loop waits the rest, never sends early."""
    from openaiperf.loadgen.dispatcher import run_loop

    requests = [Request(id=f"r{i}", sample_id="s", max_tokens=1, prompt="p") for i in range(120)]
    records = [Record(request_id=r.id, sample_id="s") for r in requests]
    offsets = [i * 0.0013 for i in range(len(requests))]  # gaps that do not fall on whole milliseconds

    async def send(request: Request, record: Record) -> None:
        record.done = time.perf_counter()

    run_loop(dispatch_open(requests, records, offsets, send, lambda record: None))
    early = [r.scheduled - r.sent for r in records if r.sent < r.scheduled]
    assert not early, f"{len(early)} request(s) sent before their time, up to {max(early) * 1e6:.0f} µs"
