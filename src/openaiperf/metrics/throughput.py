"""Throughput over a measured window: from the first scheduled send to the last completion."""

from __future__ import annotations

from typing import Sequence

from openaiperf.metrics import Metric, MetricSet
from openaiperf.records import Record


def window_s(records: Sequence[Record]) -> float | None:
    done = [r.done for r in records if r.done is not None]
    if not records or not done:
        return None
    return max(done) - min(r.scheduled for r in records)


def throughput_metrics(records: Sequence[Record]) -> MetricSet:
    ok = [r for r in records if r.ok]
    duration = window_s(records)
    out_tokens = sum(r.output_tokens or 0 for r in ok)
    in_tokens = sum(r.input_tokens or 0 for r in ok)
    errors = len(records) - len(ok)

    def rate(amount: float) -> float | None:
        return amount / duration if duration else None

    return {
        "duration": Metric(duration, "s", "none"),
        "requests": Metric(float(len(records)), "requests", "none"),
        "errors": Metric(float(errors), "requests", "lower"),
        "error_rate": Metric(errors / len(records) if records else None, "fraction", "lower"),
        "requests_per_s": Metric(rate(len(ok)), "requests/s", "higher"),
        "output_tokens_per_s": Metric(rate(out_tokens), "tokens/s", "higher"),
        "total_tokens_per_s": Metric(rate(in_tokens + out_tokens), "tokens/s", "higher"),
        "input_tokens": Metric(float(in_tokens), "tokens", "none"),
        "output_tokens": Metric(float(out_tokens), "tokens", "none"),
        "output_tokens_per_request": Metric(out_tokens / len(ok) if ok else None, "tokens", "none"),
    }
