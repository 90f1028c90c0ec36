"""Arrival schedules for open-loop scenarios.

Gaps between arrivals are gamma-distributed with shape ``burstiness`` and mean
``1 / rate``: burstiness 1 is a Poisson process (exponential gaps, MLPerf
Server); below 1 arrivals come in bursts, above 1 they are more regular (the
same parametrisation as ``vllm bench serve --burstiness``).

A schedule offers exactly the rate asked for. The realised mean of a finite
number of drawn gaps differs from ``1 / rate`` (by about ``1/sqrt(n)``: -16% for
one seed and 40 Poisson requests), and with a fixed seed it is the same
shortfall in every run. So :func:`arrival_times` scales the drawn gaps so that
the measured requests span exactly ``(n - 1) / rate`` from the first to the
last, and the warmup requests (with the gap to the first measured one) span
``warmup / rate``: the shape of the process (its burstiness, the order of short
and long gaps) is kept, only its time scale is fixed. ``vllm bench serve`` does
the same (it rescales the cumulative delays to ``n / rate``); guidellm draws
unscaled exponential gaps and relies on long runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from openaiperf.errors import ConfigError


def arrival_gaps(count: int, rate: float, *, seed: int = 0, burstiness: float = 1.0) -> np.ndarray:
    """``count`` raw gamma gaps in seconds (mean ``1 / rate`` in expectation only)."""
    if rate <= 0:
        raise ConfigError(f"must be > 0 requests/s, got {rate}", source="--qps-target")
    if burstiness <= 0:
        raise ConfigError(f"must be > 0, got {burstiness}", source="--burstiness")
    rng = np.random.default_rng(seed)
    return rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=count)


def _scaled(gaps: np.ndarray, rate: float) -> np.ndarray:
    """``gaps`` rescaled so that they add up to exactly ``len(gaps) / rate``."""
    if len(gaps) == 0:
        return gaps
    total = float(gaps.sum())
    if total <= 0:  # every draw underflowed to 0 (absurdly small burstiness): fall back to even gaps
        return np.full(len(gaps), 1.0 / rate)
    return gaps * (len(gaps) / rate / total)


def arrival_times(count: int, rate: float, *, seed: int = 0, burstiness: float = 1.0,
                  warmup: int = 0) -> np.ndarray:
    """Offsets in seconds from the start of the run; the first request goes at 0.

    The requests from index ``warmup`` on (the measured ones) span exactly
    ``(count - warmup - 1) / rate``; the ones before, up to the first measured
    request, span ``warmup / rate``. So the offered rate of the measured requests
    is the target, whatever the seed.
    """
    if count <= 0:
        arrival_gaps(0, rate, seed=seed, burstiness=burstiness)  # still validates rate and burstiness
        return np.zeros(0)
    warmup = min(max(int(warmup), 0), count - 1)
    # gaps[i] is the gap before request i + 1: the first ``warmup`` lead to the first measured request.
    gaps = arrival_gaps(count - 1, rate, seed=seed, burstiness=burstiness)
    gaps = np.concatenate([_scaled(gaps[:warmup], rate), _scaled(gaps[warmup:], rate)])
    return np.concatenate([[0.0], np.cumsum(gaps)])


def offered_rate(times: np.ndarray | list[float]) -> float | None:
    """The arrival rate of a sequence of send times: ``(n - 1) / (last - first)``;
    None for fewer than two arrivals or a zero span."""
    if len(times) < 2:
        return None
    span = float(max(times) - min(times))
    return (len(times) - 1) / span if span > 0 else None


def trace_offsets(arrivals_s: list[float], count: int, *, time_scale: float = 1.0, warmup: int = 0) -> np.ndarray:
    """Send offsets (s, the first at 0) that replay a trace: ``warmup`` requests first,
    one mean trace gap apart, then ``count`` measured requests at the trace's times
    (relative to its first request) times ``time_scale``. A ``count`` beyond the
    trace's length replays it again after its end (one mean gap later), as many
    times as needed."""
    if time_scale <= 0:
        raise ConfigError(f"must be > 0, got {time_scale}", source="--time-scale")
    if not arrivals_s:
        return np.zeros(max(warmup, 0))
    base = np.asarray(arrivals_s, dtype=float)
    base = (base - base[0]) * time_scale
    span = float(base[-1])
    gap = span / (len(base) - 1) if len(base) > 1 and span > 0 else 0.1
    index = np.arange(max(count, 0))
    measured = base[index % len(base)] + (index // len(base)) * (span + gap)
    head = np.arange(max(warmup, 0)) * gap
    return np.concatenate([head, measured + max(warmup, 0) * gap])


RAMPS = ("linear", "exponential")


@dataclass(frozen=True)
class RateRamp:
    """An arrival rate that rises from ``start`` to ``end`` requests/s over ``duration_s``
    (``linear``: by equal steps in time; ``exponential``: by equal factors), then stays at
    ``end``. Its integral :meth:`expected` is the mean count of arrivals by ``t``."""

    shape: str
    start: float
    end: float
    duration_s: float

    def __post_init__(self) -> None:
        if self.shape not in RAMPS:
            raise ConfigError(f"expected one of {', '.join(RAMPS)}, got {self.shape!r}", source="--rate-ramp")
        if self.start <= 0 or self.end <= 0:
            raise ConfigError(f"a ramp needs rates > 0 requests/s, got {self.start} -> {self.end}",
                              source="--ramp-start-qps")
        if self.duration_s <= 0:
            raise ConfigError(f"must be > 0 s, got {self.duration_s}", source="--ramp-duration")

    @property
    def _growth(self) -> float:
        return math.log(self.end / self.start) / self.duration_s

    def rate(self, t: float) -> float:
        """The arrival rate ``t`` seconds after the start."""
        if t >= self.duration_s:
            return self.end
        t = max(t, 0.0)
        if self.shape == "linear" or self.end == self.start:
            return self.start + (self.end - self.start) * t / self.duration_s
        return self.start * math.exp(self._growth * t)

    def expected(self, t: float) -> float:
        """Mean arrivals in ``[0, t]``: the integral of :meth:`rate`."""
        d = min(max(t, 0.0), self.duration_s)
        if self.shape == "linear" or self.end == self.start:
            head = self.start * d + (self.end - self.start) * d * d / (2 * self.duration_s)
        else:
            head = self.start * math.expm1(self._growth * d) / self._growth
        return head + self.end * max(0.0, t - self.duration_s)

    def time_of(self, arrivals: float) -> float:
        """The inverse of :meth:`expected`: when ``arrivals`` mean arrivals have come."""
        ramp = self.expected(self.duration_s)
        if arrivals >= ramp:
            return self.duration_s + (arrivals - ramp) / self.end
        if self.shape == "linear" or self.end == self.start:
            a, b = (self.end - self.start) / (2 * self.duration_s), self.start
            if abs(a) < 1e-12:
                return arrivals / b
            return (-b + math.sqrt(b * b + 4 * a * arrivals)) / (2 * a)
        return math.log1p(self._growth * arrivals / self.start) / self._growth

    def count(self) -> int:
        """Requests of a schedule that spans the ramp: its expected arrivals, rounded up."""
        return max(2, math.ceil(self.expected(self.duration_s)))


def ramp_times(ramp: RateRamp, count: int, *, seed: int = 0) -> np.ndarray:
    """Offsets (s, the first at 0) of ``count`` arrivals of a non-homogeneous Poisson
    process whose rate follows ``ramp``, by time rescaling: the arrivals of a unit-rate
    Poisson process (seeded exponential gaps), each mapped through the inverse of the
    ramp's integrated rate."""
    if count <= 0:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    unit = np.concatenate([[0.0], np.cumsum(rng.exponential(1.0, size=count - 1))])
    return np.array([ramp.time_of(float(u)) for u in unit])
