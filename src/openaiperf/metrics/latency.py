"""Latency metrics, by the measurement rules of DESIGN.md:

- latency counts from the *scheduled* send time (no coordinated omission);
- TTFT ends at the first generated content token;
- TPOT = (E2E - TTFT) / (output tokens - 1), per request, for requests with > 1 token;
- ITL = every gap between consecutive tokens of a request.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from openaiperf.metrics import Metric, MetricSet
from openaiperf.metrics.stats import PERCENTILES, percentile
from openaiperf.records import Record

MS = 1000.0


def ttft_s(record: Record) -> float | None:
    return None if record.first_token is None else record.first_token - record.scheduled


def e2e_s(record: Record) -> float | None:
    return None if record.done is None else record.done - record.scheduled


def tpot_s(record: Record) -> float | None:
    n = record.output_tokens or 0
    ttft, e2e = ttft_s(record), e2e_s(record)
    if n < 2 or ttft is None or e2e is None:
        return None
    return (e2e - ttft) / (n - 1)


def itl_s(record: Record) -> list[float]:
    return [float(x) for x in np.diff(record.token_times)] if len(record.token_times) > 1 else []


def send_lag_s(record: Record) -> float | None:
    """How late the client sent the request (actual - scheduled)."""
    return None if record.sent is None else record.sent - record.scheduled


def distribution(name: str, values_s: Sequence[float]) -> MetricSet:
    """mean and p50/p90/p99 of a latency, in ms (lower is better)."""
    values = [v * MS for v in values_s]
    out: MetricSet = {f"{name}_mean": Metric(float(np.mean(values)) if values else None, "ms", "lower")}
    for q in PERCENTILES:
        out[f"{name}_p{q}"] = Metric(percentile(values, q), "ms", "lower")
    return out


def latency_metrics(records: Sequence[Record]) -> MetricSet:
    ok = [r for r in records if r.ok]
    metrics: MetricSet = {}
    metrics |= distribution("ttft", [v for r in ok if (v := ttft_s(r)) is not None])
    metrics |= distribution("tpot", [v for r in ok if (v := tpot_s(r)) is not None])
    metrics |= distribution("itl", [gap for r in ok for gap in itl_s(r)])
    metrics |= distribution("e2e", [v for r in ok if (v := e2e_s(r)) is not None])
    lags = [v * MS for r in records if (v := send_lag_s(r)) is not None]
    metrics["send_lag_p50"] = Metric(percentile(lags, 50), "ms", "lower")
    metrics["send_lag_p99"] = Metric(percentile(lags, 99), "ms", "lower")
    return metrics
