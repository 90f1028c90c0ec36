"""Metrics: reduce a case's records to numbers, each with its unit and direction.

A metric is a :class:`Metric` (value, unit, which direction is better). Modules:
``latency`` (TTFT, TPOT, ITL, E2E percentiles), ``throughput`` (requests/s,
tokens/s), ``efficiency`` (MFU), ``stats`` (bootstrap confidence intervals).
Quality metrics (ROUGE, perplexity) belong to their tasks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Better = Literal["lower", "higher", "none"]


@dataclass(frozen=True)
class Metric:
    value: float | None
    unit: str
    better: Better = "none"
    ci_low: float | None = None
    ci_high: float | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k == "value"}


MetricSet = dict[str, Metric]
