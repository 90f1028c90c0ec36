"""Latency SLAs, goodput and the validity of an online run (MLPerf Server rules).

An SLA is a pair of p99 bounds: TTFT and TPOT, in ms. A run is VALID when the
p99 TTFT and p99 TPOT of its measured requests are within the bounds, its
failed-request fraction is within the allowed error rate, and the scenario's
minimum duration and query count are met (see
:func:`openaiperf.scenarios.check_minimums`). A failed request missed its SLOs:
it enters the p99s as an infinite TTFT and TPOT, so a server that rejects
overload (HTTP 429/503) fails its SLA once more than 1% of the requests fail,
instead of looking fast on the few it served. Goodput counts the requests that
met every SLO (TTFT and TPOT each within its bound) per second of the window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openaiperf.errors import ConfigError
from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.latency import MS, tpot_s, ttft_s
from openaiperf.metrics.stats import percentile
from openaiperf.metrics.throughput import window_s
from openaiperf.records import Record

MISS = float("inf")


@dataclass(frozen=True)
class SLA:
    ttft_ms: float
    tpot_ms: float

    def to_json(self) -> dict[str, float]:
        return {"ttft_p99_ms": self.ttft_ms, "tpot_p99_ms": self.tpot_ms}


#: MLPerf Inference llama2-70b Server, and its Interactive variant
SERVER_SLA = SLA(2000.0, 200.0)
INTERACTIVE_SLA = SLA(450.0, 40.0)


def parse_sla(value: Any, *, source: str = "--latency-sla") -> SLA:
    """``"ttft_ms,tpot_ms"`` (or a two-item list, or a mapping with
    ``ttft_p99_ms``/``tpot_p99_ms``) -> :class:`SLA`."""
    if isinstance(value, SLA):
        return value
    if isinstance(value, Mapping):
        try:
            return SLA(float(value["ttft_p99_ms"]), float(value["tpot_p99_ms"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"expected ttft_p99_ms and tpot_p99_ms numbers, got {dict(value)!r}",
                              source=source) from None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        ttft, tpot = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"expected 'TTFT_MS,TPOT_MS' (two numbers, e.g. 2000,200), got {value!r}",
                          source=source) from None
    if ttft <= 0 or tpot <= 0:
        raise ConfigError(f"bounds must be > 0 ms, got {value!r}", source=source)
    return SLA(ttft, tpot)


def resolve_sla(options: Mapping[str, Any], default: SLA) -> tuple[SLA, str]:
    """The SLA of a run and where it came from: the ``latency_sla`` option, else
    the task's ``sla`` defaults (``task_sla``), else the scenario's default."""
    if options.get("latency_sla") is not None:
        return parse_sla(options["latency_sla"]), "--latency-sla"
    task_sla = options.get("task_sla") or {}
    if default is SERVER_SLA and {"ttft_p99_ms", "tpot_p99_ms"} <= set(task_sla):
        return parse_sla(task_sla, source="task sla"), "task sla"
    return default, "scenario default"


def meets_slo(record: Record, sla: SLA) -> bool:
    """One request met every SLO: it succeeded, its TTFT is within the bound, and
    so is its TPOT (a one-token answer has no TPOT and meets that SLO)."""
    if not record.ok:
        return False
    ttft = ttft_s(record)
    if ttft is None or ttft * MS > sla.ttft_ms:
        return False
    tpot = tpot_s(record)
    return tpot is None or tpot * MS <= sla.tpot_ms


def percentile_with_misses(values: Sequence[float], misses: int, q: float) -> float | None:
    """numpy's linear-interpolation percentile of ``values`` plus ``misses`` infinite
    values: infinite as soon as the interpolation touches a miss (numpy itself
    would give nan for ``x + (inf - x) * 0``); None for no values at all."""
    count = len(values) + misses
    if count == 0:
        return None
    ordered = sorted(values)
    position = q / 100 * (count - 1)
    if math.ceil(position) >= len(ordered):
        return MISS
    return percentile(ordered, 100 * position / (len(ordered) - 1)) if len(ordered) > 1 else ordered[0]


def sla_percentiles(records: Sequence[Record]) -> dict[str, float | None]:
    """p99 TTFT and TPOT (ms) of the measured requests, a failed request counting as
    an infinite TTFT and TPOT (it missed both SLOs); a one-token answer has no TPOT."""
    failed = sum(r.failed for r in records)  # a cancelled request is neither answered nor failed
    ok = [r for r in records if r.ok]
    ttfts = [v * MS for r in ok if (v := ttft_s(r)) is not None]
    tpots = [v * MS for r in ok if (v := tpot_s(r)) is not None]
    return {"ttft_p99_ms": percentile_with_misses(ttfts, failed, 99),
            "tpot_p99_ms": percentile_with_misses(tpots, failed, 99) if tpots or failed else None}


def sla_constraints(records: Sequence[Record], sla: SLA) -> dict[str, bool]:
    """p99 TTFT and p99 TPOT of the measured requests (failures as misses) within the bounds."""
    p99 = sla_percentiles(records)
    ttft_p99, tpot_p99 = p99["ttft_p99_ms"], p99["tpot_p99_ms"]
    return {
        "ttft_p99_sla": ttft_p99 is not None and ttft_p99 <= sla.ttft_ms,
        "tpot_p99_sla": tpot_p99 is None or tpot_p99 <= sla.tpot_ms,
    }


def goodput_metrics(records: Sequence[Record], sla: SLA) -> MetricSet:
    good = sum(meets_slo(r, sla) for r in records)
    duration = window_s(records)
    return {
        "goodput": Metric(good / duration if duration else None, "requests/s", Better.HIGHER),
        "slo_attainment": Metric(good / len(records) if records else None, "fraction", Better.HIGHER),
    }
