"""Metrics: reduce a case's records to numbers, each with its unit and direction.

A metric is a :class:`Metric` (value, unit, which direction is better). Modules:
``latency`` (TTFT, TPOT, ITL, E2E percentiles), ``throughput`` (requests/s,
tokens/s), ``efficiency`` (MFU), ``stats`` (bootstrap confidence intervals).
Quality metrics (ROUGE, perplexity) belong to their tasks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Better(str, Enum):
    """Which direction of a metric is better. A ``str`` enum, so it compares equal to
    (and serializes as) ``"lower"``, ``"higher"`` or ``"none"``; the regression gate
    reads every change through :meth:`worse_by`, never through the sign of a ratio."""

    LOWER = "lower"
    HIGHER = "higher"
    NONE = "none"

    @classmethod
    def parse(cls, value: object, *, source: str = "better") -> Better:
        """``value`` as a direction; a ValueError names ``source`` and the accepted values."""
        try:
            return cls(value)
        except ValueError:
            accepted = ", ".join(repr(b.value) for b in cls)
            raise ValueError(f"{source}: {value!r} is not a direction; accepted: {accepted}") from None

    @property
    def gated(self) -> bool:
        return self is not Better.NONE

    def worse_by(self, log_ratio: float) -> float:
        """How much worse ``log(current / baseline)`` is, on the log scale: positive
        when the metric moved the wrong way (a lower-is-better metric that rose, a
        higher-is-better one that fell), negative when it improved."""
        if self is Better.LOWER:
            return log_ratio
        if self is Better.HIGHER:
            return -log_ratio
        raise ValueError("a metric without a better direction has no worse side")

    def tolerance_log(self, tolerance: float) -> float:
        """The tolerance as a worse-side log change: a lower-is-better metric may rise
        to ``1 + tolerance`` times the baseline, a higher-is-better one fall to
        ``1 - tolerance`` times it."""
        if self is Better.LOWER:
            return math.log1p(tolerance)
        if self is Better.HIGHER:
            return -math.log1p(-tolerance) if tolerance < 1 else math.inf
        raise ValueError("a metric without a better direction has no tolerance")

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Metric:
    value: float | None
    unit: str
    better: Better = Better.NONE
    ci_low: float | None = None
    ci_high: float | None = None
    #: a column header for a metric the catalogue does not declare (a task file's quality metric)
    label: str | None = None

    def __post_init__(self) -> None:
        # Callers pass "lower"/"higher"/"none": keep the typed direction.
        object.__setattr__(self, "better", Better.parse(self.better, source=f"metric ({self.unit}) better"))

    def to_json(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, Better) else v) for k, v in asdict(self).items()
                if v is not None or k == "value"}


MetricSet = dict[str, Metric]
