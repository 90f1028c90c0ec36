"""Over-saturation: a server offered more than it can serve holds ever more
requests, and each waits longer: a queueing server queues the excess (the time to
the first token rises), a batching one (vLLM: every arrival joins the running
batch) slows every decode step (the per-token time and E2E rise, TTFT stays flat).

:func:`mann_kendall` is the Mann-Kendall trend test (a rank test: no assumption on
the distribution, ties corrected); :func:`detect_saturation` applies it to the
requests in flight at each send and to three latencies: TTFT and E2E (answered
requests) in send order, and the per-token time as it went (``itl``: the gap
before every chunk after a response's first, over its tokens, in arrival order,
so the requests still streaming count: a batch's decode steps slow as it grows),
the last two up to the last send (after it a batching server drains its batch
ever faster, which would hide the trend of the load; a queue's TTFT keeps its order). It calls the run over-saturated
when the requests in flight rise (one-sided p < ``alpha``) and at least one
latency rises too: the three latencies are one family, tested with Holm's
correction, whose first step decides "at least one rises" (Bonferroni: the
smallest p < ``alpha`` / 3), so the false-alarm rate stays at ``alpha`` as with
TTFT alone; ``saturation_signal`` names the latency with the smallest p. As
GuideLLM's over-saturation stop, it asks both together: a latency that rises
alone is a longer prompt, a concurrency that rises alone a rising rate. All are
tested over the recent half of the run, as :data:`BLOCKS` means of consecutive
requests (consecutive requests share the server's state, so their values are
correlated and a test of each value would take a chance swing for a trend: a
batch's per-token time follows its size, so below capacity a swing of the
requests in flight moves the per-token time with it), and the queue must also grow at more than
``MIN_GROWTH`` of the offered rate (its Theil-Sen slope): under a rising rate a
server below its capacity holds more requests too (Little's law) and answers a
little slower, but only one past its capacity leaves a share of the arrivals unserved.

Where it is over-saturated, the onset is the change point of the in-flight count
(the hinge of a two-piece linear fit). ``saturation_qps``, the capacity estimate,
is what the server generated over the later half of the span from the onset to the
last send (well inside the saturated part), in decode tokens (those after each
response's first chunk) per second, over the decode tokens of an answered request:
a saturated server generates at its capacity whatever it is offered, and counting
tokens rather than completions stays true when requests outlast the window (a
batching server past its capacity spreads its tokens over ever more requests, so
it completes fewer than it serves). ``completed_qps`` is the completions per second
over the same window, and ``onset_offered_qps`` the offered rate at the onset
(arrivals in the 20 scheduled on either side of it): neither is the capacity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm, theilslopes

from openaiperf.records import Record

#: a trend needs this many requests sent (in the recent half) before the test is asked: fewer
#: span too short a time, where a burst of a Poisson schedule below capacity reads as a trend
MIN_POINTS = 40
#: and this many values of a latency (requests still waiting for a chunk have none yet)
MIN_LATENCIES = 20
#: the queue's growth, as a share of the offered rate, that counts as over-saturated
MIN_GROWTH = 0.1
#: the series are tested as this many block means: consecutive requests share a server
#: state (a batch's size, a queue's length), so their values are correlated and a test
#: over each would read a chance swing as a trend
BLOCKS = 12


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


def block_means(values: Sequence[float], blocks: int) -> list[float]:
    """The means of ``blocks`` consecutive runs of ``values`` (the oldest remainder left out), or
    the values themselves when there are no more than that."""
    n = len(values)
    if n <= blocks:
        return list(values)
    size = n // blocks
    x = np.asarray(values[n - size * blocks:], dtype=float)
    return [float(v) for v in x.reshape(blocks, size).mean(axis=1)]


def trend_p(values: Sequence[float]) -> float:
    """One-sided p of a rising trend over :data:`BLOCKS` block means (see the module)."""
    return mann_kendall(block_means(values, BLOCKS))[1]


def in_flight_at_sends(records: Sequence[Record]) -> list[int]:
    """For each record in send order, the requests sent before it and not yet done when it was sent."""
    ordered = sorted(records, key=lambda r: r.scheduled)
    sends = [r.sent if r.sent is not None else r.scheduled for r in ordered]
    ends = np.array([r.done if r.done is not None else math.inf for r in ordered])
    return [int(np.sum(ends[:i] > sends[i])) for i in range(len(ordered))]


#: the latencies that may show saturation beside the requests in flight (one family, Holm-corrected)
SIGNALS = ("ttft", "itl", "e2e")


def chunk_units(record: Record) -> list[int]:
    """Tokens per chunk when the record has them for every chunk, else 1 per chunk."""
    if len(record.chunk_tokens) == len(record.chunk_times):
        return record.chunk_tokens
    return [1] * len(record.chunk_times)


def token_gaps(records: Sequence[Record], start: float, horizon: float) -> list[float]:
    """The per-token gap of every chunk after a response's first that arrived in ``[start, horizon]``
    (seconds over its tokens), in arrival order: how long a decode step took, as it went."""
    gaps: list[tuple[float, float]] = []
    for r in records:
        if r.error is not None or r.cancelled:
            continue
        times, units = r.chunk_times, chunk_units(r)
        gaps += [(times[k], (times[k] - times[k - 1]) / units[k]) for k in range(1, len(times))
                 if start <= times[k] <= horizon and units[k] > 0]
    return [gap for _, gap in sorted(gaps)]


def latencies(measured: Sequence[Record], recent: int, horizon: float) -> dict[str, list[float]]:
    """Each signal's values over the recent requests (from index ``recent`` on): TTFT and E2E
    (answered by ``horizon``) in send order, and the per-token gaps (``itl``) of every request's
    chunks from the first recent send to ``horizon``, in arrival order. Up to the last send
    only: after it a batching server drains its batch ever faster, which would hide the trend
    of the load (a queue's TTFT keeps its order)."""
    values: dict[str, list[float]] = {name: [] for name in SIGNALS}
    for r in measured[recent:]:
        if r.error is not None or r.cancelled:
            continue
        if r.first_token is not None:
            values["ttft"].append(float(r.first_token - r.scheduled))
        if r.done is not None and r.first_token is not None and r.done <= horizon:
            values["e2e"].append(float(r.done - r.scheduled))
    if recent < len(measured):
        values["itl"] = token_gaps(measured, measured[recent].scheduled, horizon)
    return values


@dataclass
class Saturation:
    detected: bool
    ttft_p: float
    in_flight_p: float
    points: int
    alpha: float
    growth: float | None = None           # the queue's growth over the offered rate, recent half
    itl_p: float = 1.0
    e2e_p: float = 1.0
    saturation_signal: str | None = None  # the rising latency with the smallest p: ttft | itl | e2e
    onset_s: float | None = None          # seconds after the first send
    onset_offered_qps: float | None = None
    saturation_qps: float | None = None   # the capacity: decode tokens/s over an answer's, onset to last send
    completed_qps: float | None = None    # completions/s over the same window

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def decode_rate_qps(records: Sequence[Record], start: float, end: float) -> float | None:
    """Decode tokens (after each response's first chunk) generated in ``[start, end]`` per
    second, over the mean decode tokens of an answered request: the requests/s served."""
    generated, answers = 0, []
    for r in records:
        units = chunk_units(r)
        generated += sum(u for t, u in zip(r.chunk_times[1:], units[1:]) if start <= t <= end)
        if r.done is not None and r.error is None and not r.cancelled and len(units) > 1:
            answers.append(sum(units[1:]))
    if end <= start or not answers or not generated:
        return None
    return generated / (end - start) / float(np.mean(answers))


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
    """Whether the requests in flight and a latency both rise over the run (see the module)."""
    measured = sorted((r for r in records if not r.warmup), key=lambda r: r.scheduled)
    flights = in_flight_at_sends(measured)
    recent = len(measured) // 2
    horizon = max((r.sent if r.sent is not None else r.scheduled for r in measured), default=math.inf)
    series = latencies(measured, recent, horizon)
    if len(measured) - recent < MIN_POINTS or max(len(v) for v in series.values()) < MIN_LATENCIES:
        return Saturation(False, 1.0, 1.0, len(measured), alpha)
    p = {name: trend_p(values) if len(values) >= MIN_LATENCIES else 1.0 for name, values in series.items()}
    flight_p = trend_p(flights[recent:])
    times = np.array([r.scheduled for r in measured])
    window = times[recent:]
    span = float(window[-1] - window[0])
    growth = None
    if span > 0:
        slope = float(theilslopes(flights[recent:], window)[0])
        growth = slope / ((len(window) - 1) / span)
    # Holm over the latencies: its first step (the smallest p against alpha / their number)
    # rejects "none rises"
    signal = min(SIGNALS, key=lambda name: p[name])
    rising = p[signal] < alpha / len(SIGNALS)
    detected = rising and flight_p < alpha and growth is not None and growth > MIN_GROWTH
    result = Saturation(detected, p["ttft"], flight_p, len(measured), alpha, growth, itl_p=p["itl"],
                        e2e_p=p["e2e"], saturation_signal=signal if detected else None)
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
    if last_send > middle:
        completed = sum(1 for r in measured if r.done is not None and middle <= r.done <= last_send)
        result.completed_qps = completed / (last_send - middle)
        # an engine without per-chunk times (one time per request): completions are all there is
        result.saturation_qps = decode_rate_qps(measured, middle, last_send) or result.completed_qps
    return result
