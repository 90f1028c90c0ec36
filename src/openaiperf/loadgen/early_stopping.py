"""MLPerf LoadGen's early-stopping estimate for a percentile claim.

A run of n requests supports "the q-th percentile latency is at most x" only with
some confidence: the count of requests above the true q-th percentile is
binomial(n, 1 - q). LoadGen (``early_stopping`` in its ``results.cc``) asks how many
of the slowest requests it may set aside, t, so that seeing at most t requests above
the claimed latency has probability at most 1 - confidence were the true exceedance
rate 1 - q; the estimate is the latency of the request at rank n - t (sorted), a
bound that holds at that confidence. Too few requests (not even t = 0 qualifies)
support no estimate: :func:`min_requests` says how many would.

:func:`supported_percentile` is the other view of the same binomial: the highest
percentile whose claim the empirical q-th percentile supports at that confidence
(the one-sided Clopper-Pearson bound on the exceedance rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import beta, binom

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.latency import e2e_s, tpot_s, ttft_s
from openaiperf.records import Record

CONFIDENCE = 0.99


def allowed_overlatency(n: int, q: float, confidence: float = CONFIDENCE) -> int | None:
    """The largest t with P(binomial(n, 1 - q) <= t) <= 1 - confidence; None when none."""
    if n <= 0:
        return None
    # the cdf rises with t: the largest qualifying t is found from the quantile, then checked
    t = int(binom.ppf(1 - confidence, n, 1 - q))
    while t >= 0 and binom.cdf(t, n, 1 - q) > 1 - confidence:
        t -= 1
    while binom.cdf(t + 1, n, 1 - q) <= 1 - confidence:
        t += 1
    return t if t >= 0 else None


def early_stopping_estimate(values: Sequence[float], q: float, confidence: float = CONFIDENCE) -> float | None:
    """The latency the q-th percentile claim may state at ``confidence`` (see the module)."""
    t = allowed_overlatency(len(values), q, confidence)
    if t is None:
        return None
    ordered = sorted(values)
    return float(ordered[len(ordered) - 1 - t])


def min_requests(q: float, confidence: float = CONFIDENCE) -> int:
    """The fewest requests with any early-stopping estimate for the q-th percentile: q**n <= 1 - confidence."""
    return math.ceil(math.log(1 - confidence) / math.log(q))


def supported_percentile(n: int, q: float, confidence: float = CONFIDENCE) -> float | None:
    """The percentile (0-1) that the empirical q-th percentile of n requests supports at
    ``confidence``: 1 - the upper Clopper-Pearson bound on the exceedance rate."""
    if n <= 0:
        return None
    exceed = math.floor(n * (1 - q) + 1e-9)
    if exceed >= n:
        return 0.0
    return float(1 - beta.ppf(confidence, exceed + 1, n - exceed))


#: the latency claims a case makes, and the percentiles of each
CLAIMS = {"ttft": (90, 99), "tpot": (90, 99), "e2e": (90, 99)}


def early_stopping_metrics(records: Sequence[Record]) -> MetricSet:
    """``<latency>_p<q>_es``: the early-stopping estimate (ms) of each claimed percentile of
    the answered measured requests (None where too few requests support one)."""
    ok = [r for r in records if r.ok and not r.warmup]
    values = {"ttft": [v for r in ok if (v := ttft_s(r)) is not None],
              "tpot": [v for r in ok if (v := tpot_s(r)) is not None],
              "e2e": [v for r in ok if (v := e2e_s(r)) is not None]}
    out: MetricSet = {}
    for name, percentiles in CLAIMS.items():
        for q in percentiles:
            estimate = early_stopping_estimate(values[name], q / 100)
            out[f"{name}_p{q}_es"] = Metric(None if estimate is None else estimate * 1000, "ms", Better.LOWER)
    return out
