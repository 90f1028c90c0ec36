"""The SLA search (``--find-sla``, as ``vllm bench serve``'s ``serve_sla`` and AIPerf's
SLA search): the highest arrival rate at which at least a target fraction of the
requests meets every SLO (TTFT and TPOT within their bounds: the goodput fraction).

The trials are find-peak's (:func:`openaiperf.scenarios.server.find_peak`: doubling
to a bracket, then bisection), each judged by its measured attainment. The
estimate interpolates the attainment linearly between the highest passing rate L
and the lowest failing rate H above it, to the rate where it equals the target. Its
uncertainty: each attainment is a binomial fraction of n requests, standard error
sqrt(a (1 - a) / n); both errors through the interpolation's slope give the
estimate's standard error, never more than the bracket H - L (the estimate lies in
it whatever the attainments' noise).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SlaTrial:
    qps: float
    attainment: float
    requests: int

    @property
    def variance(self) -> float:
        return self.attainment * (1 - self.attainment) / max(self.requests, 1)


@dataclass
class SlaEstimate:
    target: float
    passing_qps: float | None     # the highest rate that met the target
    failing_qps: float | None     # the lowest rate above it that did not
    estimate_qps: float | None    # interpolated to the target
    uncertainty_qps: float | None  # its standard error (<= the bracket)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sla_estimate(trials: list[SlaTrial], target: float) -> SlaEstimate:
    """The interpolated SLA rate of measured ``trials`` (see the module)."""
    passing = [t for t in trials if t.attainment >= target]
    if not passing:
        return SlaEstimate(target, None, None, None, None)
    low = max(passing, key=lambda t: t.qps)
    above = [t for t in trials if t.qps > low.qps and t.attainment < target]
    if not above:
        return SlaEstimate(target, low.qps, None, low.qps, None)  # no failing rate: at least this
    high = min(above, key=lambda t: t.qps)
    drop = low.attainment - high.attainment
    span = high.qps - low.qps
    estimate = low.qps + (low.attainment - target) / drop * span if drop > 0 else low.qps
    slope = drop / span
    error = math.sqrt(low.variance + high.variance) / slope if slope > 0 else span
    return SlaEstimate(target, low.qps, high.qps, estimate, min(error, span))
