"""Over-saturation: a server offered more than it can serve queues the excess, so
the time to the first token and the requests in flight both keep rising.

:func:`mann_kendall` is the Mann-Kendall trend test (a rank test: no assumption on
the distribution, ties corrected); :func:`detect_saturation` applies it to the
TTFT of the answered requests and to the requests in flight at each send, in send
order, and calls the run over-saturated only when both rise (one-sided, ``alpha``),
as GuideLLM's over-saturation stop looks for both together: a TTFT that rises
alone is a longer prompt, a concurrency that rises alone a rising rate. Both are
tested over the recent half of the run, and the queue must also grow at more
than ``MIN_GROWTH`` of the offered rate (its Theil-Sen slope): under a rising rate
a server below its capacity holds more requests too (Little's law) and queues a
little longer, but only one past its capacity leaves a share of the arrivals unserved.

Where it is over-saturated, the onset is the change point of the in-flight count
(the hinge of a two-piece linear fit), and ``saturation_qps`` the completions per
second over the later half of the span from the onset to the last send (well
inside the saturated part): a saturated server completes at its capacity
whatever it is offered, so that is the rate it can sustain.
``onset_offered_qps`` is the offered rate at the onset (arrivals in the 20
scheduled on either side of it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm, theilslopes

from openaiperf.records import Record

#: a trend needs this many points (in the recent half) before the test is asked
MIN_POINTS = 20
#: the queue's growth, as a share of the offered rate, that counts as over-saturated
MIN_GROWTH = 0.1


def mann_kendall(values: Sequence[float]) -> tuple[float, float]:
    """(z, one-sided p of a rising trend) of the Mann-Kendall test; (0, 1) for too few values."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 3:
        return 0.0, 1.0
    s = float(sum(np.sign(x[i + 1:] - x[i]).sum() for i in range(n - 1)))
    _, ties = np.unique(x, return_counts=True)
    variance = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18
    if variance <= 0:
        return 0.0, 1.0
    z = (s - np.sign(s)) / math.sqrt(variance)
    return float(z), float(norm.sf(z))


def in_flight_at_sends(records: Sequence[Record]) -> list[int]:
    """For each record in send order, the requests sent before it and not yet done when it was sent."""
    ordered = sorted(records, key=lambda r: r.scheduled)
    sends = [r.sent if r.sent is not None else r.scheduled for r in ordered]
    ends = np.array([r.done if r.done is not None else math.inf for r in ordered])
    return [int(np.sum(ends[:i] > sends[i])) for i in range(len(ordered))]


@dataclass
class Saturation:
    detected: bool
    ttft_p: float
    in_flight_p: float
    points: int
    alpha: float
    growth: float | None = None           # the queue's growth over the offered rate, recent half
    onset_s: float | None = None          # seconds after the first send
    onset_offered_qps: float | None = None
    saturation_qps: float | None = None   # completions/s from the onset to the last send

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def hinge_point(times: np.ndarray, values: np.ndarray, candidates: int = 200) -> float:
    """The ``tau`` of the least-squares fit ``a + b * max(0, t - tau)``."""
    best, best_tau = math.inf, float(times[0])
    for tau in np.unique(np.quantile(times, np.linspace(0.05, 0.95, candidates))):
        design = np.column_stack([np.ones_like(times), np.maximum(0.0, times - tau)])
        _, residual, *_ = np.linalg.lstsq(design, values, rcond=None)
        sse = float(residual[0]) if len(residual) else float(np.sum((design @ np.linalg.lstsq(
            design, values, rcond=None)[0] - values) ** 2))
        if sse < best:
            best, best_tau = sse, float(tau)
    return best_tau


def detect_saturation(records: Sequence[Record], *, alpha: float = 0.01) -> Saturation:
    """Whether TTFT and the requests in flight both rise over the run (see the module)."""
    measured = sorted((r for r in records if not r.warmup), key=lambda r: r.scheduled)
    flights = in_flight_at_sends(measured)
    recent = len(measured) // 2
    answered = [r for r in measured[recent:] if r.first_token is not None and r.error is None]
    ttfts = [float(r.first_token - r.scheduled) for r in answered if r.first_token is not None]
    if len(ttfts) < MIN_POINTS or len(measured) - recent < MIN_POINTS:
        return Saturation(False, 1.0, 1.0, len(measured), alpha)
    _, ttft_p = mann_kendall(ttfts)
    _, flight_p = mann_kendall(flights[recent:])
    times = np.array([r.scheduled for r in measured])
    window = times[recent:]
    span = float(window[-1] - window[0])
    growth = None
    if span > 0:
        slope = float(theilslopes(flights[recent:], window)[0])
        growth = slope / ((len(window) - 1) / span)
    detected = ttft_p < alpha and flight_p < alpha and growth is not None and growth > MIN_GROWTH
    result = Saturation(detected, ttft_p, flight_p, len(measured), alpha, growth)
    if not result.detected:
        return result
    t0, last_send = float(times[0]), float(times[-1])
    onset = hinge_point(times, np.array(flights, dtype=float))
    result.onset_s = onset - t0
    index = int(np.searchsorted(times, onset))
    low, high = max(0, index - 20), min(len(times) - 1, index + 20)
    if times[high] > times[low]:
        result.onset_offered_qps = (high - low) / float(times[high] - times[low])
    middle = (onset + last_send) / 2
    completed = sum(1 for r in measured if r.done is not None and middle <= r.done <= last_send)
    if last_send > middle:
        result.saturation_qps = completed / (last_send - middle)
    return result
