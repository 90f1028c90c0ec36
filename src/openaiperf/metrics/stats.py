"""Statistics shared by every metric: percentiles (numpy) and bootstrap
confidence intervals (scipy), seeded so a report is reproducible."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

PERCENTILES = (50, 90, 99)


def percentile(values: Sequence[float], q: float) -> float | None:
    """numpy's linear-interpolation percentile; None for no values."""
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of ``statistic`` over ``values``.

    None when there are fewer than two values (no interval can be drawn).
    """
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return None
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        lambda sample, axis: np.apply_along_axis(statistic, axis, sample),
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
        vectorized=True,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
