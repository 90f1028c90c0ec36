from __future__ import annotations

import pytest

from openaiperf.errors import ConfigError
from openaiperf.loadgen.slo import (
    INTERACTIVE_SLA,
    SERVER_SLA,
    SLA,
    goodput_metrics,
    meets_slo,
    parse_sla,
    resolve_sla,
    sla_constraints,
)
from openaiperf.records import Record
from openaiperf.scenarios.server import find_peak


def record(ttft_ms: float, tpot_ms: float, tokens: int = 11, start: float = 0.0, error: str | None = None) -> Record:
    r = Record(request_id="r", sample_id="s", scheduled=start, sent=start)
    r.first_token = start + ttft_ms / 1000
    r.done = r.first_token + (tokens - 1) * tpot_ms / 1000
    r.output_tokens = tokens
    r.error = error
    return r


def test_parse_sla_forms_and_errors():
    assert parse_sla("2000,200") == SLA(2000, 200)
    assert parse_sla([450, 40]) == INTERACTIVE_SLA
    assert parse_sla({"ttft_p99_ms": 1, "tpot_p99_ms": 2}) == SLA(1, 2)
    for bad in ("2000", "a,b", "0,10"):
        with pytest.raises(ConfigError, match="--latency-sla"):
            parse_sla(bad)


def test_sla_source_precedence():
    task = {"ttft_p99_ms": 1000, "tpot_p99_ms": 100}
    assert resolve_sla({"latency_sla": "5,6", "task_sla": task}, SERVER_SLA) == (SLA(5, 6), "--latency-sla")
    assert resolve_sla({"task_sla": task}, SERVER_SLA) == (SLA(1000, 100), "task sla")
    assert resolve_sla({"task_sla": task}, INTERACTIVE_SLA) == (INTERACTIVE_SLA, "scenario default")
    assert resolve_sla({}, SERVER_SLA) == (SERVER_SLA, "scenario default")


def test_meets_slo_needs_both_bounds_and_success():
    sla = SLA(100, 10)
    assert meets_slo(record(90, 9), sla)
    assert not meets_slo(record(110, 9), sla)
    assert not meets_slo(record(90, 11), sla)
    assert not meets_slo(record(90, 9, error="HTTP 500"), sla)
    assert meets_slo(record(90, 999, tokens=1), sla)  # one token: no TPOT


def test_goodput_counts_requests_meeting_every_slo_per_second():
    sla = SLA(100, 10)
    records = [record(50, 5, start=0.0), record(50, 50, start=0.5), record(500, 5, start=1.0),
               record(50, 5, start=1.5)]
    window = max(r.done for r in records) - 0.0
    metrics = goodput_metrics(records, sla)
    assert metrics["goodput"].value == pytest.approx(2 / window)
    assert metrics["slo_attainment"].value == pytest.approx(0.5)
    assert metrics["goodput"].unit == "requests/s"


def test_p99_constraints():
    sla = SLA(100, 10)
    good = [record(50, 5) for _ in range(200)]
    assert sla_constraints(good, sla) == {"ttft_p99_sla": True, "tpot_p99_sla": True}
    slow_tail = good + [record(1000, 5) for _ in range(10)]
    assert sla_constraints(slow_tail, sla)["ttft_p99_sla"] is False
    assert sla_constraints(slow_tail, sla)["tpot_p99_sla"] is True


@pytest.mark.parametrize("capacity,start", [(13.0, 1.0), (13.0, 100.0), (0.7, 1.0)])
def test_find_peak_brackets_then_bisects(capacity, start):
    peak, history = find_peak(lambda qps: qps <= capacity, start, tolerance=0.05, max_trials=30)
    assert peak is not None and peak <= capacity
    assert peak >= capacity / 1.05 - 1e-9
    assert all(ok == (q <= capacity) for q, ok in history)


def test_find_peak_reports_none_when_nothing_is_valid():
    peak, history = find_peak(lambda qps: False, 1.0, max_trials=4)
    assert peak is None and len(history) == 4
