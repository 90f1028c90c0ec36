"""The statistics of the regression gate, on per-round values of one metric.

Everything is on the log scale: a round's value ``x`` becomes ``log x``, a
change is ``log(current / baseline)``, so a slowdown multiplies values without
widening their spread and a tolerance is a ratio.

The model: round ``j`` of run ``i`` is ``μ + r_i + e_ij``, with a run effect
``r_i`` (drift between runs: machine load, clocks, memory layout, N(0, σ_r²))
and round noise ``e_ij`` (N(0, σ_w²)). The new run (``k`` rounds) is compared
with the baseline (``m`` runs of ``n_g`` rounds; its mean is the mean of its run
means) by Student's t:

- **one baseline run** (``m = 1``, what ``--baseline-save`` stores): the run
  effect cannot be estimated; ``se² = s_w² (1/n + 1/k)`` with the pooled
  within-run variance ``s_w²`` (``n + k - 2`` df). With one new round this is
  the *prediction interval* of a new round from the baseline's rounds
  (``s_b · sqrt(1 + 1/n)``, ``n - 1`` df); with more, the pooled two-sample t
  test. Pooling assumes both runs vary alike from round to round: the null
  hypothesis of a comparison whose configuration the gate has checked; on the
  log scale a slowdown does not change that spread, and with equal round counts
  the pooled test is robust to unequal variances (Welch's would leave one degree
  of freedom to a new run of two rounds). Drift between runs cannot be seen in
  one run, so it is *assumed*: ``d`` (``--baseline-drift``, a run-to-run standard
  deviation on the log scale) adds ``2 d²`` (the baseline run's and the new
  run's effects) to ``se²``. The assumed drift is a prior taken as *known*: it
  has no sampling error, so the degrees of freedom are Welch-Satterthwaite's
  with the round part the only estimated one (a steady server's tiny round
  spread leaves the normal quantile, and a 20% slowdown is decided from one
  baseline run). A machine whose runs drift more than ``d`` needs its own
  ``--baseline-drift``, a baseline of several runs, or interleaved A/B.
  ``d = 0`` is the bare prediction interval, which cries wolf on a machine that
  drifts between runs;
- **several baseline runs** (``--baseline-append``): the variance of the baseline
  run means ``S_b²`` (``m - 1`` df) estimates ``σ_r² + σ_w² h`` with ``h =
  mean(1/n_g)``, so the new run's mean has, around the baseline mean,
  ``se² = S_b² (1 + 1/m) + s_w² (1/k - h)`` (never below the drift-free value
  ``s_w² (1/k + h/m)``), with Welch-Satterthwaite degrees of freedom.

Family-wise error across the metrics of a case: :func:`holm` (Holm 1979,
step-down Bonferroni), valid under any dependence between the metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

#: the most rounds (or baseline runs) "what would settle it" proposes
MAX_SUGGESTED_ROUNDS = 30
#: the degrees of freedom of a standard error that is all known variance (Student's t is then normal)
KNOWN_DF = 1e6


@dataclass(frozen=True)
class Design:
    """Round counts of a comparison: rounds of each baseline run, rounds of the new run."""

    baseline_runs: tuple[int, ...]
    current: int

    @property
    def runs(self) -> int:
        return len(self.baseline_runs)

    @property
    def n_baseline(self) -> int:
        return sum(self.baseline_runs)

    @property
    def within_df(self) -> int:
        return sum(n - 1 for n in self.baseline_runs) + self.current - 1

    @property
    def inverse_rounds(self) -> float:
        """h = mean(1/n_g): how much round noise one baseline run mean carries."""
        return float(np.mean([1 / n for n in self.baseline_runs]))


@dataclass(frozen=True)
class Noise:
    """Estimated variance components (log scale)."""

    within: float  # s_w²: round-to-round, pooled within runs
    between: float | None  # S_b²: variance of the baseline run means (None: one baseline run)
    #: d: the run-to-run standard deviation assumed where one baseline run cannot measure it
    assumed_drift: float = 0.0

    def se_df(self, design: Design) -> tuple[float, float]:
        """Standard error of (new run mean - baseline mean) and its degrees of freedom."""
        k, m, h, df_w = design.current, design.runs, design.inverse_rounds, design.within_df
        drift_free = self.within * (1 / k + h / m)
        if self.between is None or m < 2:
            # The baseline run's effect and the new run's, at the assumed drift taken as known (a
            # prior, not an estimate): it carries no sampling error, so the degrees of freedom are
            # Satterthwaite's with the round part the only estimated one. Taken as unknown, with the
            # round spread's few degrees of freedom, a steady server's 20% slowdown stayed undecided.
            assumed = 2 * self.assumed_drift**2
            if assumed == 0.0 or drift_free == 0.0:
                return math.sqrt(drift_free + assumed), float(df_w) if assumed == 0.0 else KNOWN_DF
            variance = drift_free + assumed
            return math.sqrt(variance), min(KNOWN_DF, variance**2 / (drift_free**2 / df_w))
        between_part, within_part = self.between * (1 + 1 / m), self.within * (1 / k - h)
        variance = between_part + within_part
        if variance <= drift_free:  # no drift beyond what round noise explains
            return math.sqrt(drift_free), float(df_w)
        denominator = between_part**2 / (m - 1) + (within_part**2 / df_w if df_w > 0 else 0.0)
        return math.sqrt(variance), variance**2 / denominator

    def drift(self, design: Design) -> float | None:
        """Estimated run-to-run standard deviation σ_r (None with one baseline run)."""
        if self.between is None or design.runs < 2:
            return None
        return math.sqrt(max(0.0, self.between - self.within * design.inverse_rounds))


@dataclass(frozen=True)
class LogChange:
    """``log(current / baseline)`` of a metric's geometric means, with its standard error."""

    estimate: float
    se: float
    df: float
    design: Design
    noise: Noise

    @property
    def n_baseline(self) -> int:
        return self.design.n_baseline

    @property
    def n_current(self) -> int:
        return self.design.current

    @property
    def spread(self) -> float:
        """Round-to-round standard deviation of log values, pooled within runs."""
        return math.sqrt(self.noise.within)

    @property
    def method(self) -> str:
        d = self.design
        if d.runs == 1:
            if d.current == 1:
                text = f"prediction interval from {d.n_baseline} baseline rounds"
            else:
                text = f"pooled t on log values, {d.current} vs {d.n_baseline} rounds"
            assumed = self.noise.assumed_drift
            counted = (f"run-to-run drift assumed {100 * math.expm1(assumed):.1f}% (--baseline-drift)"
                       if assumed > 0 else "run-to-run drift not counted (--baseline-drift 0)")
            return f"{text} ({self.df:.0f} df; one baseline run: {counted})"
        drift = self.noise.drift(d) or 0.0
        return (f"t against {d.runs} baseline runs ({d.n_baseline} rounds), run-to-run drift "
                f"{100 * drift:.1f}%, {d.current} new round(s) ({self.df:.1f} df)")


def _as_runs(baseline: Sequence[float] | Sequence[Sequence[float]]) -> list[list[float]]:
    """One run's values, or several runs' lists of values, as a list of runs."""
    items: list[object] = list(baseline)
    if not any(isinstance(item, (Sequence, np.ndarray)) for item in items):
        return [[float(cast(float, item)) for item in items]]
    return [[float(v) for v in cast(Sequence[float], run)] for run in items]


def log_change(baseline: Sequence[float] | Sequence[Sequence[float]], current: Sequence[float],
               assumed_drift: float = 0.0) -> LogChange:
    """The log change between a baseline and a new run's positive round values. The
    baseline is a list of values (one run, >= 2 rounds) or a list of runs' lists;
    ``assumed_drift`` is the run-to-run standard deviation (log scale) counted when
    the baseline is one run."""
    runs = [r for r in _as_runs(baseline) if r]
    log_runs = [np.log(np.asarray(r, dtype=float)) for r in runs]
    log_c = np.log(np.asarray(current, dtype=float))
    design = Design(tuple(len(r) for r in log_runs), log_c.size)
    if design.current < 1 or design.within_df < 1 or not log_runs:
        raise ValueError(f"need >= 2 baseline rounds and >= 1 new round, got {design.baseline_runs} and "
                         f"{design.current}")
    squares = sum(float(((g - g.mean()) ** 2).sum()) for g in [*log_runs, log_c])
    means = np.array([g.mean() for g in log_runs])
    between = float(means.var(ddof=1)) if len(means) > 1 else None
    noise = Noise(within=squares / design.within_df, between=between, assumed_drift=assumed_drift)
    se, df = noise.se_df(design)
    return LogChange(estimate=float(log_c.mean() - means.mean()), se=se, df=df, design=design, noise=noise)


def t_quantile(level: float, df: float) -> float:
    from scipy.stats import t as student_t

    return float(student_t.ppf(level, df))


def p_worse(worse: float, se: float, df: float) -> float:
    """One-sided p-value of "worse than the baseline" (null: no change) for a
    worse-side change ``worse`` with standard error ``se``."""
    if se == 0.0:
        return 0.0 if worse > 0 else 1.0
    from scipy.stats import t as student_t

    return float(student_t.sf(worse / se, df))


def worse_bound(worse: float, se: float, df: float, alpha: float) -> float:
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
    """How many rounds or runs would turn an inconclusive comparison into a verdict,
    at the observed change and noise: ``current_rounds`` for the new run (same
    baseline); ``both_rounds`` when a one-run baseline must be re-saved with more
    rounds (and compared with as many); ``baseline_runs`` when a baseline's drift
    needs more runs (``--baseline-append``); none when :data:`MAX_SUGGESTED_ROUNDS`
    would not do. ``measure_drift``: no count of runs decides at the drift a one-run
    baseline assumes, so ``baseline_runs`` is what would decide once the runs are
    found to drift no more than their rounds vary (the measured drift replaces the
    assumed one)."""

    current_rounds: int | None = None
    both_rounds: int | None = None
    baseline_runs: int | None = None
    measure_drift: bool = False

    @property
    def demand(self) -> tuple[int, int]:
        """Orders answers by how much they ask: more new rounds < a new baseline < impossible."""
        if self.current_rounds is not None:
            return 0, self.current_rounds
        if self.both_rounds is not None:
            return 1, self.both_rounds
        if self.baseline_runs is not None:
            return 2, self.baseline_runs
        return 3, 0

    def text(self, change: LogChange, tolerance: float) -> str:
        if self.current_rounds is not None:
            more = self.current_rounds - change.n_current
            return f"{more} more round{'s' if more != 1 else ''} (--repeats {self.current_rounds})"
        if self.both_rounds is not None:
            return (f"a baseline of more rounds: re-save it with --repeats {self.both_rounds} and compare with "
                    f"--repeats {self.both_rounds}")
        drift = change.noise.assumed_drift if change.design.runs == 1 else 0.0
        assumed = (f"the run-to-run drift a one-run baseline assumes ({100 * math.expm1(drift):.1f}%, --baseline-drift)"
                   if drift > 0 else "")
        if self.baseline_runs is not None:
            more = self.baseline_runs - change.design.runs
            runs = f"{more} more baseline run{'s' if more != 1 else ''} (--baseline-append)"
            if self.measure_drift:
                return (f"{runs} to measure the drift instead of assuming it: at {assumed} no number of runs "
                        f"tells; if the runs drift no more than their rounds vary, {self.baseline_runs} would")
            return f"{runs} to pin down the drift"
        spread = f"round-to-round spread of {100 * math.expm1(change.spread):.1f}%"
        return (f"a steadier machine or a wider tolerance: at a {spread}{' and ' + assumed if assumed else ''} "
                f"and a change of {100 * math.expm1(change.estimate):+.1f}%, {MAX_SUGGESTED_ROUNDS} rounds or "
                f"runs would not tell whether it is beyond {100 * tolerance:.0f}%")


def _decided(worse: float, noise: Noise, design: Design, threshold: float, alpha: float, level: float) -> bool:
    se, df = noise.se_df(design)
    if worse > threshold:  # a regression once it is significant
        return p_worse(worse, se, df) < level
    return worse_bound(worse, se, df, alpha) <= threshold  # ruled out once the bound is within tolerance


def _first(decides: Callable[[int], bool], low: int, high: int) -> int | None:
    """The smallest count in [low, high] for which ``decides`` holds (it only grows
    more decisive with more rounds or runs), by bisection; None if even ``high`` fails."""
    if low > high or not decides(high):
        return None
    while low < high:
        middle = (low + high) // 2
        if decides(middle):
            high = middle
        else:
            low = middle + 1
    return low


def rounds_to_settle(change: LogChange, worse: float, threshold: float, alpha: float, level: float) -> Settle:
    """The fewest rounds or runs that would decide, if the change and the noise stayed
    as observed. ``level`` is the significance level a regression must reach (its Holm
    level); ``threshold`` the tolerance on the worse-side log scale."""
    if change.se == 0.0:
        return Settle()
    design, noise = change.design, change.noise

    def decides(candidate: Design) -> bool:
        return _decided(worse, noise, candidate, threshold, alpha, level)

    k = _first(lambda n: decides(Design(design.baseline_runs, n)), design.current + 1, MAX_SUGGESTED_ROUNDS)
    if k is not None:
        return Settle(current_rounds=k)
    if design.runs == 1:
        n = _first(lambda n: decides(Design((n,), n)), max(design.n_baseline, design.current) + 1,
                   MAX_SUGGESTED_ROUNDS)
        if n is not None or noise.assumed_drift == 0.0:
            return Settle(both_rounds=n)
    # More rounds cannot shrink an assumed drift: more baseline runs would measure it (as assumed).
    per_run = round(1 / design.inverse_rounds)

    def runs_to_decide(between: float) -> int | None:
        runs_noise = noise if design.runs > 1 else Noise(noise.within, between)
        return _first(lambda m: _decided(worse, runs_noise, Design((per_run,) * m, design.current), threshold,
                                         alpha, level), max(design.runs + 1, 2), MAX_SUGGESTED_ROUNDS)

    m = runs_to_decide(noise.assumed_drift**2 + noise.within / per_run)
    if m is not None or design.runs > 1:
        return Settle(baseline_runs=m)
    # At the assumed drift nothing decides; measured, the drift may prove smaller: the runs that
    # would decide if their means varied only by round noise (the least a measurement can find).
    return Settle(baseline_runs=runs_to_decide(noise.within / per_run), measure_drift=True)
