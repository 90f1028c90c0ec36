"""Arrival schedules for open-loop scenarios.

Gaps between arrivals are gamma-distributed with shape ``burstiness`` and mean
``1 / rate``: burstiness 1 is a Poisson process (exponential gaps, MLPerf
Server); below 1 arrivals come in bursts, above 1 they are more regular (the
same parametrisation as ``vllm bench serve --burstiness``).
"""

from __future__ import annotations

import numpy as np

from openaiperf.errors import ConfigError


def arrival_gaps(count: int, rate: float, *, seed: int = 0, burstiness: float = 1.0) -> np.ndarray:
    """``count`` gaps in seconds between consecutive arrivals."""
    if rate <= 0:
        raise ConfigError(f"must be > 0 requests/s, got {rate}", source="--qps-target")
    if burstiness <= 0:
        raise ConfigError(f"must be > 0, got {burstiness}", source="--burstiness")
    rng = np.random.default_rng(seed)
    return rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=count)


def arrival_times(count: int, rate: float, *, seed: int = 0, burstiness: float = 1.0) -> np.ndarray:
    """Offsets in seconds from the start of the run; the first request goes at 0."""
    gaps = arrival_gaps(count, rate, seed=seed, burstiness=burstiness)
    times = np.concatenate([[0.0], np.cumsum(gaps[1:])]) if count else np.zeros(0)
    return times
