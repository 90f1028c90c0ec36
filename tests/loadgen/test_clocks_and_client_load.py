"""The parts of the load generator's workers that need no process: clock offsets from
ping-pong, the correction into the driver's frame, the client's self-check, and
find-peak stopping at a client-bound rate."""

from __future__ import annotations

import itertools

import pytest

from openaiperf.loadgen.client_load import BUSY_CPU, LAG_LIMIT_MS, ClientLoad, client_summary
from openaiperf.loadgen.clocks import ClockLink, ClockOffset, measure_offset
from openaiperf.loadgen.workers import loadgen_constraints
from openaiperf.records import Record
from openaiperf.scenarios.server import find_peak


def test_the_offset_comes_from_the_shortest_round_trip():
    # driver times of each exchange: (before, after); the worker's clock is the driver's + 2.0 s
    exchanges = iter([(0.0, 0.010), (1.0, 1.002), (2.0, 2.006)])
    remote = iter([0.004 + 2.0, 1.0015 + 2.0, 2.001 + 2.0])
    times = itertools.chain.from_iterable(exchanges)
    found = measure_offset(lambda: next(remote), pings=3, clock=lambda: next(times))
    assert found.offset_s == pytest.approx(2.0005)  # the worker read its clock 0.5 ms after the midpoint
    assert found.uncertainty_s == pytest.approx(0.001)  # half of the 2 ms round trip
    assert abs(found.offset_s - 2.0) <= found.uncertainty_s


def test_worker_times_are_corrected_with_the_drift_followed():
    link = ClockLink(ClockOffset(0.25, 0.0002, at=100.0), ClockOffset(0.2504, 0.0003, at=110.0))
    assert link.drift_s == pytest.approx(0.0004)
    assert link.error_s == pytest.approx(0.0007)
    # halfway through, the offset is halfway between the two measurements
    assert link.to_driver(105.0 + 0.2502) == pytest.approx(105.0, abs=1e-7)
    assert link.to_driver(100.25) == pytest.approx(100.0)


def test_a_clock_error_over_the_tolerance_makes_the_case_invalid_with_the_figure():
    report = {"clock_tolerance_ms": 1.0, "clock_error_ms": 1.7, "clock_correction": True, "lost_requests": 0,
              "dead_workers": [], "per_worker": [{"worker": 0, "clock": {"after": {"offset_ms": 0.0}}}]}
    constraints, notes = loadgen_constraints(report)
    assert constraints == {"clock_sync": False, "loadgen_workers_alive": True}
    assert any("1.700 ms" in note and "--clock-tolerance-ms" in note for note in notes)
    constraints, _ = loadgen_constraints({**report, "clock_error_ms": 0.4})
    assert constraints["clock_sync"] is True


def records(lag_ms: float, count: int = 100) -> list[Record]:
    out = []
    for index in range(count):
        record = Record(request_id=f"r{index}", sample_id="s", scheduled=float(index))
        record.sent = record.scheduled + lag_ms / 1000
        record.chunk_times = [record.sent + 0.01]
        record.done = record.sent + 0.02
        out.append(record)
    return out


@pytest.mark.parametrize(("cpu", "lag_ms", "judged", "bound"), [
    (0.95, 20.0, True, True),     # busy and late: the client set the limit
    (0.30, 20.0, True, False),    # late but idle: the machine stopped it (a stall), not a client limit
    (0.95, 1.0, True, False),     # busy but on time
    (0.95, 20.0, False, False),   # the engine runs in the client's process: not judged
])
def test_the_client_is_bound_only_when_busy_and_late(cpu, lag_ms, judged, bound):
    loads = [ClientLoad(cpu_s=cpu * 10, wall_s=10.0, loop_lag_ms=[0.5] * 50, worker=0)]
    summary = client_summary(loads, records(lag_ms), judged=judged)
    assert summary["client_bound"] is bound
    assert summary["send_lag_p99_ms"] == pytest.approx(lag_ms)
    assert summary["busiest_process_cpu"] == pytest.approx(cpu)
    assert summary["token_events_per_s"] == pytest.approx(100 / (99 + lag_ms / 1000 + 0.02), abs=0.05)
    if bound:
        assert f"{LAG_LIMIT_MS:g} ms" in summary["reason"] and BUSY_CPU <= cpu


def test_find_peak_stops_at_a_client_bound_rate_instead_of_calling_it_the_peak():
    tried = []

    def trial(rate: float) -> bool | None:
        tried.append(rate)
        return None if rate >= 400 else True  # the server would go on; the client cannot send 400/s

    peak, history = find_peak(trial, 100.0, max_trials=8)
    assert peak == 200.0
    assert tried == [100.0, 200.0, 400.0]
    assert history[-1] == (400.0, False)


def test_auto_takes_the_worker_count_from_the_rate_and_the_cached_capacity(tmp_path, monkeypatch):
    import json

    from openaiperf.loadgen import capacity

    assert capacity.workers_for(3000, capacity=2400, cpus=8) == 3  # each worker at half its capacity
    assert capacity.workers_for(100, capacity=2400, cpus=8) == 1
    assert capacity.workers_for(1e6, capacity=2400, cpus=8) == 8  # at most one per CPU
    monkeypatch.setenv("OPENAIPERF_CACHE_DIR", str(tmp_path))
    capacity.cache_file().write_text(json.dumps({"machine": capacity.machine_key(), "requests_per_s": 1000.0}))
    monkeypatch.setattr(capacity.os, "cpu_count", lambda: 16)
    assert capacity.auto_workers(1800) == 4
    # another machine's figure is not used: it is measured again
    capacity.cache_file().write_text(json.dumps({"machine": "elsewhere", "requests_per_s": 1000.0}))
    monkeypatch.setattr(capacity, "measure_capacity", lambda: {"machine": capacity.machine_key(),
                                                               "requests_per_s": 300.0})
    assert capacity.auto_workers(1800) == 12
    assert json.loads(capacity.cache_file().read_text())["requests_per_s"] == 300.0


@pytest.mark.parametrize(("given", "message"), [
    ({"loadgen_workers": "0"}, "--loadgen-workers: expected a worker count >= 1 or auto"),
    ({"loadgen_workers": "many"}, "--loadgen-workers: expected a worker count >= 1 or auto"),
    ({"clock_tolerance_ms": 0.0}, "--clock-tolerance-ms: expected a number > 0"),
    ({"loadgen_cluster": "auto"}, "--loadgen-cluster: auto reads $RAY_ADDRESS, which is not set"),
])
def test_bad_load_generator_options_are_refused_at_start_up(given, message, monkeypatch):
    import importlib.util

    from openaiperf.errors import ConfigError
    from openaiperf.options import check_values

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if "loadgen_cluster" in given and importlib.util.find_spec("ray") is None:
        message = "--loadgen-cluster: Ray is not installed: pip install 'openaiperf[cluster]'"
    with pytest.raises(ConfigError) as error:
        check_values(given.get)
    assert message in str(error.value)
    check_values({"loadgen_workers": "auto", "clock_tolerance_ms": 0.5}.get)  # accepted
