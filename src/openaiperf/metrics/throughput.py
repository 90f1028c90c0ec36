"""Throughput over the measured windows: each round's window runs from its first
scheduled send to its last completion; rounds are separate windows, so their
durations add up (the pauses between rounds are not measured time)."""

from __future__ import annotations

from collections.abc import Sequence

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.latency import tpot_s
from openaiperf.records import Record


def window_s(records: Sequence[Record]) -> float | None:
    """Sum over rounds of (last completion - first scheduled send)."""
    rounds: dict[int, list[Record]] = {}
    for record in records:
        rounds.setdefault(record.round, []).append(record)
    total, any_done = 0.0, False
    for members in rounds.values():
        done = [r.done for r in members if r.done is not None]
        if done:
            any_done = True
            total += max(done) - min(r.scheduled for r in members)
    return total if any_done else None


def per_user_rate(records: Sequence[Record]) -> float | None:
    """Output tokens/s one user sees while its answer streams: 1 / the mean TPOT over
    the answered requests ((E2E - TTFT) / (output tokens - 1)), the rate after the
    first token. The reciprocal of the mean, not the mean of reciprocals: a request
    whose tokens arrived in one read (TPOT near 0) would make the latter unbounded."""
    tpots = [v for r in records if r.ok and (v := tpot_s(r)) is not None]
    mean = sum(tpots) / len(tpots) if tpots else 0.0
    return 1.0 / mean if mean > 0 else None


def throughput_metrics(records: Sequence[Record]) -> MetricSet:
    ok = [r for r in records if r.ok]
    duration = window_s(records)
    out_tokens = sum(r.output_tokens or 0 for r in ok)
    in_tokens = sum(r.input_tokens or 0 for r in ok)
    errors = sum(r.failed for r in records)  # a cancelled request did not fail
    cancelled = sum(r.cancelled for r in records)

    def rate(amount: float) -> float | None:
        return amount / duration if duration else None

    out: MetricSet = {} if not cancelled else {
        "cancelled": Metric(float(cancelled), "requests", Better.NONE),
        "cancel_rate": Metric(cancelled / len(records), "fraction", Better.NONE),
    }
    return out | {
        "duration": Metric(duration, "s", Better.NONE),
        "requests": Metric(float(len(records)), "requests", Better.NONE),
        "errors": Metric(float(errors), "requests", Better.LOWER),
        "error_rate": Metric(errors / len(records) if records else None, "fraction", Better.LOWER),
        "requests_per_s": Metric(rate(len(ok)), "requests/s", Better.HIGHER),
        "output_tokens_per_s": Metric(rate(out_tokens), "tokens/s", Better.HIGHER),
        "total_tokens_per_s": Metric(rate(in_tokens + out_tokens), "tokens/s", Better.HIGHER),
        "input_tokens": Metric(float(in_tokens), "tokens", Better.NONE),
        "output_tokens": Metric(float(out_tokens), "tokens", Better.NONE),
        "output_tokens_per_request": Metric(out_tokens / len(ok) if ok else None, "tokens", Better.NONE),
        "output_tokens_per_s_per_user": Metric(per_user_rate(records), "tokens/s", Better.HIGHER),
    }
