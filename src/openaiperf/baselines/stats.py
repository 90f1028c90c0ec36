"""The statistics of the regression gate, on per-round values of one metric.

Everything is on the log scale: a round's value ``x`` becomes ``log x``, a
change is ``log(current / baseline)``, so a slowdown multiplies values without
widening their spread and a tolerance is a ratio.

Comparison of ``n_c`` new rounds with ``n_b >= 2`` baseline rounds (Student's t,
pooled variance):

    d  = mean(log c) - mean(log b)
    s² = ((n_b - 1) s_b² + (n_c - 1) s_c²) / (n_b + n_c - 2)      # pooled round-to-round variance
    se = s · sqrt(1/n_b + 1/n_c),   df = n_b + n_c - 2

With one new round this is the *prediction interval* of a new round from the
baseline's rounds (``s_b · sqrt(1 + 1/n_b)``, ``n_b - 1`` df); with more it is
the two-sample t test. Pooling assumes that both runs vary alike from round to
round, which is the null hypothesis of a comparison whose configuration the
gate has checked; on the log scale a slowdown does not change that spread, and
with equal round counts the pooled test is robust to unequal variances. Welch's
test would leave as little as one degree of freedom to a new run of two rounds.

Family-wise error across the metrics of a case: :func:`holm` (Holm 1979,
step-down Bonferroni), valid under any dependence between the metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: the most rounds "what would settle it" proposes before calling a metric too noisy
MAX_SUGGESTED_ROUNDS = 30


@dataclass(frozen=True)
class LogChange:
    """``log(current / baseline)`` of a metric's round geometric means, with its standard error."""

    estimate: float
    se: float
    df: int
    n_baseline: int
    n_current: int
    spread: float  # pooled round-to-round standard deviation of log values

    @property
    def method(self) -> str:
        if self.n_current == 1:
            return f"prediction interval from {self.n_baseline} baseline rounds (t, {self.df} df)"
        return f"pooled t on log values, {self.n_current} vs {self.n_baseline} rounds ({self.df} df)"


def log_change(baseline: Sequence[float], current: Sequence[float]) -> LogChange:
    """The log change between two sets of positive round values (``len(baseline) >= 2``,
    ``len(current) >= 1``)."""
    log_b = np.log(np.asarray(baseline, dtype=float))
    log_c = np.log(np.asarray(current, dtype=float))
    n_b, n_c = log_b.size, log_c.size
    if n_b < 2 or n_c < 1:
        raise ValueError(f"need >= 2 baseline rounds and >= 1 new round, got {n_b} and {n_c}")
    df = n_b + n_c - 2
    squares = float(((log_b - log_b.mean()) ** 2).sum() + ((log_c - log_c.mean()) ** 2).sum())
    spread = math.sqrt(squares / df)
    return LogChange(estimate=float(log_c.mean() - log_b.mean()), se=spread * math.sqrt(1 / n_b + 1 / n_c),
                     df=df, n_baseline=n_b, n_current=n_c, spread=spread)


def t_quantile(level: float, df: int) -> float:
    from scipy.stats import t as student_t

    return float(student_t.ppf(level, df))


def p_worse(worse: float, se: float, df: int) -> float:
    """One-sided p-value of "worse than the baseline" (null: no change) for a
    worse-side change ``worse`` with standard error ``se``."""
    if se == 0.0:
        return 0.0 if worse > 0 else 1.0
    from scipy.stats import t as student_t

    return float(student_t.sf(worse / se, df))


def worse_bound(worse: float, se: float, df: int, alpha: float) -> float:
    """The one-sided ``1 - alpha`` upper bound of the worse-side change."""
    return worse + t_quantile(1 - alpha, df) * se if se > 0 else worse


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): reject where the
    adjusted value is below alpha, and the family-wise error stays below alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def holm_level(p_values: Sequence[float], index: int, alpha: float) -> float:
    """The level Holm compares ``p_values[index]`` with: alpha / (m - rank)."""
    rank = sorted(p_values).index(p_values[index])
    return alpha / (len(p_values) - rank)


# -- what would settle an inconclusive comparison ------------------------------------------
@dataclass(frozen=True)
class Settle:
    """How many rounds would turn an inconclusive comparison into a verdict, at the
    observed spread and change: ``current_rounds`` for the new run (same baseline),
    or ``both_rounds`` when the baseline itself must be re-saved with more rounds;
    neither when up to :data:`MAX_SUGGESTED_ROUNDS` rounds would not do."""

    current_rounds: int | None = None
    both_rounds: int | None = None

    @property
    def demand(self) -> tuple[int, int]:
        """Orders answers by how much they ask: more new rounds < a new baseline < impossible."""
        if self.current_rounds is not None:
            return 0, self.current_rounds
        if self.both_rounds is not None:
            return 1, self.both_rounds
        return 2, 0

    def text(self, n_current: int, spread: float, tolerance: float, change: float) -> str:
        if self.current_rounds is not None:
            more = self.current_rounds - n_current
            return f"{more} more round{'s' if more != 1 else ''} (--repeats {self.current_rounds})"
        if self.both_rounds is not None:
            return (f"a baseline of more rounds: re-save it with --repeats {self.both_rounds} and compare with "
                    f"--repeats {self.both_rounds}")
        return (f"a steadier machine or a wider tolerance: at a round-to-round spread of "
                f"{100 * math.expm1(spread):.1f}% and a change of {100 * math.expm1(change):+.1f}%, "
                f"{MAX_SUGGESTED_ROUNDS} rounds would not tell whether it is beyond {100 * tolerance:.0f}%")


def _decided(worse: float, spread: float, n_b: int, n_c: int, threshold: float, alpha: float,
             level: float) -> bool:
    se = spread * math.sqrt(1 / n_b + 1 / n_c)
    df = n_b + n_c - 2
    if worse > threshold:  # a regression once it is significant
        return p_worse(worse, se, df) < level
    return worse_bound(worse, se, df, alpha) <= threshold  # ruled out once the bound is within tolerance


def rounds_to_settle(change: LogChange, worse: float, threshold: float, alpha: float, level: float) -> Settle:
    """The fewest rounds that would decide, if the change and the spread stayed as
    observed. ``level`` is the significance level a regression must reach (its Holm
    level); ``threshold`` the tolerance on the worse-side log scale."""
    if change.spread == 0.0:
        return Settle()
    for n_c in range(change.n_current + 1, MAX_SUGGESTED_ROUNDS + 1):
        if _decided(worse, change.spread, change.n_baseline, n_c, threshold, alpha, level):
            return Settle(current_rounds=n_c)
    for n in range(max(change.n_baseline, change.n_current) + 1, MAX_SUGGESTED_ROUNDS + 1):
        if _decided(worse, change.spread, n, n, threshold, alpha, level):
            return Settle(both_rounds=n)
    return Settle()
