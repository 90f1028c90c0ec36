"""Metric math against hand-computed values."""

from __future__ import annotations

import pytest

from fixtures.engines import make_record
from openaiperf.metrics.efficiency import mfu
from openaiperf.metrics.latency import e2e_s, itl_s, latency_metrics, send_lag_s, tpot_s, ttft_s
from openaiperf.metrics.stats import bootstrap_ci, percentile
from openaiperf.metrics.throughput import throughput_metrics


def test_single_record_latencies_by_hand():
    # scheduled at 1.0, sent late at 1.1, tokens at 1.5, 1.7, 2.0
    r = make_record(1.0, [1.5, 1.7, 2.0], sent=1.1)
    assert ttft_s(r) == pytest.approx(0.5)  # from the scheduled time, not the send
    assert e2e_s(r) == pytest.approx(1.0)
    assert tpot_s(r) == pytest.approx((1.0 - 0.5) / 2)
    assert itl_s(r) == pytest.approx([0.2, 0.3])
    assert send_lag_s(r) == pytest.approx(0.1)


def test_tpot_undefined_for_one_token():
    assert tpot_s(make_record(0.0, [0.4])) is None


def test_latency_distribution_in_ms():
    records = [make_record(0.0, [t, t + 0.1]) for t in (0.1, 0.2, 0.3, 0.4)]
    m = latency_metrics(records)
    assert m["ttft_mean"].value == pytest.approx(250.0)
    assert m["ttft_p50"].value == pytest.approx(250.0)
    assert m["ttft_p90"].value == pytest.approx(370.0)  # numpy linear: 300 + 0.7*100
    assert m["ttft_p50"].unit == "ms" and m["ttft_p50"].better == "lower"
    assert m["itl_p50"].value == pytest.approx(100.0)
    assert m["tpot_mean"].value == pytest.approx(100.0)


def test_failed_records_count_as_errors_not_latency():
    ok = make_record(0.0, [0.1, 0.2])
    bad = make_record(0.0, [5.0, 6.0], error="HTTP 500")
    m = latency_metrics([ok, bad]) | throughput_metrics([ok, bad])
    assert m["ttft_p99"].value == pytest.approx(100.0)
    assert m["errors"].value == 1
    assert m["error_rate"].value == pytest.approx(0.5)


def test_throughput_by_hand():
    # two requests scheduled at 0, done at 1.0 and 2.0; 3 + 5 output tokens, 10 input each
    a = make_record(0.0, [0.2, 0.6, 1.0])
    b = make_record(0.0, [0.4, 0.8, 1.2, 1.6, 2.0])
    m = throughput_metrics([a, b])
    assert m["duration"].value == pytest.approx(2.0)
    assert m["requests_per_s"].value == pytest.approx(1.0)
    assert m["output_tokens_per_s"].value == pytest.approx(4.0)
    assert m["total_tokens_per_s"].value == pytest.approx(14.0)
    assert m["output_tokens_per_s"].unit == "tokens/s"


def test_mfu_definition():
    # 2 x 1e9 params x 1000 tokens / 2 s / 1e12 FLOP/s = 1.0
    assert mfu(1_000_000_000, 1000, 2.0, 1e12).value == pytest.approx(1.0)
    assert mfu(1_000_000_000, 1000, 2.0, None).value is None


def test_percentile_and_bootstrap():
    assert percentile([], 50) is None
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    values = [0.1, 0.4, 0.35, 0.8, 0.2, 0.5, 0.3, 0.45]
    low, high = bootstrap_ci(values, seed=7)
    assert low < sum(values) / len(values) < high
    assert bootstrap_ci(values, seed=7) == (low, high)  # seeded: reproducible
    assert bootstrap_ci([1.0]) is None


def test_rounds_are_separate_windows():
    # round 0: 0 -> 1 s, round 1: 10 -> 12 s; the 9 s pause between them is not measured time
    a = make_record(0.0, [0.5, 1.0])
    b = make_record(10.0, [11.0, 12.0])
    b.round = 1
    m = throughput_metrics([a, b])
    assert m["duration"].value == pytest.approx(3.0)
    assert m["output_tokens_per_s"].value == pytest.approx(4 / 3.0)
